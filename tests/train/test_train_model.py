"""Model behaviour checked against independent computations: document masking equals running each
document alone, causality, the MLM gather, FLOPs against nanoGPT's formula, the LR schedules."""
from __future__ import annotations

import math

import pytest
import torch

from train.config import TrainConfig
from train.flops import peak_flops_for, train_flops_per_sample
from train.model import build_model, model_config
from train.optim import lr_at

VOCAB = 512


def tiny(arch: str):
    torch.manual_seed(0)
    return build_model(model_config("tiny", arch, VOCAB)).eval()


@pytest.mark.parametrize("arch", ["gpt", "bert"])
def test_document_mask_equals_each_document_alone(arch):
    model = tiny(arch)
    doc_a = torch.randint(0, VOCAB, (1, 11))
    doc_b = torch.randint(0, VOCAB, (1, 21))
    packed = torch.cat([doc_a, doc_b], dim=1)  # (1, 32)
    doc_ids = torch.tensor([[0] * 11 + [1] * 21])
    position_ids = torch.tensor([list(range(11)) + list(range(21))])
    with torch.no_grad():
        if arch == "gpt":
            run = lambda ids, **kw: model(ids, **kw)  # noqa: E731 - logits (1, T, V)
        else:
            run = lambda ids, **kw: model.encode(ids, **kw)  # noqa: E731 - hidden (1, T, d)
        together = run(packed, doc_ids=doc_ids, position_ids=position_ids)
        alone = torch.cat([run(doc_a), run(doc_b)], dim=1)
        unmasked = run(packed)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[:, 11:], alone[:, 11:], atol=1e-3)  # the switch matters


def packed_documents(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """doc_ids (1, sum) for documents of these lengths, and positions restarting per document."""
    doc_ids = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None]
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    return doc_ids, positions


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")  # eager on purpose
@pytest.mark.parametrize("arch", ["gpt", "bert"])
def test_flex_block_mask_matches_the_dense_document_mask(arch):
    # 200 tokens: not a multiple of FlexAttention's 128-token blocks, and documents that cross them
    dense = tiny(arch)
    torch.manual_seed(0)
    flex = build_model(model_config("tiny", arch, VOCAB, attention="flex")).eval()
    flex.load_state_dict(dense.state_dict())
    rows = [packed_documents(lengths) for lengths in ([10, 130, 60], [200], [199, 1])]
    doc_ids, positions = torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])
    ids = torch.randint(0, VOCAB, (3, 200))
    with torch.no_grad():  # FlexAttention has no CPU backward; the forward pins the mask semantics
        if arch == "gpt":
            expected = dense(ids, doc_ids=doc_ids, position_ids=positions)
            got = flex(ids, doc_ids=doc_ids, position_ids=positions)
        else:
            expected = dense.encode(ids, doc_ids=doc_ids, position_ids=positions)
            got = flex.encode(ids, doc_ids=doc_ids, position_ids=positions)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_compiled_flex_matches_the_dense_document_mask():
    """What GPU runs use: the BlockMask built inside the compiled forward, one fused flex kernel."""
    dense = tiny("gpt")
    torch.manual_seed(0)
    flex = build_model(model_config("tiny", "gpt", VOCAB, attention="flex")).eval()
    flex.load_state_dict(dense.state_dict())
    doc_ids, positions = packed_documents([5, 100, 45, 50])
    ids, labels = torch.randint(0, VOCAB, (1, 200)), torch.randint(0, VOCAB, (1, 200))
    with torch.no_grad():
        expected = dense(ids, labels=labels, doc_ids=doc_ids, position_ids=positions)
        got = torch.compile(flex)(ids, labels=labels, doc_ids=doc_ids, position_ids=positions)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


def test_attention_choice_is_checked():
    assert TrainConfig(run="r", objective="clm").attention == "sdpa"  # flex is opt-in until measured
    with pytest.raises(ValueError, match="no attention dropout"):
        model_config("tiny", "gpt", VOCAB, attention="flex", dropout=0.1)
    with pytest.raises(ValueError, match="choose sdpa or flex"):
        TrainConfig(run="r", objective="clm", attention="xformers").validate()


