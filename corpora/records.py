"""Generic record readers: JSON Lines (kind `jsonl`) and Parquet (kind `parquet`).

One JSON object per line (`.jsonl`/`.json`, optionally `.gz`/`.zst`/`.bz2`/`.xz`), or the rows of
a Parquet file read one row-group batch at a time, so memory stays flat whatever the file size.
Field names are configurable; a field may be a dotted path into nested objects
(`metadata.url` in Dolma's format).

Decompression is done here chunk by chunk rather than through `gzip.open`, so that a truncated
stream yields every complete line first and then exactly one counted `error:truncated`
(the contract in corpora/__init__.py), identically for all four codecs.
"""
from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any, Callable, Iterator, Literal

import fsspec
import orjson
import pydantic
import zstandard

from corpora.schema import SkipCounter, make_doc_id

CHUNK_BYTES = 1 << 20

# url_field=None tries these in order: plain records, then Dolma's format.
DEFAULT_URL_FIELDS = ("url", "metadata.url")


class Options(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    format: Literal["auto", "jsonl", "parquet"] = "auto"
    """`auto`: `.parquet`/`.pq` files are Parquet, everything else JSON Lines."""
    text_field: str = "text"
    id_field: str | None = None
    """When set, id = make_doc_id(source, file_key, <value>); rows without it are skipped
    (`record_missing_id`). When unset, the record's line/row number (0-based) is the key."""
    url_field: str | None = None
    """When unset, tries `url` then `metadata.url`."""
    meta_fields: tuple[str, ...] | None = None
    """Fields copied into meta (any JSON value). Unset: every scalar field other than the
    text and url fields, plus the scalar fields of nested objects as dotted keys."""
    batch_rows: int = pydantic.Field(default=1024, gt=0)
    """Parquet rows decoded per batch (bounded memory)."""


# --------------------------------------------------------------------------- field access


def lookup(record: dict, field: str) -> Any:
    """`record[field]`, or a walk along a dotted path (`metadata.url`); None when absent."""
    if field in record:
        return record[field]
    if "." not in field:
        return None
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


_SCALARS = (str, int, float, bool)


def default_meta(record: dict, exclude: set[str]) -> dict[str, Any]:
    """Scalar fields, and scalar fields of nested objects as `parent.child` (one level)."""
    meta: dict[str, Any] = {}
    for key, value in record.items():
        if key in exclude:
            continue
        if isinstance(value, _SCALARS):
            meta[key] = value
        elif isinstance(value, dict):
            for sub_key, sub_value in value.items():
                dotted = f"{key}.{sub_key}"
                if dotted not in exclude and isinstance(sub_value, _SCALARS):
                    meta[dotted] = sub_value
    return meta


class RecordMapper:
    """Turns one decoded record into a document dict, or a skip reason."""

    def __init__(self, options: Options, source: str, file_key: str, path: str):
        self.options = options
        self.source = source
        self.file_key = file_key
        self.path = path
        self.url_fields = (options.url_field,) if options.url_field else DEFAULT_URL_FIELDS
        self.exclude = {options.text_field, *self.url_fields}

    def document(self, record: Any, record_number: int, skips: SkipCounter) -> dict | None:
        if not isinstance(record, dict):
            skips.skip("record_not_object")
            return None
        text = lookup(record, self.options.text_field)
        if not isinstance(text, str):
            skips.skip("record_missing_text")
            return None
        if not text.strip():
            skips.skip("record_empty_text")
            return None
        if self.options.id_field is not None:
            record_key = lookup(record, self.options.id_field)
            if record_key is None or record_key == "":
                skips.skip("record_missing_id")
                return None
        else:
            record_key = record_number
        doc: dict[str, Any] = {
            "id": make_doc_id(self.source, self.file_key, str(record_key)),
            "text": text,
            "path": f"{self.path}#{record_number}",
        }
        for field in self.url_fields:
            url = lookup(record, field)
            if isinstance(url, str) and url:
                doc["url"] = url
                break
        if self.options.meta_fields is None:
            meta = default_meta(record, self.exclude)
        else:
            meta = {}
            for field in self.options.meta_fields:
                value = lookup(record, field)
                if value is not None:
                    meta[field] = value
        doc["meta"] = meta
        return doc


# --------------------------------------------------------------------------- JSON Lines


def _gzip_decompressor():
    return zlib.decompressobj(wbits=47)  # 32 + 15: accept gzip or zlib headers


DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    ".gz": _gzip_decompressor,
    ".gzip": _gzip_decompressor,
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
    ".lzma": lzma.LZMADecompressor,
    ".zst": lambda: zstandard.ZstdDecompressor().decompressobj(),
    ".zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
}


