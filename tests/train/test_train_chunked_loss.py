"""The chunked LM head + loss (train/chunked_loss.py) against torch's own cross-entropy over the
full logits: loss and both gradients, ignored labels, uneven chunks, bf16 autocast, no_grad."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from train.chunked_loss import chunked_lm_loss_sum
from train.model import build_model, model_config


def reference(hidden, weight, labels):
    logits = (hidden @ weight.t()).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum")


def loss_and_grads(loss_fn, hidden, weight, labels, upstream=0.37):
    hidden = hidden.detach().requires_grad_()
    weight = weight.detach().requires_grad_()
    loss = loss_fn(hidden, weight, labels)
    (loss * upstream).backward()  # the loop scales the summed loss before backward
    return loss.detach(), hidden.grad, weight.grad


@pytest.mark.parametrize("chunk", [1, 37, 64, 1000])  # one row, uneven, even, larger than all rows
def test_loss_and_gradients_equal_the_full_logits_path(chunk):
    torch.manual_seed(0)
    hidden, weight = torch.randn(4, 64, 32), torch.randn(1000, 32)  # (B, T, d), (V, d)
    labels = torch.randint(0, 1000, (4, 64))
    labels[0, :9] = -100  # ignored positions add neither loss nor gradient
    labels[3] = -100
    expected = loss_and_grads(reference, hidden, weight, labels)
    got = loss_and_grads(lambda h, w, y: chunked_lm_loss_sum(h, w, y, chunk_tokens=chunk), hidden, weight, labels)
    torch.testing.assert_close(got[0], expected[0], rtol=1e-6, atol=1e-3)
    torch.testing.assert_close(got[1], expected[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[2], expected[2], rtol=1e-5, atol=1e-6)
    assert got[1][3].abs().max().item() == 0.0  # a fully ignored row gets a zero gradient


def test_bf16_autocast_matches_within_bf16_rounding():
    torch.manual_seed(1)
    hidden, weight = torch.randn(256, 64), torch.randn(2048, 64) * 0.1
    labels = torch.randint(0, 2048, (256,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = loss_and_grads(lambda h, w, y: F.cross_entropy(F.linear(h, w).float(), y, reduction="sum"),
                                  hidden, weight, labels)
        got = loss_and_grads(lambda h, w, y: chunked_lm_loss_sum(h, w, y, chunk_tokens=100),
                             hidden, weight, labels)
    assert got[1].dtype == torch.float32 and got[2].dtype == torch.float32  # grads in the params' dtype
    torch.testing.assert_close(got[0], expected[0], rtol=1e-3, atol=0.0)
    # the plain path rounds the whole grad_W matmul to bf16; chunks are summed in fp32
    torch.testing.assert_close(got[1], expected[1], rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(got[2], expected[2], rtol=2e-2, atol=2e-2)


def test_no_grad_gives_the_loss_only():
    torch.manual_seed(2)
    hidden, weight, labels = torch.randn(50, 16), torch.randn(300, 16), torch.randint(0, 300, (50,))
    with torch.no_grad():
        got = chunked_lm_loss_sum(hidden, weight, labels, chunk_tokens=7)
    torch.testing.assert_close(got, reference(hidden, weight, labels), rtol=1e-6, atol=1e-4)
    with pytest.raises(ValueError, match="at least 1"):
        chunked_lm_loss_sum(hidden, weight, labels, chunk_tokens=0)


@pytest.mark.parametrize("arch", ["gpt", "bert", "t5"])
def test_models_with_a_loss_chunk_train_like_the_plain_head(arch):
    """Every architecture's loss goes through the same head; the tied embedding's gradient gets the
    head's part from the chunked path and the lookup's part from autograd."""
    vocab = 700
    torch.manual_seed(0)
    plain = build_model(model_config("tiny", arch, vocab))
    chunked = build_model(model_config("tiny", arch, vocab, loss_chunk=29))
    chunked.load_state_dict(plain.state_dict())
    ids = torch.randint(0, vocab, (2, 40))
    if arch == "gpt":
        args = (ids, torch.randint(0, vocab, (2, 40)))
    elif arch == "bert":
        args = (ids, torch.randint(0, 40, (2, 6)), torch.randint(0, vocab, (2, 6)))
    else:
        args = (ids, torch.randint(0, vocab, (2, 9)), torch.randint(0, vocab, (2, 9)))
    expected, got = plain(*args), chunked(*args)
    expected.backward()
    got.backward()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-4)
    for (name, p), q in zip(plain.named_parameters(), chunked.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
