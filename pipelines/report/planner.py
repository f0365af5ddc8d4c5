"""The compute planner: model size, training FLOPs, GPU-hours and dollars for a token count.

Rules, each labelled where it is shown:
- Chinchilla (Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models"): a
  compute-optimal model trains on about 20 tokens per parameter, D ~= 20 N.
- Training FLOPs ~= 6 N D (Kaplan et al. 2020, sec. 2.1: 2 N per token forward, twice that backward;
  attention's context-dependent term left out).
- GPU-hours = FLOPs / (peak dense FLOP/s x MFU) / 3600, peaks from tokenization.accelerators.
- Converse: a budget (dollars or GPU-hours) buys C FLOPs; with D = 20 N and C = 6 N D,
  N = sqrt(C / 120) and D = 20 N.
- Kaplan et al. 2020, eq. 1.5: L(N, D) = [(N_c / N)^(a_N / a_D) + D_c / D]^a_D, a_N = 0.076,
  a_D = 0.095, N_c = 8.8e13, D_c = 5.4e13; N counts non-embedding parameters, L is nats per token
  on their WebText2 test set with GPT-2's tokenizer (not comparable across tokenizers or data).
- Hoffmann et al. 2022, eq. 10 (approach 3 fit): L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28,
  on MassiveText; shown beside Kaplan's for contrast, also labelled.
- What-if epochs: a model of N parameters trained Chinchilla-optimally needs 20 N tokens, i.e.
  20 N / (corpus tokens) passes over this corpus. Muennighoff et al. 2023 ("Scaling
  Data-Constrained Language Models") found up to ~4 epochs of repeated data nearly as good as
  unique data, with quickly diminishing value beyond.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from pipelines.report.known_models import KNOWN_MODELS
from tokenization.accelerators import ACCELERATORS, accelerator

TOKENS_PER_PARAM = 20  # Chinchilla's rule of thumb
FLOPS_PER_PARAM_TOKEN = 6  # forward 2 + backward 4
KAPLAN = {"alpha_n": 0.076, "alpha_d": 0.095, "n_c": 8.8e13, "d_c": 5.4e13}
HOFFMANN = {"e": 1.69, "a": 406.4, "b": 410.7, "alpha": 0.34, "beta": 0.28}
MANY_EPOCHS = 4.0  # Muennighoff et al. 2023: beyond ~4 epochs repeated tokens lose most value
WHAT_IF_PARAMS = (125e6, 350e6, 1.3e9, 7e9, 70e9)

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


def parse_count(text: str | float | int) -> float:
    """'1.4T', '300B', '175e9', '8_000_000' -> a float (k, M, B/G, T, P suffixes)."""
    if isinstance(text, (int, float)):
        return float(text)
    cleaned = text.strip().replace("_", "").replace(",", "")
    match = re.fullmatch(r"([0-9.]+(?:e[+-]?[0-9]+)?)\s*([kmbgtp]?)", cleaned, flags=re.I)
    if not match:
        raise ValueError(f"cannot read {text!r} as a count; write e.g. 1.4T, 300B, 175e9 or 8000000")
    return float(match.group(1)) * _SUFFIXES.get(match.group(2).lower(), 1.0)


def format_count(value: float) -> str:
    """Compact: 221,059 -> '221k', 3.125e6 -> '3.1M', 1.4e12 -> '1.4T'."""
    if value is None or not math.isfinite(value):
        return "n/a"
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            scaled = value / scale
            return f"{scaled:.1f}{suffix}" if abs(scaled) < 100 else f"{scaled:,.0f}{suffix}"
    if value != 0 and abs(value) < 0.01:
        return format_flops(value)
    return f"{value:.3g}"


def format_flops(value: float) -> str:
    """Scientific with three digits: 3.15e+23."""
    return f"{value:.2e}"


def format_usd(value: float | None) -> str:
    """Dollars as '$4.7M', '$950', '$12.3k'."""
    return "n/a" if value is None else "$" + format_count(value)


def chinchilla_params(tokens: float) -> float:
    return tokens / TOKENS_PER_PARAM


def chinchilla_tokens(params: float) -> float:
    return params * TOKENS_PER_PARAM


def training_flops(params: float, tokens: float) -> float:
    return FLOPS_PER_PARAM_TOKEN * params * tokens


def gpu_hours_for(flops: float, gpu: str, mfu: float) -> float:
    return flops / (accelerator(gpu).peak_flops * mfu) / 3600.0


def flops_for_gpu_hours(hours: float, gpu: str, mfu: float) -> float:
    return hours * 3600.0 * accelerator(gpu).peak_flops * mfu


def compute_optimal(flops: float) -> tuple[float, float]:
    """(N, D) with D = 20 N and 6 N D = flops."""
    params = math.sqrt(flops / (FLOPS_PER_PARAM_TOKEN * TOKENS_PER_PARAM))
    return params, chinchilla_tokens(params)


def kaplan_loss(params: float, tokens: float) -> float:
    k = KAPLAN
    return ((k["n_c"] / params) ** (k["alpha_n"] / k["alpha_d"]) + k["d_c"] / tokens) ** k["alpha_d"]


def hoffmann_loss(params: float, tokens: float) -> float:
    h = HOFFMANN
    return h["e"] + h["a"] / params ** h["alpha"] + h["b"] / tokens ** h["beta"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Costing:
    """One model size on one token count, on one GPU type."""

    params: float
    tokens: float
    flops: float
    gpu_hours: float
    cost_usd: float | None
    epochs: float | None  # tokens / corpus tokens, when a corpus is known
    kaplan_loss: float
    hoffmann_loss: float


def cost(params: float, tokens: float, *, gpu: str, mfu: float, price_per_hour: float | None,
         corpus_tokens: float | None = None) -> Costing:
    flops = training_flops(params, tokens)
    hours = gpu_hours_for(flops, gpu, mfu)
    return Costing(params=params, tokens=tokens, flops=flops, gpu_hours=hours,
                   cost_usd=None if price_per_hour is None else hours * price_per_hour,
                   epochs=tokens / corpus_tokens if corpus_tokens else None,
                   kaplan_loss=kaplan_loss(params, tokens), hoffmann_loss=hoffmann_loss(params, tokens))


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanRequest:
    """What `corpusmill plan` (or the report) asks."""

    tokens: float | None = None  # D: the corpus' tokens
    gpu: str = "h100"  # a key of tokenization.accelerators.ACCELERATORS
    mfu: float = 0.4  # model FLOPs utilisation, 0 < mfu <= 1
    price_per_hour: float | None = None  # dollars per GPU-hour
    model_params: float | None = None  # cost this N on the tokens instead of Chinchilla's N
    budget_usd: float | None = None  # converse: what this many dollars buys
    gpu_hours: float | None = None  # converse: what this many GPU-hours buy

    def check(self) -> None:
        if not 0 < self.mfu <= 1:
            raise ValueError(f"--mfu {self.mfu}: give the fraction of peak, between 0 and 1 (e.g. 0.4)")
        accelerator(self.gpu)
        if self.budget_usd is not None and not self.price_per_hour:
            raise ValueError("--budget-usd needs --price-per-hour (dollars per GPU-hour) to turn dollars into hours")
        if self.tokens is None and self.budget_usd is None and self.gpu_hours is None:
            raise ValueError("give --tokens N (or --run RUN), or --budget-usd / --gpu-hours for the converse")
        for name in ("tokens", "price_per_hour", "model_params", "budget_usd", "gpu_hours"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value}")


def plan(request: PlanRequest) -> dict:
    """Everything the planner shows, as JSON-able numbers (the report and the CLI render it)."""
    request.check()
    gpu = accelerator(request.gpu)
    args = dict(gpu=request.gpu, mfu=request.mfu, price_per_hour=request.price_per_hour)
    out: dict = {
        "request": asdict(request),
        "gpu": {"key": request.gpu.lower(), "name": gpu.name, "peak_flops": gpu.peak_flops,
                "dtype": gpu.dtype, "source": gpu.source},
        "sustained_flops_per_gpu": gpu.peak_flops * request.mfu,
        "rules": {
            "chinchilla": "compute-optimal D ~= 20 N (Hoffmann et al. 2022, Training Compute-Optimal "
                          "Large Language Models)",
            "flops": "training FLOPs ~= 6 N D (Kaplan et al. 2020, sec. 2.1)",
            "kaplan": "Kaplan et al. 2020, eq. 1.5: L(N, D) = [(8.8e13/N)^(0.076/0.095) + 5.4e13/D]^0.095, "
                      "N non-embedding parameters, nats/token on WebText2 (GPT-2 tokenizer)",
            "hoffmann": "Hoffmann et al. 2022, eq. 10: L(N, D) = 1.69 + 406.4/N^0.34 + 410.7/D^0.28 (MassiveText)",
            "epochs": "Muennighoff et al. 2023: up to ~4 epochs of repeated data are nearly as good as unique "
                      "data; value drops quickly beyond",
        },
        "chinchilla": None, "given_model": None, "converse": None, "what_if": [],
    }
    tokens = request.tokens
    if tokens is not None:
        optimal_params = chinchilla_params(tokens)
        out["chinchilla"] = asdict(cost(optimal_params, tokens, corpus_tokens=tokens, **args))
        if request.model_params is not None:
            out["given_model"] = asdict(cost(request.model_params, tokens, corpus_tokens=tokens, **args))
        sizes = sorted({*WHAT_IF_PARAMS, *([request.model_params] if request.model_params else [])})
        for params in sizes:
            row = asdict(cost(params, chinchilla_tokens(params), corpus_tokens=tokens, **args))
            row["many_epochs"] = row["epochs"] > MANY_EPOCHS
            out["what_if"].append(row)
    hours = request.gpu_hours
    if request.budget_usd is not None:
        hours = request.budget_usd / request.price_per_hour
    if hours is not None:
        flops = flops_for_gpu_hours(hours, request.gpu, request.mfu)
        params, optimal_tokens = compute_optimal(flops)
        out["converse"] = {
            "budget_usd": request.budget_usd if request.budget_usd is not None else (
                hours * request.price_per_hour if request.price_per_hour else None),
            "gpu_hours": hours, "flops": flops, "params": params, "tokens": optimal_tokens,
            "epochs": optimal_tokens / tokens if tokens else None,
            "kaplan_loss": kaplan_loss(params, optimal_tokens), "hoffmann_loss": hoffmann_loss(params, optimal_tokens),
        }
    return out


def known_table() -> list[dict]:
    """BERT, GPT-2, GPT-3, Chinchilla, PaLM, LLaMA: N, D, 6 N D and their sources."""
    rows = []
    for model in KNOWN_MODELS:
        rows.append({
            "name": model.name, "params": model.params, "train_tokens": model.train_tokens,
            "flops": training_flops(model.params, model.train_tokens) if model.train_tokens else None,
            "tokens_per_param": model.train_tokens / model.params if model.train_tokens else None,
            "scale_tokens": model.scale_tokens, "scale_note": model.scale_note, "source": model.source,
        })
    return rows


def accelerator_table() -> list[dict]:
    return [{"key": key, "name": a.name, "peak_flops": a.peak_flops, "dtype": a.dtype, "source": a.source}
            for key, a in ACCELERATORS.items()]
