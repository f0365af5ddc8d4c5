"""Token-budget mixture: plan how many tokens each source contributes, then assemble the shards.

No Ray here: the runner calls `build_shards` once, after the tokenize stage, on the tokenized parts.

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

Assembly (`build_shards`), deterministic for a seed:
1. index every document (source, part, row, num_tokens), staging each parquet part once into a
   memory-mapped Arrow file (a `.arrow` part is mapped directly);
2. hold out the validation documents per source first (`val_fraction` of the documents, at
   least `min_val_docs` when the source has >= 2 documents, never all of them);
3. plan on the remaining (train) tokens, so that the epoch caps hold exactly on what is sampled;
4. select whole documents per source: every document `floor(epochs)` times, then for the
   fraction a seeded random prefix of the documents, topped up within the last gap (less than
   one document) by the next documents in that order that fit, never past the cap;
5. shuffle all selected documents across sources, cut `train-00000.arrow`, ... of about
   `shard_tokens` each (a shard closes once it holds >= shard_tokens), and the same for `val-*`;
6. copy tokenizer.json next to the shards and write manifest.json last (it marks completion).

Memory: the document index costs ~20 bytes per document (plus ~16 per selected copy); token data
and document ids stay in the memory-mapped staged parts (read through the page cache; staging
needs disk for one more copy of the tokenized parts, removed at the end), and the process holds
one output shard's tokens at a time (~2-3x shard_tokens x token size while writing it). Paths
must be local: shards and staged parts are memory-mapped.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokenization.encode import check_tokenized
from tokenization.manifest import MANIFEST_NAME, Manifest
from tokenization.shards import ShardInfo, write_shard
from tokenization.tokenizer import TokenizerSpec

TOKENIZER_NAME = "tokenizer.json"


class MixConfig(BaseModel):
    """The recipe's `mixture:` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, float] | None = None  # fractions of tokens per source (normalised)
    natural: bool = False  # instead of weights: each source in proportion to its tokens
    total_tokens: int | None = Field(default=None, gt=0)  # None: the largest feasible budget
    max_epochs: dict[str, float] = Field(default_factory=dict)  # per-source cap on epochs
    default_max_epochs: float = Field(default=1.0, gt=0)  # cap for sources not in max_epochs
    val_fraction: float = Field(default=0.005, ge=0, lt=1)  # of each source's documents
    min_val_docs: int = Field(default=1, ge=0)  # when a source has >= 2 documents
    shard_tokens: int = Field(default=100_000_000, gt=0)
    seed: int = 0

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
    planned = {}
    for s in target:
        if s in capped:
            planned[s] = cap_tokens[s]
        elif target[s] > 0 and free:
            planned[s] = min(round(target[s] * scale), cap_tokens[s])
        else:
            planned[s] = 0
    return planned, capped


