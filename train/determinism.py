"""--deterministic: bitwise-repeatable runs. On CPU torch.use_deterministic_algorithms is enough;
on CUDA cuBLAS also needs a fixed workspace (CUBLAS_WORKSPACE_CONFIG), read when its first handle
is created, so it is set here before the model runs anything on the GPU."""
from __future__ import annotations

import os
from collections.abc import MutableMapping

import torch

CUBLAS_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"
# The two settings NVIDIA documents as deterministic (cuBLAS "Results reproducibility").
DETERMINISTIC_CUBLAS_SETTINGS = (":4096:8", ":16:8")


def cublas_workspace_setting(environ: MutableMapping[str, str]) -> str:
    """Set CUBLAS_WORKSPACE_CONFIG to :4096:8 when absent; keep a deterministic value; refuse any
    other value (cuBLAS would silently be non-deterministic) naming the fix. Returns the value."""
    value = environ.get(CUBLAS_VARIABLE)
    if value is None or value == "":
        environ[CUBLAS_VARIABLE] = DETERMINISTIC_CUBLAS_SETTINGS[0]
        return DETERMINISTIC_CUBLAS_SETTINGS[0]
    if value not in DETERMINISTIC_CUBLAS_SETTINGS:
        raise ValueError(
            f"--deterministic on CUDA: {CUBLAS_VARIABLE}={value!r} makes cuBLAS non-deterministic; "
            f"unset it or `export {CUBLAS_VARIABLE}=:4096:8` (or :16:8), or drop --deterministic"
        )
    return value


def configure_determinism(device: torch.device, environ: MutableMapping[str, str] = os.environ) -> None:
    if device.type == "cuda":
        cublas_workspace_setting(environ)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True)
