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
`record_empty_text`, `error:bad_json`, `record_too_large` (a line over `max_record_bytes`, never held
in memory). A broken tail counts once, after every complete record:
`error:truncated` (stream or unterminated last line cut), `error:bad_compression`,
`error:decompression_bomb` (past `max_decompression_ratio`),
`error:bad_parquet`. A 0-byte file counts `empty_file`. A text field absent from every record
(the first 100, or a whole smaller file) raises `TextFieldError` naming the option and the
fields present: a million `record_missing_text` would hide a configuration error.

Decompression is done here chunk by chunk rather than through `gzip.open`, so that a cut stream
yields every complete line first and then exactly one counted error, identically for all codecs.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Literal

import fsspec
import pydantic

from corpora.json_records import DEFAULT_MAX_DECOMPRESSION_RATIO, iter_json_records
from corpora.record_values import ABSENT, default_meta, json_object_fields, jsonable, lookup, record_key
from corpora.schema import InputError, SkipCounter, Strict, make_doc_id

# url_field=None tries these in order: plain records (C4, FineWeb, CCNet), Dolma, RedPajama, OSCAR.
DEFAULT_URL_FIELDS = ("url", "metadata.url", "meta.url", "warc_headers.warc-target-uri")
# Where other corpora keep their text: named in the error when `text_field` is absent.
KNOWN_TEXT_FIELDS = ("text", "raw_content", "content", "contents", "document", "body")
# Records without the text field before the field counts as misconfigured (when none had it).
MAX_RECORDS_WITHOUT_TEXT_FIELD = 100


class TextFieldError(InputError):
    """The configured text field is in no record of the file, or is not a text column."""


class Options(Strict):
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
    max_record_bytes: int = pydantic.Field(default=64 << 20, gt=0)
    """A JSON Lines line longer than this is skipped as `record_too_large` without being held in
    memory (bounded memory per document)."""
    max_decompression_ratio: float | None = pydantic.Field(default=DEFAULT_MAX_DECOMPRESSION_RATIO, gt=1)
    """A compressed file whose plain bytes pass this many per compressed byte read (after the first
    64 MiB) is a decompression bomb: reading stops there, counted `error:decompression_bomb`, and
    the records before it are kept. Real JSON Lines compress 3-10:1; null: no limit."""


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
        json_object_fields(record)
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
                if value is not ABSENT and value is not None:
                    meta[field] = jsonable(value)
            doc["meta"] = meta
        return doc

    def _no_text(self, record: dict, text: Any, skips: SkipCounter) -> None:
        if text is ABSENT:
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
        if value is ABSENT or value is None or value == "":
            return f"\x00record:{record_number}"  # \x00: never equal to a real id value
        key = record_key(value)
        occurrences = self.seen_ids.get(key, 0)
        self.seen_ids[key] = occurrences + 1
        return key if occurrences == 0 else f"{key}\x00dup:{occurrences}"


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
        records = iter_json_records(path, skips, options.max_record_bytes, options.max_decompression_ratio)
    else:
        records = iter_table_records(path, skips, arrow=kind == "arrow", mapper=mapper,
                                     columns=_parquet_columns(options),
                                     batch_rows=options.batch_rows)
    for record_number, record in records:
        doc = mapper.document(record, record_number, skips)
        if doc is not None:
            yield doc
    mapper.finish()
