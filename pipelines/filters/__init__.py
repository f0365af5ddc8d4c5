"""Quality filtering, Ray-free: annotate scores once, decide by thresholds many times.

The runner wires two stages per source (DESIGN.md, "Filters annotate first"):

    settings = settings_for(recipe_filter_config, source.name, source.kind, base_dir=recipe_dir)
    # stage `annotate` (expensive; fingerprint: settings.annotate.fingerprint())
    annotated = annotate(table, settings)          # DOCUMENT_SCHEMA in, + score columns, PII scrubbed
    # stage `filter` (cheap; fingerprint: settings.annotate + settings.thresholds fingerprints)
    decided = decide(annotated, settings)           # + drop_reason (null = kept); never reads `text`
    kept, rejects = split_rejects(decided, config.rejects_sample_rate, seed)
    # write kept -> filter/<source>/part-<task>.parquet,
    #       rejects[reason] -> filter/rejects/<reason>/part-<task>.parquet
    stats = filter_stats(decided)                   # -> _stats/filter/<task>.json

API
  FilterConfig                   pydantic model of the recipe's `filter:` section (extra="forbid"):
                                 `defaults` and `sources.<name>` override the built-in per-kind
                                 defaults (KIND_DEFAULTS) key by key; `rejects_sample_rate`;
                                 `unknown_sources(names)` for recipe validation.
  settings_for(config, source_name, source_kind, base_dir=None) -> ResolvedFilterSettings
                                 .annotate (AnnotateSettings) and .thresholds (ThresholdSettings):
                                 frozen, JSON-dumpable, hashable, `.fingerprint()` each. Relative
                                 lid.model_path / url.blocklist_paths resolve against base_dir.
  annotate(table, settings) -> pa.Table
                                 adds num_chars, annotate_error, lid_*, url_*, gopher_rep_*,
                                 gopher_*, c4_*, fineweb_*, code_*, pii_num_replaced (only the
                                 enabled steps'); replaces `text` by the PII-scrubbed text. A
                                 document that makes a step raise gets annotate_error
                                 "error:<Type>". Input is never mutated.
  decide(table, settings) -> pa.Table
                                 adds drop_reason: the first failing rule in FineWeb's order (url,
                                 lid, gopher repetition, gopher quality, c4, fineweb; code). Reason
                                 codes are listed in pipelines.filters.decide. Raises MissingScores
                                 when a step's scores were not annotated.
  split_rejects(decided, sample_rate, seed) -> (kept, {reason: table})
                                 rejects sampled by a hash of (seed, doc id): deterministic.
  filter_stats(decided) -> dict  per source: documents/characters in and out, and per reason.
  score_columns(settings.annotate) -> list[str]   the columns annotate adds.

Per-kind defaults: commoncrawl/jsonl/parquet: URL, LID en > 0.65, Gopher repetition and quality,
C4, FineWeb, PII. wikipedia/books: LID against the document's meta `language` (> 0.65), PII.
code: code rules, PII (no LID). Everything is configurable per source.

lid.quality_gate (default 0.2): annotate scores Gopher/C4/FineWeb only for documents whose
target-language score reaches the gate; the others leave at LID in FineWeb's order anyway. Lowering
lid.threshold below the gate (or changing the languages) needs a new annotate: the gate and the
languages are then part of the annotate fingerprint, and `decide` refuses rather than keep
unscored documents. `quality_gate: null` scores every document (about 2x the annotate time on a
mostly non-English crawl).

Inspection: pipelines.inspection.inspect_run(run_dir, reason=..., kept=..., n=..., seed=...).

Speed: word splitting is datatrove's (spaCy blank English) with a per-process chunk cache, n-grams
are numpy; see benchmarks/bench_filters.py for the comparison with datatrove on the same pages.
"""
from pipelines.filters.annotate import annotate, score_columns
from pipelines.filters.config import (
    KIND_DEFAULTS,
    AnnotateSettings,
    FilterConfig,
    FilterSteps,
    ResolvedFilterSettings,
    ThresholdSettings,
    settings_for,
)
from pipelines.filters.decide import MissingScores, decide
from pipelines.filters.rejects import filter_stats, sample_mask, split_rejects

__all__ = [
    "KIND_DEFAULTS",
    "AnnotateSettings",
    "FilterConfig",
    "FilterSteps",
    "MissingScores",
    "ResolvedFilterSettings",
    "ThresholdSettings",
    "annotate",
    "decide",
    "filter_stats",
    "sample_mask",
    "score_columns",
    "settings_for",
    "split_rejects",
]
