"""LM head + cross-entropy over chunks of tokens, never holding the whole (tokens, vocab) logits.

The plain head materialises the logits in bf16, again in fp32 for the loss, and keeps them for the
backward: for 32k tokens and a 128k vocabulary that is 8 + 17 GB. Here the forward walks the tokens
in chunks; for each chunk it computes the logits, the loss and, when gradients are wanted, the
loss's gradient with respect to the hidden states and the head weight right away (the loss is the
last operation, so d loss / d logits = softmax - one_hot is known in the forward). Only the two
gradients are kept (tokens x d and vocab x d); the backward scales them by the incoming gradient.
The same matmuls run as in the plain path (one forward, two backward per chunk), so the FLOPs are
unchanged. Liger-Kernel's fused linear cross-entropy uses the same idea.
"""
from __future__ import annotations

import torch


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_tokens: int, ignore_index: int):
        # hidden: (N, d); weight: (V, d); labels: (N,) -> summed loss over labels != ignore_index
        wants_grad = hidden.requires_grad or weight.requires_grad
        device_type = hidden.device.type
        # the matmuls run in the autocast dtype (bf16) when autocast is on, as the plain head's would
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        w = weight.to(dtype)  # (V, d)
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.zeros_like(hidden) if wants_grad else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if wants_grad else None
        for start in range(0, hidden.shape[0], chunk_tokens):
            h = hidden[start:start + chunk_tokens].to(dtype)  # (n, d)
            y = labels[start:start + chunk_tokens]  # (n,)
            valid = y != ignore_index  # (n,)
            safe_y = torch.where(valid, y, 0)
            logits = (h @ w.t()).float()  # (n, V); the softmax in fp32
            log_norm = torch.logsumexp(logits, dim=-1)  # (n,)
            target = logits.gather(1, safe_y[:, None]).squeeze(1)  # (n,)
            loss += torch.where(valid, log_norm - target, 0.0).sum()
            if wants_grad:
                grad_logits = logits.sub_(log_norm[:, None]).exp_()  # softmax, in place: (n, V)
                grad_logits.scatter_add_(1, safe_y[:, None], torch.full_like(target[:, None], -1.0))
                grad_logits = grad_logits.mul_(valid[:, None]).to(dtype)
                grad_hidden[start:start + chunk_tokens] = grad_logits @ w  # (n, d)
                grad_weight += (grad_logits.t() @ h).float()  # (V, d)
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        if grad_hidden is None:
            raise RuntimeError("chunked_lm_loss_sum was called without gradients enabled; "
                               "call it under torch.enable_grad() to backpropagate")
        return (grad_hidden * grad_loss.to(grad_hidden.dtype),
                (grad_weight * grad_loss).to(ctx.weight_dtype), None, None, None)


def chunked_lm_loss_sum(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, *,
                        chunk_tokens: int, ignore_index: int = -100) -> torch.Tensor:
    """Sum of the token cross-entropies of `hidden @ weight.T` against `labels`, computed
    `chunk_tokens` rows at a time. hidden: (..., d); labels: (...) -> fp32 scalar."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, not {chunk_tokens}")
    flat_hidden = hidden.reshape(-1, hidden.shape[-1])
    return _ChunkedLinearCrossEntropy.apply(flat_hidden, weight, labels.reshape(-1), chunk_tokens, ignore_index)
