"""Source code -> documents, one per file.

Inputs (local paths or fsspec URLs): a directory tree; a `.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`,
`.tar.xz` or `.zip` archive; or a JSON Lines file of files (`.jsonl`/`.json`, optionally
compressed) with one object per file: `content` (or `text`), `path`, and optionally `repo`
(or `package`, `repository`, `repo_name`), `language`, `license`/`licence`.

Archives are read in memory, member by member, and never extracted: entries whose path is
absolute or climbs out of the root (`..`), and links that point outside it, are refused and
counted (`code_unsafe_path`).

A directory or archive is read as git would track it (`respect_gitignore`, default on, since a
working checkout holds build outputs, virtual environments and caches that are nobody's code):
its `.gitignore` files, each for its own subtree, and `.git/info/exclude` (corpora.code_sources
tells how ignored folders are pruned and counted). JSONL inputs have no tree and no such rules.

Jupyter notebooks (`.ipynb`) follow `notebooks`. The default, "script", turns each into its code
cells in order with markdown as comments (corpora.code_notebooks), the form StarCoder trained on:
the JSON form spends most of its tokens on outputs, base64 images, metadata and escaped quotes,
and skipping notebooks loses much of the R, Julia and data-science Python in real repositories.
"raw" keeps the JSON text (for training on structured notebooks), "skip" counts them. Either way
the `languages` allow-list applies to the kernel's language, which is the document's language in
"script" form ("raw" documents are "Jupyter Notebook").

Every file that does not become a document is counted by one stable reason, the first that
applies, in this order:

    code_unsafe_path, code_gitignored_directory (once per pruned folder), code_gitignored,
    code_link, code_not_regular_file, code_vcs, code_vendored, code_build_artifact (__pycache__/,
    *.pyc, *.class, *.o, *.so...: never read),
    code_generated (lock files, *_pb2.py...), code_unknown_language, code_notebook_skipped,
    code_language_excluded, code_minified (*.min.js), code_too_large, code_empty, code_binary
    (NUL byte), code_not_utf8, code_bad_notebook (not JSON, no cells), code_unknown_language
    (a kernel outside corpora.code_notebooks.NOTEBOOK_LANGUAGES), code_language_excluded (the
    kernel's), code_empty (whitespace only; a notebook without code), code_too_large (a
    notebook's script), code_generated (header), code_minified (content)

A truncated or corrupt archive is counted once as `error:bad_archive` after every member that
could be read. meta: repo, path (within the repo), language, license (SPDX where recognised:
from the JSONL field, or a LICENSE/COPYING file at the root), size (bytes).
"""
from __future__ import annotations

import codecs
import posixpath
from typing import Iterator, Literal

import pydantic

from corpora.code_languages import (
    DEFAULT_LANGUAGES,
    KNOWN_LANGUAGES,
    detect_language,
    has_generated_header,
    is_minified_name,
    is_minified_text,
    language_from_shebang,
    may_have_shebang,
    path_skip_reason,
)
from corpora.code_licenses import normalize_license_name
from corpora.code_notebooks import (
    NOTEBOOK_LANGUAGE,
    BadNotebook,
    notebook_language,
    notebook_to_script,
    parse_notebook,
)
from corpora.code_sources import iter_directory, iter_tar, iter_zip
from corpora.archive_compression import TAR_SUFFIXES
from corpora.json_records import compression_suffix, iter_json_records
from corpora.schema import SkipCounter, Strict, make_doc_id

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")

CONTENT_FIELDS = ("content", "text")
PATH_FIELDS = ("path", "filepath", "file_path")
REPO_FIELDS = ("repo", "repository", "repo_name", "package")
LICENSE_FIELDS = ("license", "licence", "licenses")
EXTRA_META_FIELDS = ("registry", "version")


class Options(Strict):
    repo: str | None = None
    """Repository name in meta; default: the JSONL's field, else the directory or archive name."""
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    """Languages kept (names as in corpora.code_languages, e.g. "Python", "C++")."""
    max_file_bytes: int = pydantic.Field(default=1_000_000, gt=0)
    minified_avg_line_chars: int = pydantic.Field(default=200, gt=0)
    minified_max_whitespace_fraction: float = pydantic.Field(default=0.06, ge=0.0, le=1.0)
    minified_max_line_chars: int = pydantic.Field(default=20_000, gt=0)
    """A file with a longer line is counted `code_minified` (hand-written code stays far below)."""
    respect_gitignore: bool = True
    """Skip what the tree's .gitignore files and .git/info/exclude ignore (trees, archives)."""
    notebooks: Literal["skip", "script", "raw"] = "script"
    """Jupyter notebooks: code cells with markdown as comments, the JSON text, or counted only."""
    max_notebook_bytes: int = pydantic.Field(default=20_000_000, gt=0)
    """Largest .ipynb file read; outputs (plots as base64) make notebooks large. Its script must
    still fit in max_file_bytes."""

    @pydantic.field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        if any(name.lower() == NOTEBOOK_LANGUAGE.lower() for name in languages):
            raise ValueError(
                f"{NOTEBOOK_LANGUAGE!r} is no longer a language to list: notebooks are read by "
                "their kernel's language (e.g. Python); set `notebooks: raw` for the JSON text, "
                "`notebooks: script` (the default) for code cells, `notebooks: skip` for none"
            )
        by_lower = {name.lower(): name for name in KNOWN_LANGUAGES}
        unknown = [name for name in languages if name.lower() not in by_lower]
        if unknown:
            raise ValueError(
                f"unknown language(s) {unknown}; use names from corpora.code_languages, "
                f"e.g. {', '.join(sorted(KNOWN_LANGUAGES)[:12])}, ..."
            )
        return tuple(by_lower[name.lower()] for name in languages)


