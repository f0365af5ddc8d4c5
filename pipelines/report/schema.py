"""JSON Schema (draft 2020-12) of report.json; written next to it as report.schema.json.

Each section is null until its stage has output. Objects are closed (no unknown keys) so that a
change of the report's shape shows up here and in the schema test.
"""
from __future__ import annotations

_INT = {"type": "integer", "minimum": 0}
_NUM = {"type": "number"}
_NULLABLE_INT = {"type": ["integer", "null"], "minimum": 0}
_NULLABLE_NUM = {"type": ["number", "null"]}
_STR = {"type": "string"}
_NULLABLE_STR = {"type": ["string", "null"]}


def _object(properties: dict, nullable: bool = False) -> dict:
    return {"type": ["object", "null"] if nullable else "object", "properties": properties,
            "required": sorted(properties), "additionalProperties": False}


def _map(values: dict) -> dict:
    return {"type": "object", "additionalProperties": values}


def _list(items: dict) -> dict:
    return {"type": "array", "items": items}


_HISTOGRAM = {"edges": _list(_NUM), "counts": _list(_INT)}

_STEP = _object({"step": {"enum": ["extracted", "filtered", "deduplicated", "tokenized", "mixture_train",
                                   "mixture_val"]},
                 "stage": _STR, "num_docs": _NULLABLE_INT, "num_chars": _NULLABLE_INT,
                 "num_tokens": _NULLABLE_INT, "tokens_estimated": {"type": "boolean"}})
_REMOVED = _object({"stage": _STR, "reason": _STR, "num_docs": _INT, "num_chars": _NULLABLE_INT,
                    "num_tokens_estimated": _NULLABLE_INT})
_TOTAL = _object({"step": _STR, "num_docs": _NULLABLE_INT, "num_chars": _NULLABLE_INT,
                  "num_tokens": _NULLABLE_INT, "tokens_estimated": {"type": "boolean"}})
_STAGE_STATUS = _object({"num_tasks_done": _INT, "complete": {"type": "boolean"}})

FUNNEL = _object({
    "steps": _list(_STR),
    "sources": _map(_object({"tokens_per_char": _NULLABLE_NUM, "steps": _list(_STEP), "removed": _list(_REMOVED)})),
    "totals": _list(_TOTAL),
    "stage_status": _map(_STAGE_STATUS),
}, nullable=True)

_MIX_SOURCE = _object({key: (_INT if key.endswith(("_tokens", "_docs")) else _NUM) for key in (
    "available_tokens", "target_weight", "planned_weight", "achieved_weight", "max_epochs", "planned_epochs",
    "achieved_epochs", "planned_tokens", "achieved_tokens", "train_docs", "val_docs", "val_tokens")})
MIXTURE = _object({
    "sources": _map(_MIX_SOURCE),
    "requested_total_tokens": _NULLABLE_INT, "planned_total_tokens": _INT, "achieved_total_tokens": _INT,
    "limited_by": _list(_STR), "warnings": _list(_STR), "observations": _list(_STR),
    "splits": _map(_object({"num_docs": _INT, "num_tokens": _INT})),
    "shards": _list(_object({"split": {"enum": ["train", "val"]}, "path": _STR, "num_docs": _INT,
                             "num_tokens": _INT, "tokens_per_source": _map(_INT)})),
    "tokenizer": _object({"vocab_size": _INT, "dtype": _STR}),
}, nullable=True)

