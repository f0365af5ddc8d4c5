"""The corpus on the known scale, and the planner run on its token count."""
from __future__ import annotations

from pipelines.report.known_models import KNOWN_MODELS, SCALE_MODELS
from pipelines.report.planner import PlanRequest, accelerator_table, known_table, plan

# The report's planner defaults (the page's form changes them; `corpusmill plan` takes flags).
DEFAULT_GPU = "h100"
DEFAULT_MFU = 0.4
DEFAULT_PRICE_PER_HOUR = 2.0  # an assumption, shown as such: a typical rented H100 hour, late 2024


def corpus_tokens(funnel: dict | None, mixture: dict | None) -> tuple[int, str] | None:
    """(tokens, what they count): the train split when shards exist, else what was tokenized, else
    the estimate for the last document stage."""
    if mixture is not None:
        return int(mixture["splits"].get("train", {}).get("num_tokens", 0)), "train split of the shards"
    if funnel is None:
        return None
    for step, label in (("tokenized", "tokenized documents"), ("deduplicated", "estimated from characters"),
                        ("filtered", "estimated from characters"), ("extracted", "estimated from characters")):
        total = next((t for t in funnel["totals"] if t["step"] == step), None)
        if total is not None and total["num_tokens"] is not None:
            return int(total["num_tokens"]), f"{label} ({step})"
    return None


def scale_section(tokens: tuple[int, str] | None, funnel: dict | None = None) -> dict | None:
    """`tokenized_tokens`: every kept document once, before the mixture samples from them."""
    if tokens is None:
        return None
    count, basis = tokens
    tokenized = next((t["num_tokens"] for t in (funnel or {}).get("totals", []) if t["step"] == "tokenized"), None)
    references = [{"name": m.name, "tokens": m.scale_tokens, "note": m.scale_note, "source": m.source,
                   "ratio": m.scale_tokens / count if count else None}
                  for m in KNOWN_MODELS if m.name in SCALE_MODELS]
    return {"corpus_tokens": count, "basis": basis, "tokenized_tokens": tokenized, "references": references}


def planner_section(tokens: tuple[int, str] | None) -> dict | None:
    if tokens is None or tokens[0] <= 0:
        return None
    request = PlanRequest(tokens=float(tokens[0]), gpu=DEFAULT_GPU, mfu=DEFAULT_MFU,
                          price_per_hour=DEFAULT_PRICE_PER_HOUR)
    result = plan(request)
    result["price_is_assumed"] = True
    result["accelerators"] = accelerator_table()
    result["known_models"] = known_table()
    return result
