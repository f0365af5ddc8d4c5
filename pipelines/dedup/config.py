"""The recipe's `dedup:` section. Dedup is on by default for every source kind; `dedup: false` (or
`dedup: {enabled: false}`) turns it off."""
from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


# Automatic partitions: 2M documents in 16 partitions peaked a worker at 1.2 GB; 125,000 documents a
# partition keeps every task near that whatever the input size.
DOCS_PER_PARTITION = 125_000
MIN_AUTO_PARTITIONS = 16
MAX_PARTITIONS = 4096


class DedupConfig(BaseModel):
    """Exact + MinHash LSH deduplication across all sources (defaults: FineWeb's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false: skip dedup (tokenize reads filter's output)")
    exact: bool = Field(True, description="remove exact duplicates of the normalized text")
    exact_include_url: bool = Field(False, description="exact duplicates must also share the URL")
    near: bool = Field(True, description="remove near duplicates found by MinHash LSH")
    shingle: Literal["word", "char"] = Field("word", description="word n-grams, or character n-grams (code)")
    ngram: int = Field(5, ge=1, le=64, description="words (or characters) per shingle")
    num_bands: int = Field(14, ge=1, le=255, description="LSH bands (b)")
    rows_per_band: int = Field(8, ge=1, description="signature values per band (r); num_perm = b * r")
    num_bits: Literal[32, 64] = Field(64, description="hash width (32 = datasketch affine32, 64 = affine64)")
    seed: int = Field(1, ge=0, description="seed of the MinHash permutations (datasketch's default: 1)")
    verify_threshold: float | None = Field(
        0.8, gt=0, le=1, description="keep a candidate pair only if the exact Jaccard of its shingle "
        "sets is >= this; null: every LSH candidate pair is a duplicate. On by default because LSH "
        "alone is imprecise: at 14 x 8 a pair of Jaccard 0.7 is a candidate with probability 0.67, "
        "so on the real ground truth (tests/pipelines/test_dedup_accuracy.py) only ~0.65 of the "
        "candidate pairs reach 0.8 and 27% of the near-duplicate removals made without verification "
        "have no partner >= 0.8; verified at 0.8 the pair precision is 1.0 at recall >= 0.95. It "
        "costs writing each document's shingle set once (8 bytes a shingle, ~4 KB for a 2.4 KB "
        "document; +0.5-1 CPU s per 10,000 such documents in dedup.signature, about +20-35%) and a "
        "join of the candidate pairs with them (dedup.verify_send/verify_check: ~5% of the stage at "
        "500,000 documents): 1.15x the stage's wall time on the 24,646-document ground truth "
        "(benchmarks/bench_dedup_verify.py)")
    source_priority: list[str] | None = Field(
        None, description="sources in keep order (first is kept first); default: the recipe's order")
    num_partitions: int | None = Field(
        None, ge=1, le=MAX_PARTITIONS, description="hash partitions of the shuffles (each task holds about "
        "1/num_partitions of the buckets, pairs and edges); null: sized from the documents dedup reads, "
        "one per DOCS_PER_PARTITION (125,000) and at least 16, because a partition task's memory grows with "
        "its share (1.2 GB at 2M documents in 16 partitions, benchmarks/bench_dedup_scale.py). The output "
        "never depends on it")
    max_clique: int = Field(32, ge=2, description="a bucket of up to this many documents gives all "
                            "its pairs; a larger one pairs its smallest document with each other")
    max_iterations: int = Field(64, ge=1, description="min-label propagation rounds before giving up")

    @model_validator(mode="before")
    @classmethod
    def _bool_is_enabled(cls, value):
        return {"enabled": value} if isinstance(value, bool) else value

    def with_partitions_for(self, num_documents: int) -> "DedupConfig":
        """This config with `num_partitions` set: as given, or sized from `num_documents`."""
        if self.num_partitions is not None:
            return self
        sized = max(MIN_AUTO_PARTITIONS, math.ceil(num_documents / DOCS_PER_PARTITION))
        return self.model_copy(update={"num_partitions": min(sized, MAX_PARTITIONS)})

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band