# ----------------------------------------------------------------------------- document selection


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (never on Python's hash seed)."""
    words = [seed]
    for key in keys:
        words.append(int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little"))
    return np.random.default_rng(np.random.SeedSequence(words))


def split_validation(num_docs: int, config: MixConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(val indices, train indices) of a source's documents, both sorted."""
    num_val = 0
    if num_docs >= 2 and config.val_fraction > 0:
        num_val = min(max(config.min_val_docs, round(config.val_fraction * num_docs)), num_docs - 1)
    order = rng.permutation(num_docs)
    return np.sort(order[:num_val]), np.sort(order[num_val:])


def select_documents(
    lengths: np.ndarray, planned_tokens: int, max_tokens: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices (with repeats) of whole documents summing to about `planned_tokens`, never above
    `max_tokens` (the epoch cap): every document floor(epochs) times, then a random prefix for the
    fraction, topped up within the remaining gap by the next documents in that order that fit."""
    lengths = np.asarray(lengths, dtype=np.int64)
    available = int(lengths.sum())
    if planned_tokens <= 0 or available == 0:
        return np.zeros(0, dtype=np.int64)
    full_epochs, remainder = divmod(planned_tokens, available)
    chosen = [np.tile(np.arange(len(lengths)), full_epochs)] if full_epochs else []
    if remainder:
        order = rng.permutation(len(lengths))
        cumulative = np.cumsum(lengths[order])
        prefix = int(np.searchsorted(cumulative, remainder, side="right"))
        taken = list(order[:prefix])
        gap = remainder - (int(cumulative[prefix - 1]) if prefix else 0)
        room = max_tokens - full_epochs * available - (remainder - gap)  # never past the cap
        smallest_over: tuple[int, int] | None = None  # (length, index) of the best overshoot
        for index in order[prefix:]:
            if gap == 0:
                break
            length = int(lengths[index])
            if length <= gap:
                taken.append(index)
                gap -= length
                room -= length
            elif smallest_over is None or length < smallest_over[0]:
                smallest_over = (length, int(index))
        # One document past the target is nearer than the gap: take it if the cap allows.
        if gap and smallest_over and smallest_over[0] - gap < gap and smallest_over[0] <= room:
            taken.append(smallest_over[1])
        chosen.append(np.asarray(taken, dtype=np.int64))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


# ----------------------------------------------------------------------------- shard assembly


@dataclass(slots=True)
class _Part:
    """One tokenized part, memory-mapped: tokens of row r are values[offsets[r]:offsets[r+1]]."""

    path: str
    offsets: np.ndarray
    values: np.ndarray
    doc_ids: pa.Array
    keep_alive: object  # the memory map the two arrays point into

    def doc(self, row: int) -> np.ndarray:
        return self.values[self.offsets[row] : self.offsets[row + 1]]


def _open_part(path: Path, staging: Path, spec: TokenizerSpec) -> _Part:
    """Map a tokenized part; a parquet part is first rewritten once as an Arrow IPC file."""
    if path.suffix in (".arrow", ".feather"):
        mapped = path
    else:
        check_tokenized(pq.read_schema(path), spec.sha256, str(path))
        table = pq.read_table(path, columns=["doc_id", "tokens"]).combine_chunks()
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        mapped = staging / f"{digest}.arrow"
        with pa.OSFile(str(mapped), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        del table
    source = pa.memory_map(str(mapped), "r")
    reader = pa.ipc.open_file(source)
    check_tokenized(reader.schema, spec.sha256, str(path))
    table = reader.read_all()
    if table.num_rows == 0:
        empty = np.zeros(1, np.int64)
        return _Part(str(path), empty, np.zeros(0, np.uint32), pa.array([], pa.string()), source)
    tokens = table.column("tokens")
    if tokens.num_chunks != 1:  # an .arrow part written in several batches: one copy
        tokens = tokens.combine_chunks()
        tokens = pa.chunked_array([tokens]) if not isinstance(tokens, pa.ChunkedArray) else tokens
    chunk = tokens.chunk(0)
    doc_ids = table.column("doc_id")  # one chunk stays a view into the map: no copy of the ids
    return _Part(
        path=str(path),
        offsets=chunk.offsets.to_numpy(zero_copy_only=True),
        values=chunk.values.to_numpy(zero_copy_only=True),
        doc_ids=doc_ids.chunk(0) if doc_ids.num_chunks == 1 else doc_ids.combine_chunks(),
        keep_alive=source,
    )


@dataclass(slots=True)
class _SourceIndex:
    part_ids: np.ndarray  # int32, which part (index into the run's part list)
    rows: np.ndarray  # int64, row inside that part
    lengths: np.ndarray  # int64, tokens per document (EOS included)


def _write_split(
    split: str,
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]],  # per source: (source_id, part, row)
    source_names: list[str],
    parts: list[_Part],
    spec: TokenizerSpec,
    out_dir: Path,
    shard_tokens: int,
    rng: np.random.Generator,
) -> list[ShardInfo]:
    source_ids = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int32)
    part_ids = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0, np.int32)
    rows = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0, np.int64)
    order = rng.permutation(len(rows))
    header = spec.header()
    shards: list[ShardInfo] = []
    documents, sources, doc_ids, tokens = [], [], [], 0

    def flush() -> None:
        nonlocal documents, sources, doc_ids, tokens
        path = out_dir / f"{split}-{len(shards):05d}.arrow"
        shards.append(write_shard(path, documents, sources, doc_ids, header, relative_to=out_dir))
        documents, sources, doc_ids, tokens = [], [], [], 0

    for i in order.tolist():
        part = parts[part_ids[i]]
        row = int(rows[i])
        document = part.doc(row)
        documents.append(document)
        sources.append(source_names[source_ids[i]])
        doc_ids.append(part.doc_ids[row].as_py())
        tokens += len(document)
        if tokens >= shard_tokens:
            flush()
    if documents:
        flush()
    for stale in out_dir.glob(f"{split}-*.arrow"):  # shards of an earlier, larger build
        if stale.name not in {Path(s.path).name for s in shards}:
            stale.unlink()
    return shards


def build_shards(
    parts: Mapping[str, Sequence[str | os.PathLike]],
    config: MixConfig,
    tokenizer: TokenizerSpec,
    out_dir: str | os.PathLike,
    *,
    staging_dir: str | os.PathLike | None = None,
) -> Manifest:
    """Mix the tokenized parts (source -> parquet/arrow paths) into train/val shards + manifest.json.

    Deterministic for `config.seed`: the same parts give byte-identical shards and manifest
    (part paths are sorted per source, so listing order does not matter).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # An interrupted rebuild must not leave an old manifest describing half-rewritten shards.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    staging = Path(staging_dir) if staging_dir is not None else out_dir / "_staging"
    staging.mkdir(parents=True, exist_ok=True)
    source_names = sorted(parts)
    if not source_names:
        raise ValueError("build_shards got no sources; the tokenize stage produced no parts")
    opened: list[_Part] = []
    index: dict[str, _SourceIndex] = {}
    try:
        for name in source_names:
            part_ids, rows, lengths = [], [], []
            for path in sorted(Path(p) for p in parts[name]):
                part = _open_part(path, staging, tokenizer)
                count = len(part.offsets) - 1
                part_ids.append(np.full(count, len(opened), dtype=np.int32))
                rows.append(np.arange(count, dtype=np.int64))
                lengths.append(np.diff(part.offsets).astype(np.int64))
                opened.append(part)
            index[name] = _SourceIndex(
                part_ids=np.concatenate(part_ids) if part_ids else np.zeros(0, np.int32),
                rows=np.concatenate(rows) if rows else np.zeros(0, np.int64),
                lengths=np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
            )
        return _assemble(index, source_names, opened, config, tokenizer, out_dir)
    finally:
        opened.clear()  # drop the memory maps before the staged files go
        if staging_dir is None:
            shutil.rmtree(staging, ignore_errors=True)


def _assemble(index, source_names, opened, config: MixConfig, tokenizer, out_dir: Path) -> Manifest:
    val_entries, train_pool, val_stats = [], {}, {}
    for sid, name in enumerate(source_names):
        docs = index[name]
        val_idx, train_idx = split_validation(len(docs.lengths), config, _rng(config.seed, "val", name))
        val_entries.append((np.full(len(val_idx), sid, np.int32), docs.part_ids[val_idx], docs.rows[val_idx]))
        val_stats[name] = (len(val_idx), int(docs.lengths[val_idx].sum()))
        train_pool[name] = train_idx
    plan = plan_mixture({s: int(index[s].lengths[train_pool[s]].sum()) for s in source_names}, config)

    train_entries, train_docs = [], {}
    for sid, name in enumerate(source_names):
        docs, pool = index[name], train_pool[name]
        source_plan = plan.sources[name]
        max_tokens = math.floor(source_plan.max_epochs * source_plan.available_tokens)
        picked = pool[select_documents(docs.lengths[pool], source_plan.planned_tokens, max_tokens,
                                       _rng(config.seed, "select", name))]
        train_entries.append((np.full(len(picked), sid, np.int32), docs.part_ids[picked], docs.rows[picked]))
        train_docs[name] = len(picked)

    splits = {
        "train": _write_split("train", train_entries, source_names, opened, tokenizer, out_dir,
                              config.shard_tokens, _rng(config.seed, "shuffle", "train")),
        "val": _write_split("val", val_entries, source_names, opened, tokenizer, out_dir,
                            config.shard_tokens, _rng(config.seed, "shuffle", "val")),
    }
    tokenizer_copy = out_dir / TOKENIZER_NAME
    if Path(tokenizer.path).resolve() != tokenizer_copy.resolve():
        shutil.copyfile(tokenizer.path, tokenizer_copy)
    manifest = Manifest(
        directory=out_dir,
        tokenizer_path=TOKENIZER_NAME,
        tokenizer_sha256=tokenizer.sha256,
        vocab_size=tokenizer.vocab_size,
        special_ids=dict(tokenizer.special_ids),
        splits=splits,
    )
    manifest.check_tokenizer(tokenizer_copy)
    manifest.mixture = _mixture_report(plan, config, manifest, train_docs, val_stats)
    manifest.save()
    return manifest


def _mixture_report(plan: MixturePlan, config: MixConfig, manifest: Manifest, train_docs, val_stats) -> dict:
    """The resolved mixture for manifest.json: the plan plus what the whole-document draw achieved."""
    achieved = Counter(manifest.totals()["train"]["tokens_per_source"])
    achieved_total = sum(achieved.values())
    report = plan.to_json()
    report["config"] = config.model_dump(mode="json")
    report["achieved_total_tokens"] = achieved_total
    for name, entry in report["sources"].items():
        available = entry["available_tokens"]
        entry["achieved_tokens"] = achieved[name]
        entry["achieved_weight"] = achieved[name] / achieved_total if achieved_total else 0.0
        entry["achieved_epochs"] = achieved[name] / available if available else 0.0
        entry["train_docs"] = train_docs[name]
        entry["val_docs"], entry["val_tokens"] = val_stats[name]
    return report
