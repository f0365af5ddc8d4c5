"""Token shards: Arrow IPC *file* format, one row per document (see DESIGN.md, "Shards").

Columns: `tokens` large_list<uint16|uint32> (EOS already appended per document; the list offsets are
the document boundaries), `num_tokens` int32, `source` dictionary<int32, string>, `doc_id` string.
Schema metadata (bytes -> bytes): `corpusmill.format_version`, `corpusmill.tokenizer_sha256`,
`corpusmill.vocab_size`, `corpusmill.dtype`, `corpusmill.special_ids` (JSON).

The reader memory-maps a shard and exposes the flat token array and the offsets as zero-copy
numpy views, so random access to a document or a token window is a slice.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa

from tokenization.atomic_files import atomic_path, temp_name

FORMAT_VERSION = 1
UINT16_MAX_VOCAB = 65_535  # ids 0..65534 fit uint16 with room for nothing else; DESIGN.md's rule


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab <= 65,535), else uint32."""
    return np.dtype(np.uint16) if vocab_size <= UINT16_MAX_VOCAB else np.dtype(np.uint32)


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardHeader:
    """What every shard of one run shares; stored in the Arrow schema metadata."""

    tokenizer_sha256: str
    vocab_size: int
    special_ids: dict[str, int | list[int]] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return token_dtype(self.vocab_size)

    def schema(self) -> pa.Schema:
        value_type = pa.uint16() if self.dtype == np.uint16 else pa.uint32()
        return pa.schema(
            [
                pa.field("tokens", pa.large_list(value_type), nullable=False),
                pa.field("num_tokens", pa.int32(), nullable=False),
                pa.field("source", pa.dictionary(pa.int32(), pa.string()), nullable=False),
                pa.field("doc_id", pa.string(), nullable=False),
            ],
            metadata={
                "corpusmill.format_version": str(FORMAT_VERSION),
                "corpusmill.tokenizer_sha256": self.tokenizer_sha256,
                "corpusmill.vocab_size": str(self.vocab_size),
                "corpusmill.dtype": self.dtype.name,
                "corpusmill.special_ids": json.dumps(self.special_ids, sort_keys=True),
            },
        )

    @classmethod
    def from_schema(cls, schema: pa.Schema) -> "ShardHeader":
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        try:
            return cls(
                tokenizer_sha256=meta["corpusmill.tokenizer_sha256"],
                vocab_size=int(meta["corpusmill.vocab_size"]),
                special_ids=json.loads(meta["corpusmill.special_ids"]),
            )
        except KeyError as missing:
            raise ValueError(
                f"not a corpusmill shard: schema metadata lacks {missing}; "
                "shards are written by `corpusmill build` (tokenization.shards.write_shard)"
            ) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardInfo:
    """One shard's entry in manifest.json."""

    path: str  # relative to the manifest's directory
    sha256: str
    num_docs: int
    num_tokens: int
    tokens_per_source: dict[str, int]

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "num_docs": self.num_docs,
            "num_tokens": self.num_tokens,
            "tokens_per_source": dict(sorted(self.tokens_per_source.items())),
        }


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shard(
    path: str | os.PathLike,
    documents: Sequence[np.ndarray],
    sources: Sequence[str],
    doc_ids: Sequence[str],
    header: ShardHeader,
    *,
    relative_to: str | os.PathLike | None = None,
    fs=None,
) -> ShardInfo:
    """Write one shard atomically (temp name, then rename) and return its manifest entry.

    `fs`: an fsspec filesystem to write `path` on (an object store); default the local disk.

    `documents` are token id arrays that already end with EOS.
    """
    if not (len(documents) == len(sources) == len(doc_ids)):
        raise ValueError("documents, sources and doc_ids must have the same length")
    dtype = header.dtype
    lengths = np.fromiter((len(d) for d in documents), dtype=np.int64, count=len(documents))
    offsets = np.zeros(len(documents) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate([np.asarray(d) for d in documents]) if documents else np.zeros(0)
    if flat.size and int(flat.max()) >= max(header.vocab_size, 1):
        raise ValueError(f"token id {int(flat.max())} >= vocab_size {header.vocab_size}")
    flat = flat.astype(dtype, copy=False)

    schema = header.schema()
    source_names = sorted(set(sources))
    source_index = {name: i for i, name in enumerate(source_names)}
    table = pa.table(
        [
            pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat)),
            pa.array(lengths.astype(np.int32)),
            pa.DictionaryArray.from_arrays(
                pa.array([source_index[s] for s in sources], pa.int32()),
                pa.array(source_names, pa.string()),
            ),
            pa.array(list(doc_ids), pa.string()),
        ],
        schema=schema,
    )
    if fs is None:
        path = Path(path)
        with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)
        sha256 = file_sha256(path)
    else:  # any fsspec filesystem: the whole file in memory (one shard), one PUT, then a rename
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        sha256 = hashlib.sha256(data).hexdigest()
        path = str(path)
        tmp = temp_name(path)
        fs.makedirs(os.path.dirname(path), exist_ok=True)
        fs.pipe_file(tmp, data)
        fs.mv(tmp, path)

    tokens_per_source: Counter[str] = Counter()
    for source, length in zip(sources, lengths.tolist()):
        tokens_per_source[source] += length
    rel = os.path.relpath(path, relative_to) if relative_to is not None else os.path.basename(path)
    return ShardInfo(
        path=rel,
        sha256=sha256,
        num_docs=len(documents),
        num_tokens=int(offsets[-1]),
        tokens_per_source=dict(tokens_per_source),
    )


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one Array without copying when it is one chunk (write_shard writes one record
    batch). `combine_chunks()` would copy even a single chunk out of the memory map."""
    if column.num_chunks == 1:
        return column.chunk(0)
    combined = column.combine_chunks()  # a shard written by another tool: correct, but a copy
    return combined.chunk(0) if isinstance(combined, pa.ChunkedArray) else combined


class ShardReader:
    """Memory-mapped, random-access view of one shard.

    `tokens` is the flat token array and `offsets` the document boundaries (int64, len docs+1),
    both zero-copy views into the mapped file.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._source = pa.memory_map(self.path, "r")
        reader = pa.ipc.open_file(self._source)
        self.header = ShardHeader.from_schema(reader.schema)
        table = reader.read_all()
        tokens_column = _single_chunk(table.column("tokens"))
        self.offsets = tokens_column.offsets.to_numpy(zero_copy_only=True)
        self.tokens = tokens_column.values.to_numpy(zero_copy_only=True)
        self.sources = _single_chunk(table.column("source"))
        self.doc_ids = table.column("doc_id")
        self.num_docs = table.num_rows

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1] - self.offsets[0])

    def doc(self, index: int) -> np.ndarray:
        """Token ids of document `index` (EOS included)."""
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def window(self, start: int, length: int) -> np.ndarray:
        """`length` consecutive tokens of the shard's token stream from `start` (may span docs)."""
        base = int(self.offsets[0])
        return self.tokens[base + start : base + start + length]

    def source_of(self, index: int) -> str:
        return self.sources.dictionary[self.sources.indices[index].as_py()].as_py()
