"""The objective registry. Adding an objective = one new module here (a class following
train.objectives.base.Objective) plus its line in `_REGISTERED`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from train.objectives.base import (IGNORE_INDEX, Objective, SpecialNeeds, positions_from_doc_ids,
                                   sample_rng)
from train.objectives.clm import ClmObjective
from train.objectives.mlm import MlmObjective
from train.objectives.span import (SpanObjective, random_spans_helper, random_spans_noise_mask,
                                   spans_to_unique_sentinels)

if TYPE_CHECKING:
    from train.vocab import VocabLayout

_REGISTERED: tuple[type, ...] = (ClmObjective, MlmObjective, SpanObjective)
REGISTRY: dict[str, type] = {cls.name: cls for cls in _REGISTERED}
OBJECTIVES = tuple(REGISTRY)


def objective_class(name: str) -> type:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}") from None


def make_objective(name: str, seq_len: int, vocab: VocabLayout, *, doc_mask: bool = False) -> Objective:
    return objective_class(name).create(seq_len, vocab, doc_mask=doc_mask)


__all__ = ["IGNORE_INDEX", "OBJECTIVES", "REGISTRY", "ClmObjective", "MlmObjective", "Objective",
           "SpanObjective", "SpecialNeeds", "make_objective", "objective_class", "positions_from_doc_ids",
           "random_spans_helper", "random_spans_noise_mask", "sample_rng", "spans_to_unique_sentinels"]
