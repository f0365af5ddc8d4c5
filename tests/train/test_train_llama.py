"""The Llama-style decoder checked against independent computations (each document alone, a
multi-head model with the key/value heads written out, parameter counts by hand), activation
checkpointing, the objective registry's wiring, --deterministic's cuBLAS logic and the MFU peaks."""
from __future__ import annotations

import pytest
import torch

from train.config import TrainConfig, literal_choices
from train.determinism import cublas_workspace_setting
from train.flops import peak_flops_for, train_flops_per_sample
from train.model import build_model, model_config
from train.model_config import arch_for
from train.objectives import OBJECTIVES, REGISTRY

VOCAB = 512


def tiny_llama(**overrides):
    torch.manual_seed(0)
    model = build_model(model_config("llama-tiny", "llama", VOCAB, **overrides)).eval()
    with torch.no_grad():  # norms away from their all-ones init, so every weight matters
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    return model


def test_document_mask_equals_each_document_alone():
    model = tiny_llama()
    doc_a, doc_b = torch.randint(0, VOCAB, (1, 9)), torch.randint(0, VOCAB, (1, 23))
    packed = torch.cat([doc_a, doc_b], dim=1)
    doc_ids = torch.tensor([[0] * 9 + [1] * 23])
    positions = torch.tensor([list(range(9)) + list(range(23))])  # RoPE restarts per document
    with torch.no_grad():
        together = model(packed, doc_ids=doc_ids, position_ids=positions)
        alone = torch.cat([model(doc_a), model(doc_b)], dim=1)
        unmasked = model(packed)
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[:, 9:], alone[:, 9:], atol=1e-3)


def test_grouped_query_attention_equals_multi_head_with_repeated_kv_heads():
    gqa = tiny_llama()  # 4 query heads share 2 key/value heads
    mha = tiny_llama(n_kv_head=4)
    state = gqa.state_dict()
    hd = gqa.config.head_dim
    for key in [k for k in state if k.endswith(("k_proj.weight", "v_proj.weight"))]:
        heads = state[key].view(2, hd, -1)  # (K, hd, d)
        state[key] = heads.repeat_interleave(2, dim=0).reshape(4 * hd, -1)  # query heads 0,1 -> kv 0
    mha.load_state_dict(state)
    ids = torch.randint(0, VOCAB, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(gqa(ids), mha(ids), rtol=1e-5, atol=1e-5)


def test_causal_and_tied_or_untied_heads():
    model = tiny_llama()
    ids = torch.randint(0, VOCAB, (2, 16))
    changed = ids.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % VOCAB
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[:, :10], model(changed)[:, :10])
    assert model.lm_head is not None and model.head_weight is model.lm_head.weight  # llama-tiny: untied
    tied = tiny_llama(tie_embeddings=True)
    assert tied.lm_head is None
    assert tied.num_params() == model.num_params() - VOCAB * 64  # one (V, d) table fewer
    with torch.no_grad():
        labels = torch.randint(0, VOCAB, (2, 16))
        expected = torch.nn.functional.cross_entropy(tied(ids).reshape(-1, VOCAB), labels.reshape(-1),
                                                     reduction="sum")
        torch.testing.assert_close(tied(ids, labels=labels), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("preset,tied", [("llama-150m", False), ("llama-1b", True)])
def test_llama_sizes_and_flops_by_hand(preset, tied):
    config = model_config(preset, "llama", 50304)
    with torch.device("meta"):
        model = build_model(config)
    L, d, ff, kv = config.n_layer, config.d_model, config.d_ff, config.num_kv_heads * config.head_dim
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * ff + 2 * d  # q,o; k,v; gate,up,down; two RMSNorms
    tables = 50304 * d * (1 if tied else 2)
    assert model.num_params() == L * per_layer + tables + d
    assert (preset, round(model.num_params() / 1e6)) in {("llama-150m", 153), ("llama-1b", 1076)}
    # 6 x the weights every token multiplies by (not the embedding lookup, not the norms; the head
    # is a matmul, tied or not) + attention's 12 L d T
    matmul_weights = L * (per_layer - 2 * d) + 50304 * d
    expected = 1024 * (6 * matmul_weights + 12 * L * d * 1024)
    assert train_flops_per_sample(config, "clm", 1024) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("arch,preset", [("gpt", "tiny"), ("llama", "llama-tiny"), ("t5", "tiny")])
def test_activation_checkpointing_changes_memory_not_results(arch, preset):
    torch.manual_seed(0)
    plain = build_model(model_config(preset, arch, VOCAB))
    checkpointed = build_model(model_config(preset, arch, VOCAB, activation_checkpointing=True))
    checkpointed.load_state_dict(plain.state_dict())
    ids, labels = torch.randint(0, VOCAB, (2, 24)), torch.randint(0, VOCAB, (2, 24))
    inputs = (ids, ids[:, :8], labels[:, :8]) if arch == "t5" else (ids, labels)
    losses = []
    for model in (plain, checkpointed):
        loss = model(*inputs)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7, msg=name)


