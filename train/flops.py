"""Training FLOPs per sample and model FLOPs utilisation (MFU).

Matmul FLOPs only, forward + backward = 3 x forward, a multiply-add = 2 FLOPs (so 6 per weight per
token: the "6N" rule), plus attention's score and value matmuls counted over the full T x T square
(PaLM appendix B / nanoGPT's 12 * layers * d * T per token; causal kernels skip half of it, which the
convention ignores). For gpt2-124m at T = 1024 this gives 854.6 MFLOPs per token, nanoGPT's
6N + 12LHQT with N counted without the position table. The LM head is counted for the tokens that go
through it: all for CLM and span, only the chosen positions for MLM.
"""
from __future__ import annotations

from train.model import ModelConfig

# Dense bf16 tensor-core peaks, per device, from the vendors' datasheets (no sparsity).
PEAK_BF16_FLOPS = {
    "H100 PCIe": 756e12,
    "H100": 989.5e12,  # SXM
    "H200": 989.5e12,
    "GH200": 989.5e12,
    "A100": 312e12,
}


def peak_flops_for(device_name: str | None) -> float | None:
    """Peak dense bf16 FLOP/s for a CUDA device name; None for CPUs and unknown devices."""
    if not device_name:
        return None
    if "H100" in device_name and "PCIe" in device_name:
        return PEAK_BF16_FLOPS["H100 PCIe"]
    for key in ("GH200", "H200", "H100", "A100"):
        if key in device_name:
            return PEAK_BF16_FLOPS[key]
    return None


def _layer_flops_per_token(c: ModelConfig) -> float:
    """Training FLOPs of one layer's weight matmuls per token: qkv + out (4 d^2), MLP (2 d d_ff)."""
    return 6.0 * (4 * c.d_model * c.d_model + 2 * c.d_model * c.d_ff)


def _attention_flops_per_token(c: ModelConfig, num_layers: int, context_len: int) -> float:
    """QK^T and AV: 2 matmuls x 2 FLOPs x context x d, forward; x 3 for training."""
    return 12.0 * num_layers * context_len * c.d_model


def train_flops_per_sample(config: ModelConfig, objective: str, seq_len: int, *,
                           targets_length: int = 0, num_predictions: int = 0) -> float:
    """FLOPs of one training sample (forward + backward).

    clm: seq_len tokens; mlm: seq_len tokens, `num_predictions` through the head; span: seq_len
    encoder tokens, `targets_length` decoder tokens.
    """
    c = config
    head = 6.0 * c.vocab_size * c.d_model  # per token through the tied LM head
    if objective == "clm":
        per_token = c.n_layer * _layer_flops_per_token(c) + _attention_flops_per_token(c, c.n_layer, seq_len)
        return seq_len * (per_token + head)
    if objective == "mlm":
        per_token = c.n_layer * _layer_flops_per_token(c) + _attention_flops_per_token(c, c.n_layer, seq_len)
        head_transform = 6.0 * c.d_model * c.d_model
        return seq_len * per_token + num_predictions * (head + head_transform)
    if objective == "span":
        enc = seq_len * (
            c.n_layer * _layer_flops_per_token(c) + _attention_flops_per_token(c, c.n_layer, seq_len)
        )
        dec_layers = c.n_decoder_layer
        cross_q_out = 6.0 * 2 * c.d_model * c.d_model  # per decoder token
        cross_kv = 6.0 * 2 * c.d_model * c.d_model  # per encoder token, per decoder layer
        dec = targets_length * (
            dec_layers * (_layer_flops_per_token(c) + cross_q_out)
            + _attention_flops_per_token(c, dec_layers, targets_length)
            + _attention_flops_per_token(c, dec_layers, seq_len)
            + head
        )
        return enc + dec + seq_len * dec_layers * cross_kv
    raise ValueError(f"unknown objective {objective!r}")


def mfu(flops_per_second: float, peak_flops: float | None, num_devices: int = 1) -> float | None:
    """Achieved / peak; None when the peak is unknown (CPU)."""
    if not peak_flops:
        return None
    return flops_per_second / (peak_flops * num_devices)
