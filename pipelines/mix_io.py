"""Reading tokenized parts and writing the mix's staging files, through fsspec (no Ray here)."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tokenization.atomic_files import temp_name
from tokenization.encode import check_tokenized
from tokenization.tokenizer import TokenizerSpec


def put_bytes(fs, path: str, data: bytes) -> None:
    """Write `data` at `path` under a temporary name, then rename: readers never see half a file."""
    fs.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temp_name(path)
    fs.pipe_file(tmp, data)
    fs.mv(tmp, path)


def read_table(fs, path: str, columns: list[str]) -> pa.Table:
    """Some columns of a tokenized part (parquet, or Arrow IPC)."""
    if path.endswith((".arrow", ".feather")):
        with fs.open(path, "rb") as handle:
            return pa.ipc.open_file(pa.BufferReader(handle.read())).read_all().select(columns)
    return read_parquet(fs, path, columns)


def read_parquet(fs, path: str, columns: list[str] | None = None) -> pa.Table:
    # ParquetFile, not pq.read_table: read_table goes through pyarrow.dataset (it imports pandas,
    # ~1.5 s in each fresh worker, and costs ~15 ms a call), and the mix reads many small files.
    # In batches: decoding a whole part of token lists at once peaks at ~9x its uint16 tokens in
    # Arrow's pool (155 MB for an 8.6M-token part), 1,024 documents at a time at ~2.5x, no slower.
    with fs.open(path, "rb") as handle:
        reader = pq.ParquetFile(handle)
        batches = list(reader.iter_batches(batch_size=1024, columns=columns, use_threads=False))
        return pa.Table.from_batches(batches, schema=reader.schema_arrow if columns is None else None) \
            if batches else reader.schema_arrow.empty_table().select(columns or reader.schema_arrow.names)


def part_schema(fs, path: str) -> pa.Schema:
    if path.endswith((".arrow", ".feather")):
        with fs.open(path, "rb") as handle:
            return pa.ipc.open_file(handle).schema
    with fs.open(path, "rb") as handle:
        return pq.ParquetFile(handle).schema_arrow


def check_part(fs, path: str, spec: TokenizerSpec) -> None:
    """Refuse a part tokenized with another tokenizer than the run's (the error names both)."""
    check_tokenized(part_schema(fs, path), spec.sha256, path)


def token_counts(fs, path: str) -> np.ndarray:
    """A part's `num_tokens` column (one int64 per document, never the tokens)."""
    return read_table(fs, path, ["num_tokens"]).column("num_tokens").to_numpy().astype(np.int64)