def test_decoder_is_causal():
    model = tiny("gpt")
    ids = torch.randint(0, VOCAB, (2, 16))
    changed = ids.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % VOCAB
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[:, :10], model(changed)[:, :10])


def test_mlm_loss_uses_only_the_chosen_positions():
    model = tiny("bert")
    ids = torch.randint(0, VOCAB, (2, 16))
    positions = torch.tensor([[1, 5, 0], [2, 3, 9]])
    labels = torch.tensor([[7, 8, -100], [1, 2, 3]])
    with torch.no_grad():
        loss_sum = model(ids, positions, labels)
        hidden = model.encode(ids)  # independent path: head over every position, then pick
        head = model.head_ln(torch.nn.functional.gelu(model.head_dense(hidden), approximate="tanh"))
        logits = head @ model.tok_emb.weight.T  # (2, 16, V)
        picked = torch.stack([logits[0, 1], logits[0, 5], logits[1, 2], logits[1, 3], logits[1, 9]])
        expected = torch.nn.functional.cross_entropy(picked, torch.tensor([7, 8, 1, 2, 3]), reduction="sum")
    torch.testing.assert_close(loss_sum, expected, rtol=1e-5, atol=1e-5)


def test_encoder_decoder_shapes_and_loss():
    model = tiny("t5")
    inputs, decoder_inputs = torch.randint(0, VOCAB, (3, 20)), torch.randint(0, VOCAB, (3, 7))
    with torch.no_grad():
        logits = model(inputs, decoder_inputs)
        labels = torch.randint(0, VOCAB, (3, 7))
        loss_sum = model(inputs, decoder_inputs, labels)
    assert logits.shape == (3, 7, VOCAB)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1), reduction="sum")
    torch.testing.assert_close(loss_sum, expected, rtol=1e-5, atol=1e-4)


def test_gpt2_124m_size_and_flops_match_nanogpt():
    config = model_config("gpt2-124m", "gpt", 50304)
    with torch.device("meta"):
        model = build_model(config)
    # nanoGPT counts 124.0M without biases... here: 12 layers x (12 d^2 + 2 LN d) + V d + final LN
    d, layers = 768, 12
    assert model.num_params() == layers * (12 * d * d + 2 * d) + 50304 * d + d
    # nanoGPT's estimate_mfu: 6N + 12 * L * d * T per token (the LayerNorm weights are < 0.02%)
    nanogpt = (6 * model.num_params() + 12 * layers * d * 1024) * 1024
    assert train_flops_per_sample(config, "clm", 1024) == pytest.approx(nanogpt, rel=2e-4)
    assert train_flops_per_sample(config, "clm", 1024) / 1024 == pytest.approx(854.6e6, rel=1e-3)
    assert peak_flops_for("NVIDIA H100 80GB HBM3") == 989.5e12
    assert peak_flops_for("NVIDIA H200") == 989.5e12 and peak_flops_for("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops_for("NVIDIA H100 PCIe") == 756e12 and peak_flops_for(None) is None


def test_learning_rate_schedules():
    cosine = TrainConfig(run="", objective="clm", steps=100, lr=1e-3, warmup_steps=10)
    assert lr_at(0, cosine) == pytest.approx(1e-4) and lr_at(9, cosine) == pytest.approx(1e-3)
    assert lr_at(99, cosine) == pytest.approx(1e-4)  # min_lr_ratio 0.1 at the last step
    midpoint = 10 + (99 - 10) / 2
    assert lr_at(int(midpoint), cosine) == pytest.approx(
        1e-4 + 0.5 * (1 + math.cos(math.pi * (int(midpoint) - 10) / 89)) * 9e-4)
    wsd = TrainConfig(run="", objective="clm", steps=100, lr=1e-3, warmup_steps=10, schedule="wsd")
    assert lr_at(10, wsd) == lr_at(79, wsd) == pytest.approx(1e-3)  # stable until the last 20%
    assert lr_at(80, wsd) == pytest.approx(1e-3 - 0.05 * 9e-4) and lr_at(99, wsd) == pytest.approx(1e-4)
