"""Training FLOPs per sample and model FLOPs utilisation (MFU).

Matmul FLOPs only, forward + backward = 3 x forward, a multiply-add = 2 FLOPs (so 6 per weight per
token: the "6N" rule), plus attention's score and value matmuls counted over the full T x T square
(PaLM appendix B / nanoGPT's 12 * layers * d * T per token; causal kernels skip half of it, which the
convention ignores). For gpt2-124m at T = 1024 this gives 854.6 MFLOPs per token, nanoGPT's
6N + 12LHQT with N counted without the position table. The LM head is counted for the tokens that go
through it: all for CLM and span, only the chosen positions for MLM. The per-layer parts come from
the model config (train.model_config: GQA and SwiGLU change them for llama); each objective adds
them up for its samples (its `sample_flops`).
"""
from __future__ import annotations

from train.model_config import ModelConfig
from train.objectives import objective_class

# Dense bf16 tensor-core peaks per GPU (no 2:4 sparsity: the datasheets' "with sparsity" figures
# halved). Sources: NVIDIA H100 Tensor Core GPU datasheet (SXM 1,979 / PCIe 1,513 / NVL 1,671
# TFLOPS with sparsity), NVIDIA H200 Tensor Core GPU datasheet (SXM 1,979 / NVL 1,671), NVIDIA
# A100 datasheet (312 dense), NVIDIA HGX B200 / GB200 NVL72 specifications (FP16/BF16 4.5 / 5
# PFLOPS with sparsity per GPU). The NVL (PCIe card) parts run lower clocks than SXM: 835.5, not 989.5.
PEAK_BF16_FLOPS = {
    "H100 NVL": 835.5e12,
    "H100 PCIe": 756e12,
    "H100": 989.5e12,  # SXM
    "H200 NVL": 835.5e12,
    "H200": 989.5e12,  # SXM
    "GH200": 989.5e12,
    "GB200": 2500e12,
    "B200": 2250e12,  # HGX B200 (1,000 W)
    "A100": 312e12,
}
# Most specific names first: "GH200" before "H200", "H100 NVL" before "H100".
_MATCH_ORDER = ("GB200", "GH200", "B200", "H200 NVL", "H200", "H100 NVL", "H100 PCIe", "H100", "A100")


def peak_flops_for(device_name: str | None) -> float | None:
    """Peak dense bf16 FLOP/s for a CUDA device name; None for CPUs and unknown devices."""
    if not device_name:
        return None
    for key in _MATCH_ORDER:
        if all(part in device_name for part in key.split()):
            return PEAK_BF16_FLOPS[key]
    return None


def train_flops_per_sample(config: ModelConfig, objective: str, seq_len: int, *,
                           targets_length: int = 0, num_predictions: int = 0) -> float:
    """FLOPs of one training sample (forward + backward) of a registered objective.

    clm: seq_len tokens; mlm: seq_len tokens, `num_predictions` through the head; span: seq_len
    encoder tokens, `targets_length` decoder tokens.
    """
    return objective_class(objective).sample_flops(config, seq_len, targets_length=targets_length,
                                                   num_predictions=num_predictions)


def mfu(flops_per_second: float, peak_flops: float | None, num_devices: int = 1) -> float | None:
    """Achieved / peak; None when the peak is unknown (CPU)."""
    if not peak_flops:
        return None
    return flops_per_second / (peak_flops * num_devices)
