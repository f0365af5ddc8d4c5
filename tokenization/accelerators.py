"""Peak dense tensor-core FLOP/s per accelerator, with where each number comes from.

It lives in tokenization/ because that is the one package both `train` (which may import only
`tokenization`) and `pipelines` (the planner, pipelines/report/planner.py) can import, so one table
can serve both. train/flops.py still keeps its own `PEAK_BF16_FLOPS` (A100, H100, H100 PCIe, H200,
GH200: the same values); it can switch to `peak_dense_flops` below.

Dense means without 2:4 structured sparsity: vendors' headline figures are usually the sparse ones,
twice these. MFU (model FLOPs utilisation) is always measured against the dense peak.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Accelerator:
    """One accelerator's peak for training arithmetic."""

    name: str  # as printed, e.g. "H100 SXM"
    peak_flops: float  # dense tensor-core FLOP/s at `dtype`, per device
    dtype: str  # "bf16"; the V100 has no bf16, so its fp16 peak is given
    source: str  # the datasheet the number is read from


ACCELERATORS: dict[str, Accelerator] = {
    "v100": Accelerator(
        name="V100 SXM2", peak_flops=125e12, dtype="fp16",
        source="NVIDIA Tesla V100 datasheet: 125 TFLOPS tensor performance (fp16; the V100 has no bf16)"),
    "a100": Accelerator(
        name="A100 SXM", peak_flops=312e12, dtype="bf16",
        source="NVIDIA A100 Tensor Core GPU datasheet: BF16 Tensor Core 312 TFLOPS (624 with sparsity)"),
    "h100": Accelerator(
        name="H100 SXM", peak_flops=989.5e12, dtype="bf16",
        source="NVIDIA H100 Tensor Core GPU datasheet, SXM: BF16 Tensor Core 1,979 TFLOPS with "
               "sparsity, i.e. 989.5 dense"),
    "h100-pcie": Accelerator(
        name="H100 PCIe", peak_flops=756e12, dtype="bf16",
        source="NVIDIA H100 Tensor Core GPU datasheet, PCIe: BF16 Tensor Core 1,513 TFLOPS with "
               "sparsity, i.e. 756 dense"),
    "h200": Accelerator(
        name="H200 SXM", peak_flops=989.5e12, dtype="bf16",
        source="NVIDIA H200 Tensor Core GPU datasheet, SXM: BF16 Tensor Core 1,979 TFLOPS with "
               "sparsity, i.e. 989.5 dense (the H100's GH100 die with more, faster memory)"),
    "gh200": Accelerator(
        name="GH200", peak_flops=989.5e12, dtype="bf16",
        source="NVIDIA GH200 Grace Hopper Superchip datasheet: BF16 1,979 TFLOPS with sparsity, "
               "i.e. 989.5 dense"),
    "b200": Accelerator(
        name="B200 (HGX)", peak_flops=2.25e15, dtype="bf16",
        source="NVIDIA HGX B200 datasheet: FP16/BF16 Tensor Core 4.5 PFLOPS with sparsity per GPU, "
               "i.e. 2.25 dense"),
}


def accelerator(name: str) -> Accelerator:
    """Look up a GPU by its short name (case-insensitive: a100, h100, h100-pcie, h200, b200, ...)."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = {"h100-sxm": "h100", "h200-sxm": "h200", "a100-sxm": "a100", "v100-sxm2": "v100"}.get(key, key)
    if key not in ACCELERATORS:
        raise ValueError(f"unknown GPU {name!r}; choose one of {', '.join(ACCELERATORS)}")
    return ACCELERATORS[key]


def peak_dense_flops(device_name: str | None) -> float | None:
    """Peak dense FLOP/s for a CUDA device name such as 'NVIDIA H100 80GB HBM3'; None when unknown."""
    if not device_name:
        return None
    upper = device_name.upper()
    if "H100" in upper and "PCIE" in upper:
        return ACCELERATORS["h100-pcie"].peak_flops
    for key in ("gh200", "h200", "h100", "b200", "a100", "v100"):
        if key.upper() in upper:
            return ACCELERATORS[key].peak_flops
    return None