class FileGate:
    """Applies the skip rules in their fixed order; returns a reason code or None."""

    def __init__(self, options: Options):
        self.options = options
        self.allowed = frozenset(options.languages)

    def before_read(self, path_in_repo: str, size: int) -> tuple[str | None, str | None]:
        """(reason, language) from the path and size alone, so skipped files are never read."""
        reason = path_skip_reason(path_in_repo)
        if reason:
            return reason, None
        language = detect_language(path_in_repo)
        if language is None:
            return "code_unknown_language", None
        if language == NOTEBOOK_LANGUAGE:  # its kernel's language is known once it is read
            return self.notebook_size(size), language
        return self.language_and_size(path_in_repo, language, size), language

    def notebook_size(self, size: int) -> str | None:
        if self.options.notebooks == "skip":
            return "code_notebook_skipped"
        if size > self.options.max_notebook_bytes:
            return "code_too_large"
        return "code_empty" if size == 0 else None

    def max_bytes(self, language: str) -> int:
        if language == NOTEBOOK_LANGUAGE:
            return self.options.max_notebook_bytes
        return self.options.max_file_bytes

    def admit_bytes(self, language: str, data: bytes) -> tuple[str | None, str | None, str | None]:
        """(reason, language, text) of a file's bytes; a notebook's language is its kernel's."""
        if language == NOTEBOOK_LANGUAGE:
            try:
                text = data.decode("utf-8-sig")  # JSON files are UTF-8
            except UnicodeDecodeError:
                return "code_not_utf8", None, None
            return self.notebook(text)
        reason, text = self.decode(data)
        return reason, language, text

    def notebook(self, text: str) -> tuple[str | None, str | None, str | None]:
        """(reason, language, text) of a notebook's JSON text, in the `notebooks` form."""
        try:
            notebook = parse_notebook(text)
        except BadNotebook:
            return "code_bad_notebook", None, None
        kernel_language = notebook_language(notebook)
        if kernel_language is None:
            return "code_unknown_language", None, None
        if kernel_language not in self.allowed:
            return "code_language_excluded", None, None
        if self.options.notebooks == "raw":
            return None, NOTEBOOK_LANGUAGE, text
        script = notebook_to_script(notebook, kernel_language)
        if not script:
            return "code_empty", None, None
        if len(script.encode("utf-8", "surrogatepass")) > self.options.max_file_bytes:
            return "code_too_large", None, None
        return self.check_text(script), kernel_language, script

    def language_and_size(self, path_in_repo: str, language: str, size: int) -> str | None:
        if language not in self.allowed:
            return "code_language_excluded"
        if is_minified_name(path_in_repo):
            return "code_minified"
        if size > self.options.max_file_bytes:
            return "code_too_large"
        if size == 0:
            return "code_empty"
        return None

    def decode(self, data: bytes) -> tuple[str | None, str | None]:
        """(reason, text)."""
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            # Windows tools save C#/PowerShell/.rc files as UTF-16 with a BOM: text, not binary
            # (its NUL bytes are the high halves of ASCII characters).
            try:
                text = data.decode("utf-16")
            except UnicodeDecodeError:
                return "code_binary", None
            return self.check_text(text), text
        if b"\x00" in data:
            return "code_binary", None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "code_not_utf8", None
        return self.check_text(text), text

    def check_text(self, text: str) -> str | None:
        if not text.strip():
            return "code_empty"
        if has_generated_header(text):
            return "code_generated"
        if has_line_longer_than(text, self.options.minified_max_line_chars):
            return "code_minified"  # one huge line: a bundle or data blob, whatever its spacing
        if is_minified_text(
            text,
            min_avg_line_chars=self.options.minified_avg_line_chars,
            max_whitespace_fraction=self.options.minified_max_whitespace_fraction,
        ):
            return "code_minified"
        return None


