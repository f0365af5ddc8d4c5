"""Generic record readers: JSON Lines (kind `jsonl`) and Parquet (kind `parquet`).

Formats are told apart by content first and by extension second, so a `.json` that is really
gzip, an extension-less download or a doubly compressed `.gz.gz` all read right:
- JSON Lines: one JSON object per line, plain or gzip / zstd / bz2 / xz (magic bytes; `.lzma`
  by extension). Multi-member / multi-frame streams are read to their end; a UTF-8 BOM, CRLF
  line ends and blank lines are fine. A file whose first non-space byte is `[` is one JSON array
  of records (`datasets` `to_json(lines=False)`, pandas `orient="records"`), read whole.
- Parquet (`PAR1` magic, `.parquet`/`.pq`) and Arrow IPC (`.arrow`, `datasets.save_to_disk`):
  read one batch of rows at a time, so memory stays flat whatever the file size.

Field names are options; a dotted name walks nested objects (`metadata.url` in Dolma, `meta.url`
in RedPajama, `warc_headers.warc-target-uri` in OSCAR), and only a dotted name does. A `meta` or
`metadata` field holding a JSON object *string* (RedPajama-V2 exports) is read as that object.

Every record that does not become a document is counted in `skips` by a stable reason:
`record_not_object`, `record_missing_text` (absent or null), `record_text_not_string`,
`record_empty_text`, `error:bad_json`. A broken tail counts once, after every complete record:
`error:truncated` (stream or unterminated last line cut), `error:bad_compression`,
`error:bad_parquet`. A 0-byte file counts `empty_file`. A text field absent from every record
(the first 100, or a whole smaller file) raises `TextFieldError` naming the option and the
fields present: a million `record_missing_text` would hide a configuration error.

Decompression is done here chunk by chunk rather than through `gzip.open`, so that a cut stream
yields every complete line first and then exactly one counted error, identically for all codecs.
"""
from __future__ import annotations

import base64
import bz2
import datetime as dt
import decimal
import itertools
import json
import lzma
import math
import zlib
from typing import Any, Callable, Iterable, Iterator, Literal

import fsspec
import orjson
import pydantic
import zstandard

from corpora.schema import InputError, SkipCounter, make_doc_id

CHUNK_BYTES = 1 << 20

# url_field=None tries these in order: plain records (C4, FineWeb, CCNet), Dolma, RedPajama, OSCAR.
DEFAULT_URL_FIELDS = ("url", "metadata.url", "meta.url", "warc_headers.warc-target-uri")
# Where other corpora keep their text: named in the error when `text_field` is absent.
KNOWN_TEXT_FIELDS = ("text", "raw_content", "content", "contents", "document", "body")
# Records without the text field before the field counts as misconfigured (when none had it).
MAX_RECORDS_WITHOUT_TEXT_FIELD = 100


class TextFieldError(InputError):
    """The configured text field is in no record of the file, or is not a text column."""