def compression_suffix(path: str) -> str | None:
    lowered = path.lower()
    for suffix in DECOMPRESSORS:
        if lowered.endswith(suffix):
            return suffix
    return None


def _decompressed_chunks(raw, suffix: str | None, skips: SkipCounter) -> Iterator[bytes | None]:
    """Plain bytes of a possibly compressed stream; a multi-member/multi-frame stream is read
    to its end. A stream cut short is counted once as `error:truncated`, a corrupt one as
    `error:bad_compression`, after every decodable byte; then a final None tells the caller
    to drop its partial line."""
    if suffix is None:
        while chunk := raw.read(CHUNK_BYTES):
            yield chunk
        return
    factory = DECOMPRESSORS[suffix]
    decompressor = factory()
    while chunk := raw.read(CHUNK_BYTES):
        try:
            while chunk:
                if decompressor.eof:  # the previous member ended: the next one starts here
                    decompressor = factory()
                yield decompressor.decompress(chunk)
                chunk = decompressor.unused_data if decompressor.eof else b""
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zstandard.ZstdError):
            skips.skip("error:bad_compression")
            yield None
            return
    if not decompressor.eof:  # also a 0-byte file: not a valid stream of any codec
        skips.skip("error:truncated")
        yield None


def iter_lines(path: str, skips: SkipCounter) -> Iterator[tuple[int, bytes]]:
    """(0-based line number, line bytes without the newline) for every complete line.

    The last line of a complete stream counts even without a final newline; the partial last
    line of a broken stream does not (its loss is the counted error).
    """
    line_number = 0
    pending: list[bytes] = []  # pieces of the line in progress (a line may span many chunks)
    with fsspec.open(path, "rb") as raw:
        for data in _decompressed_chunks(raw, compression_suffix(path), skips):
            if data is None:
                return
            if b"\n" not in data:
                pending.append(data)
                continue
            lines = data.split(b"\n")
            pending.append(lines[0])
            lines[0] = b"".join(pending)
            pending = [lines.pop()]
            for line in lines:
                yield line_number, line
                line_number += 1
    tail = b"".join(pending)
    if tail:
        yield line_number, tail


def iter_json_records(path: str, skips: SkipCounter) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON value); blank lines are not records, bad JSON is counted."""
    for line_number, line in iter_lines(path, skips):
        if not line.strip():
            continue
        try:
            yield line_number, orjson.loads(line)
        except orjson.JSONDecodeError:
            skips.skip("error:bad_json")


# --------------------------------------------------------------------------- Parquet


def iter_parquet_records(
    path: str, skips: SkipCounter, *, columns: list[str] | None, batch_rows: int
) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row_number = 0
    with fsspec.open(path, "rb") as raw:
        try:
            parquet = pq.ParquetFile(raw)
            if columns is not None:
                present = set(parquet.schema_arrow.names)
                columns = [c for c in columns if c in present]
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                for row in batch.to_pylist():
                    yield row_number, row
                    row_number += 1
        except (pa.ArrowException, OSError):
            skips.skip("error:bad_parquet")


def _top_level(field: str) -> str:
    return field.split(".", 1)[0]


def _parquet_columns(options: Options) -> list[str] | None:
    """Columns to read, or None for all (default meta needs every column)."""
    if options.meta_fields is None:
        return None
    fields = [options.text_field, *options.meta_fields]
    fields += [options.url_field] if options.url_field else list(DEFAULT_URL_FIELDS)
    if options.id_field:
        fields.append(options.id_field)
    return sorted({_top_level(f) for f in fields})


def is_parquet(path: str, options: Options) -> bool:
    if options.format != "auto":
        return options.format == "parquet"
    return path.lower().endswith((".parquet", ".pq"))


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter
) -> Iterator[dict]:
    """Documents of one JSON Lines or Parquet file (see the module docstring)."""
    mapper = RecordMapper(options, source, file_key, path)
    if is_parquet(path, options):
        records = iter_parquet_records(
            path, skips, columns=_parquet_columns(options), batch_rows=options.batch_rows
        )
    else:
        records = iter_json_records(path, skips)
    for record_number, record in records:
        doc = mapper.document(record, record_number, skips)
        if doc is not None:
            yield doc