def test_objectives_are_registered_units():
    assert OBJECTIVES == ("clm", "mlm", "span")
    families = {name: cls.model_family for name, cls in REGISTRY.items()}
    assert families == {"clm": "decoder", "mlm": "encoder", "span": "encoder-decoder"}
    assert [arch_for(families[o], "tiny") for o in OBJECTIVES] == ["gpt", "bert", "t5"]
    assert arch_for("decoder", "llama-150m") == "llama"
    with pytest.raises(ValueError, match="llama-tiny has llama-style blocks, built for the decoder family"):
        arch_for("encoder", "llama-tiny")


def test_config_choices_come_from_literal_types():
    choices = literal_choices()
    assert choices["parallel"] == ("ddp", "fsdp") and choices["schedule"] == ("cosine", "wsd")
    assert set(choices) == {"schedule", "device", "dtype", "parallel", "attention"}
    with pytest.raises(ValueError, match="unknown --parallel 'zero3'; choose ddp or fsdp"):
        TrainConfig(run="r", objective="clm", parallel="zero3").validate()
    with pytest.raises(ValueError, match="unknown --objective 'prefix-lm'; choose clm, mlm or span"):
        TrainConfig(run="r", objective="prefix-lm").validate()


def test_deterministic_cublas_setting_is_set_kept_or_refused():
    environ: dict[str, str] = {}
    assert cublas_workspace_setting(environ) == ":4096:8" and environ == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    kept = {"CUBLAS_WORKSPACE_CONFIG": ":16:8"}
    assert cublas_workspace_setting(kept) == ":16:8" and kept == {"CUBLAS_WORKSPACE_CONFIG": ":16:8"}
    with pytest.raises(ValueError, match=r"CUBLAS_WORKSPACE_CONFIG=':0:0' makes cuBLAS non-deterministic; "
                                         r"unset it or `export CUBLAS_WORKSPACE_CONFIG=:4096:8`"):
        cublas_workspace_setting({"CUBLAS_WORKSPACE_CONFIG": ":0:0"})


def test_peak_table_tells_nvl_and_blackwell_parts_apart():
    # datasheet "with sparsity" bf16 figures halved: H100/H200 NVL 1,671 -> 835.5; HGX B200 4,500
    # -> 2,250; GB200 5,000 -> 2,500; SXM H100/H200 1,979 -> 989.5
    assert peak_flops_for("NVIDIA H100 NVL") == peak_flops_for("NVIDIA H200 NVL") == 835.5e12
    assert peak_flops_for("NVIDIA H200") == peak_flops_for("NVIDIA H100 80GB HBM3") == 989.5e12
    assert peak_flops_for("NVIDIA GH200 480GB") == 989.5e12
    assert peak_flops_for("NVIDIA B200") == 2250e12 and peak_flops_for("NVIDIA GB200") == 2500e12
    assert peak_flops_for("NVIDIA H100 PCIe") == 756e12 and peak_flops_for("NVIDIA L4") is None


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")  # eager on purpose
def test_flex_block_mask_matches_the_dense_document_mask():
    dense, flex = tiny_llama(), tiny_llama(attention="flex")
    flex.load_state_dict(dense.state_dict())
    lengths = [10, 130, 60]  # crosses FlexAttention's 128-token blocks
    doc_ids = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None]
    positions = torch.cat([torch.arange(n) for n in lengths])[None]
    ids = torch.randint(0, VOCAB, (1, 200))
    with torch.no_grad():  # FlexAttention has no CPU backward; the forward pins the mask semantics
        torch.testing.assert_close(flex(ids, doc_ids=doc_ids, position_ids=positions),
                                   dense(ids, doc_ids=doc_ids, position_ids=positions), rtol=1e-5, atol=1e-5)
