"""Token-budget mixture: plan how many tokens each source contributes (no Ray here).

Plan (`plan_mixture`). Weights are fractions of *tokens* (normalised to sum 1), or `natural: true`
(each source in proportion to what it has). `max_epochs` caps how often a source may be seen
(1.0 = no upsampling, 2.5 = every document twice and half of them a third time; < 1 is never
forced, it only bounds). With no `total_tokens`, the budget is the largest one that meets every
target weight under the caps, so the targets are met exactly and the sources at their cap are
listed in `limited_by`. With a fixed `total_tokens` that the caps cannot serve, the plan is the
*nearest achievable* mixture: the one with the least KL divergence from the target weights, which
is water-filling -- capped sources take their cap, the others share the rest in proportion to
their targets (repeat while some source overflows its cap). If even all caps together fall short
of the total, every source sits at its cap and the total is smaller. Each case adds a sentence to
`warnings` naming the source, its cap and the weight it gets.

The shards are assembled by pipelines.shard_assembly.build_shards.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from corpora import Strict
from pydantic import Field, model_validator

TOKENIZER_NAME = "tokenizer.json"


class MixConfig(Strict):
    """The recipe's `mixture:` section."""


    weights: dict[str, float] | None = None  # fractions of tokens per source (normalised)
    natural: bool = False  # instead of weights: each source in proportion to its tokens
    total_tokens: int | None = Field(default=None, gt=0)  # None: the largest feasible budget
    max_epochs: dict[str, float] = Field(default_factory=dict)  # per-source cap on epochs
    default_max_epochs: float = Field(default=1.0, gt=0)  # cap for sources not in max_epochs
    val_fraction: float = Field(default=0.005, ge=0, lt=1)  # of each source's documents
    min_val_docs: int = Field(default=1, ge=0)  # when a source has >= 2 documents
    shard_tokens: int = Field(default=100_000_000, gt=0)
    seed: int = 0
    # How the mix's work is cut into tasks, never what the shards hold: a mix-count/-scatter task
    # takes consecutive tokenized parts and a mix task consecutive shards up to about this many
    # tokens (~4 bytes each in memory). None: 16M, raised to 1/1024 of the tokens at scale so that
    # the scatter's (group, bucket) pieces stay under ~1M (pipelines.mix_select.task_tokens_for).
    task_tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _weights_or_natural(self) -> "MixConfig":
        if (self.weights is None) == (not self.natural):
            raise ValueError("mixture: give either `weights: {source: fraction}` or `natural: true`, not both")
        if self.weights is not None:
            if any(w < 0 or not math.isfinite(w) for w in self.weights.values()):
                raise ValueError(f"mixture.weights must be finite and >= 0, got {self.weights}")
            if sum(self.weights.values()) <= 0:
                raise ValueError("mixture.weights sum to 0; give at least one source a positive weight")
        if any(c <= 0 or not math.isfinite(c) for c in self.max_epochs.values()):
            raise ValueError(f"mixture.max_epochs must be finite and > 0, got {self.max_epochs}")
        return self

    def cap(self, source: str) -> float:
        return self.max_epochs.get(source, self.default_max_epochs)


@dataclass(frozen=True, kw_only=True, slots=True)
class SourcePlan:
    available_tokens: int
    target_weight: float
    max_epochs: float
    planned_tokens: int
    planned_weight: float  # planned_tokens / the plan's total
    epochs: float  # planned_tokens / available_tokens (< 1 subsample, > 1 repeat)

    def to_json(self) -> dict:
        return {
            "available_tokens": self.available_tokens,
            "target_weight": self.target_weight,
            "max_epochs": self.max_epochs,
            "planned_tokens": self.planned_tokens,
            "planned_weight": self.planned_weight,
            "planned_epochs": self.epochs,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class MixturePlan:
    sources: dict[str, SourcePlan]
    requested_total_tokens: int | None
    total_tokens: int  # sum of planned tokens
    limited_by: list[str] = field(default_factory=list)  # sources at their cap
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "requested_total_tokens": self.requested_total_tokens,
            "planned_total_tokens": self.total_tokens,
            "limited_by": list(self.limited_by),
            "warnings": list(self.warnings),
            "sources": {name: plan.to_json() for name, plan in sorted(self.sources.items())},
        }