_THRESHOLD = _object({"limit": _NUM, "drop_when": {"enum": ["above", "below"]}, "reason": _STR, "note": _STR})
_LANGUAGE_COUNTS = _list({"type": "array", "prefixItems": [_STR, _INT], "minItems": 2, "maxItems": 2})
DISTRIBUTIONS = {"type": ["object", "null"], "additionalProperties": _object({
    "length": _object({"unit": {"enum": ["tokens", "characters"]}, "column": _STR, "num_docs": _INT,
                       "median": _NUM, "mean": _NUM, **_HISTOGRAM}, nullable=True),
    "languages": _object({"column": _STR, "all": _LANGUAGE_COUNTS, "kept": _LANGUAGE_COUNTS,
                          "kept_stage": _NULLABLE_STR}, nullable=True),
    "scores": _list(_object({"column": _STR, "num_docs": _INT, "num_missing": _INT,
                             "thresholds": _list(_THRESHOLD), **_HISTOGRAM})),
    "dup_clusters": _object({"num_clusters": _INT, "num_kept_docs": _INT, "num_docs_in_clusters": _INT,
                             "largest": _INT, **_HISTOGRAM}, nullable=True),
})}

_DOCUMENT = _object({"id": _STR, "source": _NULLABLE_STR, "reason": _NULLABLE_STR, "location": _NULLABLE_STR,
                     "num_chars": _INT, "text": _STR, "truncated": {"type": "boolean"},
                     "deciding": {"type": "object"}})
SAMPLES = _object({
    "seed": {"type": "integer"}, "max_chars": _INT,
    "removed": _map(_object({"stage": _STR, "reason": _STR, "documents": _list(_DOCUMENT)})),
    "kept": _map(_object({"stage": _STR, "documents": _list(_DOCUMENT)})),
}, nullable=True)

SCALE = _object({
    "corpus_tokens": _INT, "basis": _STR, "tokenized_tokens": _NULLABLE_INT,
    "references": _list(_object({"name": _STR, "tokens": _NUM, "note": _STR, "source": _STR,
                                 "ratio": _NULLABLE_NUM})),
}, nullable=True)

_COSTING = {"params": _NUM, "tokens": _NUM, "flops": _NUM, "gpu_hours": _NUM, "cost_usd": _NULLABLE_NUM,
            "epochs": _NULLABLE_NUM, "kaplan_loss": _NUM, "hoffmann_loss": _NUM}
PLANNER = _object({
    "request": _object({"tokens": _NULLABLE_NUM, "gpu": _STR, "mfu": _NUM, "price_per_hour": _NULLABLE_NUM,
                        "model_params": _NULLABLE_NUM, "budget_usd": _NULLABLE_NUM, "gpu_hours": _NULLABLE_NUM}),
    "gpu": _object({"key": _STR, "name": _STR, "peak_flops": _NUM, "dtype": _STR, "source": _STR}),
    "sustained_flops_per_gpu": _NUM,
    "rules": _map(_STR),
    "chinchilla": _object(_COSTING, nullable=True),
    "given_model": _object(_COSTING, nullable=True),
    "converse": {"type": ["object", "null"]},
    "what_if": _list(_object({**_COSTING, "many_epochs": {"type": "boolean"}})),
    "price_is_assumed": {"type": "boolean"},
    "accelerators": _list(_object({"key": _STR, "name": _STR, "peak_flops": _NUM, "dtype": _STR, "source": _STR})),
    "known_models": _list(_object({"name": _STR, "params": _NUM, "train_tokens": _NULLABLE_NUM,
                                   "flops": _NULLABLE_NUM, "tokens_per_param": _NULLABLE_NUM,
                                   "scale_tokens": _NUM, "scale_note": _STR, "source": _STR})),
}, nullable=True)

REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "corpusmill report.json",
    **_object({
        "format_version": {"const": 1},
        "generated": _STR,
        "run_dir": _STR,
        "status": _object({"finished": {"type": "boolean"}, "started": _NULLABLE_STR, "finished_at": _NULLABLE_STR,
                           "stages": _map(_STAGE_STATUS)}),
        "sources": _list(_object({"name": _STR, "kind": _NULLABLE_STR})),
        "funnel": FUNNEL, "mixture": MIXTURE, "distributions": DISTRIBUTIONS, "samples": SAMPLES,
        "scale": SCALE, "planner": PLANNER,
    }),
}
