"""The build's stages, in the order `corpusmill build` runs them (see pipelines/stage.py for the
protocol, and how to add a stage or a multi-phase stage).

Every stage after `extract` maps one input part to one output part with the same task id, so a
document's path through the run is easy to follow: extract/<source>/part-<task>.parquet ->
annotate/... -> filter/... -> dedup/... -> tokenize/... . Stats use the same keys everywhere:
source, num_docs_in, num_docs_out, num_chars_in, num_chars_out, num_bytes_in, reasons{code: count}.
"""
from __future__ import annotations

from pipelines.stage import Stage
from pipelines.stages.annotate import AnnotateStage
from pipelines.stages.dedup import DedupStage
from pipelines.stages.extract import ExtractStage
from pipelines.stages.filter import FilterStage
from pipelines.stages.mix import MixStage
from pipelines.stages.tokenize import TokenizeStage
from pipelines.stages.tokenizer import TokenizerStage

STAGES: tuple[Stage, ...] = (
    ExtractStage(),
    AnnotateStage(),
    FilterStage(),
    DedupStage(),
    TokenizerStage(),
    TokenizeStage(),
    MixStage(),
)
STAGES_BY_NAME = {stage.name: stage for stage in STAGES}
