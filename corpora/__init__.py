"""Sources -> documents. No Ray here: each reader is a plain generator over one input.

Reader contract (one module per source kind, registered in READER_MODULES):

    class Options(pydantic.BaseModel)        # model_config = ConfigDict(extra="forbid", frozen=True)
        ...                                   # the kind's options, all with sensible defaults

    def iter_documents(path: str, *, source: str, file_key: str,
                       options: Options, skips: SkipCounter) -> Iterator[dict]

`path` is a local path or fsspec URL of one input (a file; for `code`, also a directory tree).
`file_key` is the stable, mount-independent name of that input used in document ids
(`make_doc_id(source, file_key, record_key)`). Each yielded dict has `id`, `text`, and `url` or
`path`, plus `meta` (a JSON-able dict). Records that are not documents are counted in `skips` by a
stable reason code and never silently dropped; a broken tail of a file (clipped record, truncated
compression stream) is counted as `error:<kind>` after every complete record has been yielded.
An input that is not of the kind at all, or options no record fits, raise `InputError` (with the
fix in its message): the build stops there instead of counting it.

Optionally, a reader whose format can be cut into independent pieces also offers

    def split_ranges(path: str, size_bytes: int, target_bytes: int) -> list[tuple[int, int]] | None

and then accepts `byte_range=(start, end)` in `iter_documents`: each range yields a disjoint part
of the file's documents, and together they yield exactly what the whole file does (the Wikipedia
reader does this for multistream .bz2 dumps; see corpora/bz2_streams.py).

Optionally, a reader whose inputs are not simply a folder's files with its suffixes offers

    def directory_inputs(fs, directory: str, suffixes: tuple[str, ...]) -> list[str]

and pipelines/inputs.py lists a folder given in a recipe through it (the papers reader: a folder
holding a `.tex` file is one unpacked paper, other folders contribute the e-prints inside them).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from corpora.archive_compression import TAR_SUFFIXES
from corpora.schema import (
    DOCUMENT_SCHEMA,
    InputError,
    SkipCounter,
    Strict,
    batched_tables,
    documents_to_table,
    make_doc_id,
)

READER_MODULES = {
    "commoncrawl": "corpora.commoncrawl",
    "wikipedia": "corpora.wikipedia",
    "code": "corpora.code",
    "books": "corpora.books",
    "papers": "corpora.papers",
    "jsonl": "corpora.records",
    "parquet": "corpora.records",
}

SOURCE_KINDS = tuple(READER_MODULES)

_JSON_LINES = tuple(f"{name}{codec}" for name in (".jsonl", ".ndjson") for codec in ("", ".gz", ".zst", ".bz2", ".xz"))
# Which files a directory input contributes, per source kind (pipelines.inputs lists a source's
# directories with these; a glob or an explicit file is taken as is). The one list: readers that
# tell archives by name use the same constants (corpora.archive_compression.TAR_SUFFIXES).
DIRECTORY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "commoncrawl": (".warc", ".warc.gz", ".warc.zst", ".warc.bz2", ".warc.xz", ".arc", ".arc.gz",
                    ".wet", ".wet.gz", ".wet.zst"),
    "wikipedia": (".xml", ".xml.bz2", ".xml.xz", ".xml.gz", ".xml.zst", ".bz2", ".xz"),
    "books": (".txt", ".txt.gz", ".txt.bz2", ".txt.xz", ".txt.zst", ".txt.utf-8", ".txt.utf8", ".zip"),
    # Not ".json": a repository tree holds package.json and friends, and a directory with no
    # archive or JSON Lines file in it is read as one repository tree.
    "code": (*TAR_SUFFIXES, ".zip", *_JSON_LINES),
    "jsonl": (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".jsonl.bz2",
              ".json.bz2", ".jsonl.xz", ".json.xz", ".jsonl.lzma"),
    "parquet": (".parquet", ".pq", ".arrow"),
    # arXiv's bare `.gz` is a gzipped tar or a gzipped .tex (told apart by corpora.papers_bundle)
    "papers": (".tar.gz", ".tgz", ".tar", ".gz", ".tex", ".tar.bz2", ".tar.xz"),
}
# What text each kind yields: web pages, curated prose (one language per document, named in its
# meta), source code or papers (LaTeX e-prints). The quality filters' per-kind defaults key on it (pipelines.filters).
TEXT_PROFILES: dict[str, str] = {
    "commoncrawl": "web",
    "wikipedia": "curated",
    "code": "code",
    "books": "curated",
    "papers": "papers",
    "jsonl": "web",
    "parquet": "web",
}
assert set(DIRECTORY_SUFFIXES) == set(TEXT_PROFILES) == set(READER_MODULES)


def reader_for(kind: str) -> ModuleType:
    """The reader module for a source kind (imported lazily: each pulls in its own parser)."""
    try:
        return importlib.import_module(READER_MODULES[kind])
    except KeyError:
        raise ValueError(
            f"unknown source kind {kind!r}; choose one of {', '.join(SOURCE_KINDS)}"
        ) from None


__all__ = [
    "DIRECTORY_SUFFIXES",
    "DOCUMENT_SCHEMA",
    "InputError",
    "READER_MODULES",
    "SOURCE_KINDS",
    "TEXT_PROFILES",
    "SkipCounter",
    "Strict",
    "batched_tables",
    "documents_to_table",
    "make_doc_id",
    "reader_for",
]