def has_line_longer_than(text: str, max_chars: int) -> bool:
    """Whether a line exceeds max_chars. Such a line covers a whole aligned block of max_chars/2
    characters, so only blocks without a newline (found at C speed) are measured exactly."""
    block = max(max_chars // 2, 1)
    for start in range(0, len(text) - block + 1, block):
        if text.find("\n", start, start + block) == -1:
            return max(map(len, text.split("\n"))) > max_chars
    return False


def _document(
    *, source: str, file_key: str, record_key: str, text: str, provenance: str, meta: dict
) -> dict:
    return {
        "id": make_doc_id(source, file_key, record_key),
        "text": text,
        "path": provenance,
        "meta": meta,
    }


def _meta(repo: str, path_in_repo: str, language: str, license: str | None, size: int) -> dict:
    meta = {"repo": repo, "path": path_in_repo, "language": language, "size": size}
    if license:
        meta["license"] = license
    return meta


def _strip_archive_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in (*TAR_SUFFIXES, ".zip"):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ----------------------------------------------------------------------------- input kinds


def input_kind(path: str) -> str:
    lowered = path.lower().rstrip("/")
    if lowered.endswith(TAR_SUFFIXES):
        return "tar"
    if lowered.endswith(".zip"):
        return "zip"
    suffix = compression_suffix(lowered)
    if (lowered[: -len(suffix)] if suffix else lowered).endswith(JSONL_SUFFIXES):
        return "jsonl"
    return "directory"


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter
) -> Iterator[dict]:
    """Documents of one code input (see the module docstring)."""
    kind = input_kind(path)
    gate = FileGate(options)
    if kind == "jsonl":
        yield from _iter_jsonl_files(path, source, file_key, options, gate, skips)
        return
    iter_files = {"directory": iter_directory, "tar": iter_tar, "zip": iter_zip}[kind]
    repo = options.repo or _strip_archive_suffix(posixpath.basename(path.rstrip("/")))
    tree = iter_files(path, gate, skips)
    license = next(tree)  # the sources read the root's licence files before any code file
    for candidate, language, text in tree:
        yield _document(
            source=source,
            file_key=file_key,
            record_key=candidate.path_in_repo,
            text=text,
            provenance=candidate.provenance,
            meta=_meta(repo, candidate.path_in_repo, language, license, len(text.encode())),
        )


def _first_field(record: dict, fields: tuple[str, ...]):
    for field in fields:
        value = record.get(field)
        if value is not None and value != "":
            return value
    return None


def _iter_jsonl_files(
    path: str, source: str, file_key: str, options: Options, gate: FileGate, skips: SkipCounter
) -> Iterator[dict]:
    for line_number, record in iter_json_records(path, skips):
        if not isinstance(record, dict):
            skips.skip("record_not_object")
            continue
        text = _first_field(record, CONTENT_FIELDS)
        path_in_repo = _first_field(record, PATH_FIELDS)
        if not isinstance(text, str) or not isinstance(path_in_repo, str):
            skips.skip("code_record_missing_field")
            continue
        repo = options.repo or str(_first_field(record, REPO_FIELDS) or "")
        size = len(text.encode("utf-8", "surrogatepass"))
        reason = path_skip_reason(path_in_repo)
        language, checked = None, False
        if reason is None:
            language = detect_language(path_in_repo) or record.get("language")
            if language is None and may_have_shebang(path_in_repo):
                language = language_from_shebang(text[:256].encode("utf-8", "replace"))
            if language is None or language not in KNOWN_LANGUAGES:
                reason = "code_unknown_language"
            elif language == NOTEBOOK_LANGUAGE:
                reason = gate.notebook_size(size)
                if reason is None:  # checked as a whole here; its language is its kernel's
                    reason, language, text = gate.notebook(text)
                    size = len(text.encode("utf-8", "surrogatepass")) if text else 0
                    checked = True
            else:
                reason = gate.language_and_size(path_in_repo, language, size)
        if reason is None and not checked:
            reason = "code_binary" if "\x00" in text else gate.check_text(text)
        if reason:
            skips.skip(reason)
            continue
        raw_license = _first_field(record, LICENSE_FIELDS)
        if isinstance(raw_license, list):
            raw_license = " AND ".join(map(str, raw_license))
        meta = _meta(
            repo,
            path_in_repo,
            language,
            normalize_license_name(raw_license) if raw_license else None,
            size,
        )
        for field in EXTRA_META_FIELDS:
            if record.get(field) is not None:
                meta[field] = record[field]
        yield _document(
            source=source,
            file_key=file_key,
            # one JSONL may hold many repositories, whose paths collide ("index.js")
            record_key=f"{repo}/{path_in_repo}",
            text=text,
            provenance=f"{path}#{line_number}",
            meta=meta,
        )