def plan_mixture(available_tokens: Mapping[str, int], config: MixConfig) -> MixturePlan:
    """Tokens per source for the training split (`available_tokens`: what each source can give
    to training, i.e. after the val hold-out). See the module docstring for the rules."""
    names = sorted(available_tokens)
    available = {s: int(available_tokens[s]) for s in names}
    if config.natural:
        total_available = sum(available.values())
        if total_available <= 0:
            raise ValueError("no tokens available in any source; check the tokenize stage's output")
        target = {s: available[s] / total_available for s in names}
    else:
        weights = config.weights or {}
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"mixture.weights names {unknown} but the sources are {names}; fix the names")
        missing = [s for s in names if s not in weights]
        if missing:
            raise ValueError(f"sources {missing} have no mixture weight; add them to mixture.weights (0 drops one)")
        weight_sum = sum(weights.values())
        target = {s: weights[s] / weight_sum for s in names}
        empty = [s for s in names if target[s] > 0 and available[s] == 0]
        if empty:
            raise ValueError(f"sources {empty} have a weight but no tokens; give them weight 0 or fix their input")
    cap_tokens = {s: math.floor(config.cap(s) * available[s]) for s in names}
    active = [s for s in names if target[s] > 0]
    warnings: list[str] = []

    if config.total_tokens is None:
        budget = min(cap_tokens[s] / target[s] for s in active)
        planned = {s: min(round(target[s] * budget), cap_tokens[s]) for s in names}
        limited_by = [s for s in active if cap_tokens[s] / target[s] <= budget * (1 + 1e-12)]
    else:
        planned, capped = _water_fill(target, cap_tokens, config.total_tokens)
        limited_by = sorted(capped)
        total = sum(planned.values())
        for s in limited_by:
            weight = planned[s] / total if total else 0.0
            warnings.append(
                f"source '{s}': target weight {target[s]:.4f} of {config.total_tokens:,} tokens needs "
                f"{target[s] * config.total_tokens / available[s]:.3f} epochs but max_epochs is "
                f"{config.cap(s):g}; it is capped at {planned[s]:,} tokens, weight {weight:.4f} "
                f"(raise mixture.max_epochs['{s}'] or lower total_tokens to keep the target)"
            )
        if total < config.total_tokens:
            warnings.append(
                f"total_tokens {config.total_tokens:,} exceeds the {total:,} tokens all sources can give "
                "under their max_epochs; every source is at its cap"
            )
    total = sum(planned.values())
    sources = {
        s: SourcePlan(
            available_tokens=available[s],
            target_weight=target[s],
            max_epochs=config.cap(s),
            planned_tokens=planned[s],
            planned_weight=planned[s] / total if total else 0.0,
            epochs=planned[s] / available[s] if available[s] else 0.0,
        )
        for s in names
    }
    return MixturePlan(
        sources=sources,
        requested_total_tokens=config.total_tokens,
        total_tokens=total,
        limited_by=limited_by,
        warnings=warnings,
    )


def validation_warnings(val_stats: Mapping[str, tuple[int, int]], train_tokens: Mapping[str, int]) -> list[str]:
    """A sentence per source whose validation hold-out (`val_stats`: documents, tokens) holds more
    tokens than training takes from it: the hold-out is a fraction of documents (at least
    `min_val_docs`), so a source of a few long documents, or one the budget barely samples, would
    weigh more in the validation loss than in training."""
    return [
        f"source '{name}': validation holds {num_tokens:,} tokens ({num_docs} documents), more than the "
        f"{train_tokens[name]:,} tokens training takes from it; lower mix.min_val_docs or mix.val_fraction "
        "(validation is a fraction of documents), or raise its weight"
        for name, (num_docs, num_tokens) in sorted(val_stats.items()) if num_tokens > train_tokens.get(name, 0)
    ]


def _water_fill(target: dict[str, float], cap_tokens: dict[str, int], total: int):
    """Least-KL mixture under caps: capped sources at their cap, the rest in target proportion."""
    capped: set[str] = set()
    while True:
        free = [s for s in target if target[s] > 0 and s not in capped]
        remaining = total - sum(cap_tokens[s] for s in capped)
        if not free or remaining <= 0:
            break
        scale = remaining / sum(target[s] for s in free)
        overflow = {s for s in free if target[s] * scale > cap_tokens[s]}
        if not overflow:
            break
        capped |= overflow
    planned = {s: cap_tokens[s] if s in capped else 0 for s in target}
    if free and remaining > 0:
        # Whole tokens by largest remainder, so that the free sources sum to exactly what is left
        # (rounding each share could leave the total a token short, which reads as "every source
        # is at its cap").
        shares = {s: target[s] * scale for s in free}
        for s in free:
            planned[s] = min(math.floor(shares[s]), cap_tokens[s])
        leftover = remaining - sum(planned[s] for s in free)
        for s in sorted(free, key=lambda s: (planned[s] - shares[s], s))[:max(leftover, 0)]:
            planned[s] = min(planned[s] + 1, cap_tokens[s])
    return planned, capped


# ----------------------------------------------------------------------------- document selection


def seeded_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (never on Python's hash seed)."""
    words = [seed]
    for key in keys:
        words.append(int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little"))
    return np.random.default_rng(np.random.SeedSequence(words))


def validation_count(num_docs: int, config: MixConfig) -> int:
    """How many of a source's `num_docs` documents are held out: `val_fraction` of them, at least
    `min_val_docs` when the source has >= 2, never all."""
    if num_docs >= 2 and config.val_fraction > 0:
        return min(max(config.min_val_docs, round(config.val_fraction * num_docs)), num_docs - 1)
    return 0


def fill_fraction(ordered_lengths: np.ndarray, target: int, limit: int) -> tuple[int, list[int]]:
    """The fractional part of a selection, on documents already in their random order: the longest
    prefix whose tokens do not pass `target`, then, within the remaining gap, the next documents
    in that order that fit; and one document past the target when that is nearer than the gap and
    the whole stays within `limit` tokens (the epoch cap). Returns (prefix length, indices of the
    top-ups)."""
    lengths = np.asarray(ordered_lengths, dtype=np.int64)
    if target <= 0 or len(lengths) == 0:
        return 0, []
    cumulative = np.cumsum(lengths)
    prefix = int(np.searchsorted(cumulative, target, side="right"))
    taken: list[int] = []
    gap = target - (int(cumulative[prefix - 1]) if prefix else 0)
    room = limit - (target - gap)  # never past the cap
    smallest_over: tuple[int, int] | None = None  # (length, index) of the best overshoot
    for index in range(prefix, len(lengths)):
        if gap == 0:
            break
        length = int(lengths[index])
        if length <= gap:
            taken.append(index)
            gap -= length
            room -= length
        elif smallest_over is None or length < smallest_over[0]:
            smallest_over = (length, index)
    # One document past the target is nearer than the gap: take it if the cap allows.
    if gap and smallest_over and smallest_over[0] - gap < gap and smallest_over[0] <= room:
        taken.append(smallest_over[1])
    return prefix, taken