class Options(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    format: Literal["auto", "jsonl", "parquet", "arrow"] = "auto"
    """`auto`: Parquet (`.parquet`/`.pq` or `PAR1` magic), Arrow IPC (`.arrow` or its magic),
    everything else JSON Lines (or one JSON array)."""
    text_field: str = "text"
    """`raw_content` for CCNet / RedPajama-V2, `content` for The Stack and OSCAR."""
    id_field: str | None = None
    """When set, id = make_doc_id(source, file_key, <value>); a record without it gets an id
    derived from its record number, and a repeated value gets its occurrence appended, so ids
    stay unique within the file (the original value stays in meta). When unset, the record's
    line/row number (0-based) is the key."""
    url_field: str | None = None
    """When unset, tries DEFAULT_URL_FIELDS in order."""
    meta_fields: tuple[str, ...] | None = None
    """Fields copied into meta (any value, made JSON-able). Unset: every scalar field other than
    the text and url fields, plus the scalar fields of nested objects as dotted keys."""
    batch_rows: int = pydantic.Field(default=1024, gt=0)
    """Parquet/Arrow rows decoded per batch (bounded memory)."""


# --------------------------------------------------------------------------- values

_ABSENT = object()  # a field that is not in the record (null is a present None)


def lookup(record: dict, field: str) -> Any:
    """`record[field]`, or a walk along a dotted path (`metadata.url`); _ABSENT when absent."""
    value = record.get(field, _ABSENT)
    if value is not _ABSENT or "." not in field:
        return value
    value = record
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _clean_str(text: str) -> str:
    """Lone surrogates (from `\\ud800`-style escapes) cannot be encoded to UTF-8: U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def jsonable(value: Any) -> Any:
    """A value json.dumps and Arrow accept: timestamps -> ISO text, Decimal -> float, bytes ->
    UTF-8 text (else base64), numpy -> Python, NaN/inf -> None, containers recursively."""
    kind = type(value)
    if kind is str:
        return _clean_str(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return _clean_str(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(bytes(value)).decode()
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return jsonable(value.tolist())
    for plain in (bool, int, float, str):  # subclasses: IntEnum, str enums...
        if isinstance(value, plain):
            return jsonable(plain(value))
    return str(value)


def default_meta(record: dict, exclude: set[str]) -> dict[str, Any]:
    """Scalar fields, and scalar fields of nested objects as `parent.child` (one level).
    Inlined type tests: this runs for every field of every record."""
    meta: dict[str, Any] = {}
    for key, value in record.items():
        if key in exclude:
            continue
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            meta[key] = value
        elif kind is float:
            meta[key] = value if value - value == 0 else None  # NaN and inf are not JSON
        elif kind is dict:
            for sub_key, sub_value in value.items():
                sub_kind = type(sub_value)
                if sub_kind is list or sub_kind is dict or sub_value is None:
                    continue
                dotted = f"{key}.{sub_key}"
                if dotted in exclude:
                    continue
                if sub_kind is str or sub_kind is int or sub_kind is bool:
                    meta[dotted] = sub_value
                elif sub_kind is float:
                    meta[dotted] = sub_value if sub_value - sub_value == 0 else None
                elif _is_scalar(sub_value):
                    meta[dotted] = jsonable(sub_value)
        elif kind is not list and value is not None and _is_scalar(value):
            meta[key] = jsonable(value)
    return meta


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple)) and getattr(value, "ndim", 0) == 0


def _json_object_fields(record: dict) -> None:
    """RedPajama-V2-style exports keep `meta` as a JSON object string: read it as the object."""
    for key in ("meta", "metadata"):
        value = record.get(key)
        if type(value) is str and value.startswith("{"):
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if type(parsed) is dict:
                record[key] = parsed


def _record_key(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(jsonable(value), sort_keys=True)
    return str(jsonable(value))


class RecordMapper:
    """Turns one decoded record into a document dict, or a counted skip reason."""

    def __init__(self, options: Options, source: str, file_key: str, path: str):
        self.options = options
        self.text_field = options.text_field
        self.source = source
        self.file_key = file_key
        self.path = path
        self.url_fields = (options.url_field,) if options.url_field else DEFAULT_URL_FIELDS
        self.exclude = {options.text_field, *self.url_fields}
        self.num_with_text_field = 0
        self.num_without_text_field = 0
        self.first_fields: list[str] | None = None
        self.seen_ids: dict[str, int] = {}  # id value -> occurrences (only with id_field)

    def document(self, record: Any, record_number: int, skips: SkipCounter) -> dict | None:
        if type(record) is not dict:
            skips.skip("record_not_object")
            return None
        _json_object_fields(record)
        text = lookup(record, self.text_field)
        if type(text) is not str:
            if isinstance(text, (bytes, bytearray)):  # a binary text column
                text = bytes(text).decode("utf-8", "replace")
            else:
                return self._no_text(record, text, skips)
        self.num_with_text_field += 1
        if not text.strip():
            skips.skip("record_empty_text")
            return None
        doc: dict[str, Any] = {
            "id": make_doc_id(self.source, self.file_key, self._key(record, record_number)),
            "text": text,
            "path": f"{self.path}#{record_number}",
        }
        for field in self.url_fields:
            url = lookup(record, field)
            if type(url) is str and url:
                doc["url"] = url
                break
        if self.options.meta_fields is None:
            doc["meta"] = default_meta(record, self.exclude)
        else:
            meta = {}
            for field in self.options.meta_fields:
                value = lookup(record, field)
                if value is not _ABSENT and value is not None:
                    meta[field] = jsonable(value)
            doc["meta"] = meta
        return doc

    def _no_text(self, record: dict, text: Any, skips: SkipCounter) -> None:
        if text is _ABSENT:
            skips.skip("record_missing_text")
            if self.num_with_text_field == 0:
                self.num_without_text_field += 1
                self.first_fields = self.first_fields or list(record)
                if self.num_without_text_field >= MAX_RECORDS_WITHOUT_TEXT_FIELD:
                    self.raise_missing_text_field()
            return None
        self.num_with_text_field += 1
        skips.skip("record_missing_text" if text is None else "record_text_not_string")
        return None

    def raise_missing_text_field(self, fields: Iterable[str] | None = None) -> None:
        present = list(fields if fields is not None else self.first_fields or [])
        likely = [f for f in KNOWN_TEXT_FIELDS if f in present]
        hint = f" (likely {likely[0]!r})" if likely else ""
        raise TextFieldError(
            f"{self.path}: no record has the text field {self.text_field!r}; set `text_field` "
            f"in the source's options to one of the fields present{hint}: {', '.join(present)}"
        )

    def finish(self) -> None:
        """At the end of a file: were all its records without the text field?"""
        if self.num_with_text_field == 0 and self.num_without_text_field > 0:
            self.raise_missing_text_field()

    def _key(self, record: dict, record_number: int) -> str:
        if self.options.id_field is None:
            return str(record_number)
        value = lookup(record, self.options.id_field)
        if value is _ABSENT or value is None or value == "":
            return f"\x00record:{record_number}"  # \x00: never equal to a real id value
        key = _record_key(value)
        occurrences = self.seen_ids.get(key, 0)
        self.seen_ids[key] = occurrences + 1
        return key if occurrences == 0 else f"{key}\x00dup:{occurrences}"


# --------------------------------------------------------------------------- decompression


def _gzip_decompressor():
    return zlib.decompressobj(wbits=47)  # 32 + 15: accept gzip or zlib headers


def _zstd_decompressor():
    # max_window_size: files written with `zstd --long=31` need up to a 2 GiB window
    return zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj()


DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    ".gz": _gzip_decompressor,
    ".gzip": _gzip_decompressor,
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
    ".lzma": lzma.LZMADecompressor,
    ".zst": _zstd_decompressor,
    ".zstd": _zstd_decompressor,
}
MAGIC = ((b"\x1f\x8b", ".gz"), (b"\x28\xb5\x2f\xfd", ".zst"), (b"BZh", ".bz2"),
         (b"\xfd7zXZ\x00", ".xz"))
_CODEC_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def compression_suffix(path: str) -> str | None:
    """The compression the file name says (case-insensitive), or None."""
    lowered = path.lower()
    for suffix in DECOMPRESSORS:
        if lowered.endswith(suffix):
            return suffix
    return None


def _peek(chunks: Iterator[bytes | None], size: int) -> tuple[bytes, Iterator[bytes | None]]:
    """The first `size` bytes (fewer at the end or at a None) and the unchanged stream."""
    head: list[bytes] = []
    num_bytes = 0
    for chunk in chunks:
        head.append(chunk)
        if chunk is None:
            break
        num_bytes += len(chunk)
        if num_bytes >= size:
            break
    data = b"".join(c for c in head if c)
    return data[:size], itertools.chain(head, chunks)


def _decompress(chunks: Iterator[bytes | None], suffix: str, skips: SkipCounter):
    factory = DECOMPRESSORS[suffix]
    decompressor = factory()
    for chunk in chunks:
        if chunk is None:  # the layer below was cut: its loss is counted there
            yield None
            return
        try:
            while chunk:
                if decompressor.eof:  # the previous member ended: the next one starts here
                    if not chunk.strip(b"\x00"):  # zero padding after the last member
                        break
                    decompressor = factory()
                yield decompressor.decompress(chunk)
                chunk = decompressor.unused_data if decompressor.eof else b""
        except _CODEC_ERRORS:
            skips.skip("error:bad_compression")
            yield None
            return
    if not decompressor.eof:
        skips.skip("error:truncated")
        yield None


def plain_chunks(raw, path: str, skips: SkipCounter) -> Iterator[bytes | None]:
    """Plain bytes of a possibly (multiply) compressed stream, codec by magic bytes; a None
    marks a broken stream (already counted) after its last decodable byte."""
    chunks: Iterator[bytes | None] = iter(lambda: raw.read(CHUNK_BYTES), b"")
    head, chunks = _peek(chunks, 6)
    if not head:
        skips.skip("empty_file")
        return iter(())
    suffix = None
    for _ in range(4):  # a doubly compressed `.gz.gz` is unwrapped layer by layer
        suffix = next((s for magic, s in MAGIC if head.startswith(magic)), None)
        if suffix is None:
            break
        head, chunks = _peek(_decompress(chunks, suffix, skips), 6)
    if suffix is None and head and compression_suffix(path) == ".lzma":  # no magic bytes
        head, chunks = _peek(_decompress(chunks, ".lzma", skips), 6)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path} is UTF-16 text; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)")
    return chunks


# --------------------------------------------------------------------------- JSON


def _loads(line: bytes) -> Any:
    """orjson, else the lenient stdlib parser: NaN/Infinity, lone surrogate escapes, invalid
    UTF-8 bytes (replaced by U+FFFD), integers beyond 64 bits. Raises ValueError if neither."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _clean_strings(json.loads(line.decode("utf-8", "replace")))


def _clean_strings(value: Any) -> Any:
    if type(value) is str:
        return _clean_str(value)
    if type(value) is dict:
        return {key: _clean_strings(item) for key, item in value.items()}
    if type(value) is list:
        return [_clean_strings(item) for item in value]
    return value


def _lines(chunks: Iterator[bytes | None]) -> Iterator[tuple[int, bytes, bool]]:
    """(0-based line number, line without its newline, terminated?) for every line; the partial
    last line of a broken stream is dropped (its loss is the counted error)."""
    line_number = 0
    pending: list[bytes] = []  # pieces of the line in progress (a line may span many chunks)
    for data in chunks:
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
            yield line_number, line, True
            line_number += 1
    tail = b"".join(pending)
    if tail:
        yield line_number, tail, False


_BOM = b"\xef\xbb\xbf"


def _strip_bom(chunks: Iterator[bytes | None]) -> Iterator[bytes | None]:
    head, chunks = _peek(chunks, 3)
    return _drop_bytes(chunks, 3) if head == _BOM else chunks


def _drop_bytes(chunks: Iterator[bytes | None], count: int) -> Iterator[bytes | None]:
    for chunk in chunks:
        if count > 0 and chunk:
            chunk, count = chunk[count:], count - len(chunk)
        yield chunk


def iter_json_records(path: str, skips: SkipCounter) -> Iterator[tuple[int, Any]]:
    """(record number, decoded JSON value): line numbers for JSON Lines, indexes for a JSON
    array file. Blank lines are not records; bad JSON is counted, the rest kept."""
    with fsspec.open(path, "rb") as raw:
        chunks = _strip_bom(plain_chunks(raw, path, skips))
        head, chunks = _peek_non_space(chunks)
        if head == b"[":
            yield from _array_records(chunks, skips)
        else:
            yield from _line_records(chunks, skips)


def _line_records(chunks: Iterator[bytes | None], skips: SkipCounter):
    for line_number, line, terminated in _lines(chunks):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except ValueError:  # orjson.JSONDecodeError and json's are ValueErrors
            skips.skip("error:bad_json" if terminated else "error:truncated")
            continue
        yield line_number, value


def _peek_non_space(chunks: Iterator[bytes | None]) -> tuple[bytes, Iterator[bytes | None]]:
    """The first non-whitespace byte of the stream (b"" if none) and the unchanged stream."""
    seen: list[bytes | None] = []
    for chunk in chunks:
        seen.append(chunk)
        if chunk is None:
            break
        stripped = chunk.lstrip()
        if stripped:
            return stripped[:1], itertools.chain(seen, chunks)
    return b"", itertools.chain(seen, chunks)


def _array_records(chunks: Iterator[bytes | None], skips: SkipCounter):
    """One JSON array of records, parsed whole. If it does not parse, it was JSON Lines whose
    first line is a list (or a cut array): the same bytes are read line by line."""
    pieces = list(chunks)
    data = b"".join(p for p in pieces if p is not None)
    try:
        records = _loads(data) if pieces[-1:] != [None] else None
    except ValueError:
        records = None
    if type(records) is list:
        yield from enumerate(records)
    else:
        yield from _line_records(iter(pieces), skips)


# --------------------------------------------------------------------------- Parquet, Arrow

_TEXT_TYPES = ("string", "large_string", "string_view", "binary", "large_binary", "null")


def _check_text_column(schema, num_rows: int, mapper: RecordMapper) -> None:
    """A wrong `text_field` is an error naming the columns present, not a skip per row."""
    import pyarrow as pa

    names, field = schema.names, mapper.text_field
    if field not in names:
        nested = "." in field and field.split(".", 1)[0] in names
        if num_rows and not nested:
            mapper.raise_missing_text_field(names)
        return
    kind = schema.field(field).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if num_rows and str(kind) not in _TEXT_TYPES:
        raise TextFieldError(
            f"{mapper.path}: text column {field!r} has type {kind}, not a string; set "
            f"`text_field` in the source's options to a string column of: {', '.join(names)}")


def iter_table_records(path: str, skips: SkipCounter, *, arrow: bool, columns: list[str] | None,
                       batch_rows: int, mapper: RecordMapper) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet as pq

    row_number = 0
    with fsspec.open(path, "rb") as raw:
        try:
            if arrow:
                batches, schema, num_rows = _arrow_batches(pa, raw)
            else:
                parquet = pq.ParquetFile(raw)
                schema, num_rows = parquet.schema_arrow, parquet.metadata.num_rows
            _check_text_column(schema, num_rows, mapper)
            if columns is not None:
                columns = [c for c in columns if c in schema.names]
            if not arrow:
                batches = parquet.iter_batches(batch_size=batch_rows, columns=columns)
            for batch in batches:
                for row in batch.to_pylist():
                    yield row_number, row
                    row_number += 1
        except (pa.ArrowException, OSError):
            skips.skip("error:bad_arrow" if arrow else "error:bad_parquet")


def _arrow_batches(pa, raw):
    """Arrow IPC stream (what `datasets` writes) or file format."""
    try:
        reader = pa.ipc.open_stream(raw)
        return reader, reader.schema, 1  # row count unknown up front: check the schema anyway
    except pa.ArrowInvalid:
        raw.seek(0)
        reader = pa.ipc.open_file(raw)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        return batches, reader.schema, 1


def _parquet_columns(options: Options) -> list[str] | None:
    """Columns to read, or None for all (default meta needs every column)."""
    if options.meta_fields is None:
        return None
    fields = [options.text_field, *options.meta_fields]
    fields += [options.url_field] if options.url_field else list(DEFAULT_URL_FIELDS)
    if options.id_field:
        fields.append(options.id_field)
    return sorted({f.split(".", 1)[0] for f in fields})


def detect_format(path: str, options: Options) -> str:
    """`jsonl`, `parquet` or `arrow`: the option, else the magic bytes, else the extension."""
    if options.format != "auto":
        return options.format
    lowered = path.lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith(".arrow"):
        return "arrow"
    with fsspec.open(path, "rb") as raw:
        head = raw.read(6)
    if head.startswith(b"PAR1"):
        return "parquet"
    return "arrow" if head.startswith((b"ARROW1", b"\xff\xff\xff\xff")) else "jsonl"


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter
) -> Iterator[dict]:
    """Documents of one JSON Lines, JSON array, Parquet or Arrow file (see the module docstring)."""
    mapper = RecordMapper(options, source, file_key, path)
    kind = detect_format(path, options)
    if kind == "jsonl":
        records = iter_json_records(path, skips)
    else:
        records = iter_table_records(path, skips, arrow=kind == "arrow", mapper=mapper,
                                     columns=_parquet_columns(options),
                                     batch_rows=options.batch_rows)
    for record_number, record in records:
        doc = mapper.document(record, record_number, skips)
        if doc is not None:
            yield doc
    mapper.finish()
