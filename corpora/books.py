"""Project Gutenberg plain-text books (.txt) -> one document per book.

Input: one `.txt` file (optionally `.txt.gz/.bz2/.xz/.zst`, or `.txt.utf-8` as gutenberg.org serves
it), local or any fsspec URL, or a PG `.zip` (`12345-8.zip`): one document per text member (id
keyed by the member name; `path` is `<file_key>/<member>`), an archive without text (`-h.zip`) counted
`books_no_txt_in_zip`, a broken one `error:bad_zip`. Anything else handed to the reader (a
`*_metadata.yaml` matched by a loose glob like `books/*`) is counted as `books_not_txt` and yields
nothing; a directory given in a recipe contributes only its `.txt` files (pipelines/inputs.py).

Decoding: a BOM decides; else strict UTF-8 (which ASCII passes); else UTF-8 with U+FFFD for the
broken bytes when valid multi-byte sequences outnumber them (meta `num_replaced_bytes`); else the
header's "Character set encoding:" line; else, for a mostly non-ASCII file, charset-normalizer's
guess (Big5, GB2312, cp1251, ...); else cp1252, then Latin-1 (never fails). A declared ISO-8859-1
is read as cp1252 first, as browsers do: the two differ only in bytes 0x80-0x9F, which a real
Latin-1 text does not use and a mislabelled Windows text does (curly quotes). Line endings (CRLF,
LF, CR) become "\n".

Boilerplate: the text between the last start marker (`*** START OF THE/THIS PROJECT GUTENBERG
EBOOK ... ***`, `***START OF THE PROJECT GUTENBERG`, `*END*THE SMALL PRINT!`, `... COPYRIGHTED
PROJECT GUTENBERG ...`) and the first end marker after it (`*** END OF ...`, `End of the Project
Gutenberg EBook of`, `End of Project Gutenberg's`, `Ende dieses Project Gutenberg Etextes`,
`...COPYRIGHTED Project Gutenberg Etext, Details Above`, `*** START: FULL LICENSE ***`, ...) is kept;
then leading and trailing paragraphs that are production credits or mention Project Gutenberg
("Produced by ... Distributed Proofreaders", "Note: Project Gutenberg also has an HTML version")
are dropped, and so are transcriber's notes whose extent is certain (a bracketed
"[Transcriber's Note: ...]" on lines of its own, a one-paragraph note among the first paragraphs
with its indented list items, a closing "Transcriber's Notes" section), the 1990s
"<<THIS ELECTRONIC VERSION ... MEMBERSHIP.>>" notice, and any line that is a bracketed note naming
Project Gutenberg. Without a start marker, the leading run of PG header paragraphs is dropped and
the body ends at the first end marker after it (meta `boilerplate: "end_marker_only"`); without any
marker the text is kept apart from such PG paragraphs, with `boilerplate: "no_markers"`, so the
count of such books shows in the output. `strip_boilerplate: false` keeps the file whole ("kept").

Metadata: title, author, language (ISO 639-1 where the header names a language: "English" -> en),
ebook number and release date from the header. When `catalog_metadata` is on and a GITenberg
`metadata.yaml` for the same ebook number sits next to the book (`metadata.yaml`,
`pg<N>_metadata.yaml` or `<name prefix>_metadata.yaml`), its title/author/language win (the
catalogue names the real author where the header says "Various" or the translator); the header's
values stay in `header_title`, `header_author`, `header_language`.
"""
from __future__ import annotations

import io
import re
import zipfile
import zlib
from typing import Any, Iterator

import fsspec
from pydantic import Field

from corpora.books_decode import decode_book
from corpora.books_metadata import HEADER_FIELD, book_meta, parse_header, read_catalog_metadata
from corpora.schema import SkipCounter, Strict, make_doc_id

TEXT_SUFFIXES = (".txt", ".txt.gz", ".txt.bz2", ".txt.xz", ".txt.zst", ".txt.utf-8", ".txt.utf8")
# Members of a PG .zip that are the book: "12345-8.txt"; "12345.txt.utf-8" as gutenberg.org serves it.
ZIP_TEXT_SUFFIXES = (".txt", ".txt.utf-8", ".txt.utf8")
EDGE_PARAGRAPHS = 10  # how many leading/trailing paragraphs may be credits or PG notes
HEADER_SCAN_LINES = 400  # where a header without a start marker is looked for
HEADER_GAP_PARAGRAPHS = 2  # other paragraphs a header without a start marker may hold between PG ones
NOTE_MAX_LINES = 80  # a bracketed note longer than this is left alone (its bracket is not a note's)

_START_MARKER = re.compile(
    r"^\W{0,10}(?:"
    r"START\s+OF\s+(?:THE\s+|THIS\s+)?PROJECT\s+GUTENBERG"
    r"|START\s+OF\s+THE\s+COPYRIGHTED\s+PROJECT\s+GUTENBERG"
    r"|\*\s*END\s*\*?\s*THE\s+SMALL\s+PRINT"
    r"|END\s+OF\s+THE\s+SMALL\s+PRINT)",
    re.IGNORECASE,
)
_END_MARKER = re.compile(
    r"^\W{0,10}(?:"
    r"END\s+OF\s+(?:THE\s+|THIS\s+)?PROJECT\s+GUTENBERG"
    r"|(?:The\s+)?End\s+of\s+(?:the\s+|this\s+)?Project\s+Gutenberg"
    r"|END\s+OF\s+THE\s+COPYRIGHTED\s+PROJECT\s+GUTENBERG"
    r"|Ende\s+diese[rs]?\s+(?:Projec?kt?\s+Gutenberg|E-?textes)"
    r"|Fin\s+(?:de|du)\s+.{0,60}Project\s+Gutenberg"
    r"|End\s+of\s+this\s+is\s+COPYRIGHTED"
    r"|This\s+is\s+a\s+COPYRIGHTED\s+Project\s+Gutenberg\s+E-?text,?\s+Details\s+Above"
    r"|Ce\s+document\s+fut\s+pr[eé]sent[eé]\s+en\s+lecture"
    r"|START:\s*FULL\s+LICEN[SC]E"
    r"|THE\s+FULL\s+PROJECT\s+GUTENBERG\s+LICEN[SC]E"
    r"|This\s+file\s+should\s+be\s+named\s+\S+\.(?:txt|zip))",
    re.IGNORECASE,
)
_PG_MENTION = re.compile(
    r"project\s+gutenberg|gutenberg\.(?:org|net)|gutenberg\s+(?:online\s+)?distributed|pgdp|pglaf"
    r"|distributed\s+proofread|ibiblio\.org|promo\.net|small\s+print|gutenberg-tm|gutenberg\s+literary"
    r"|for\s+the\s+use\s+of\s+anyone\s+anywhere|copyright\s+laws\s+are\s+changing",
    re.IGNORECASE,
)
# "[Note Project Gutenberg: music transcribed in Lilypond format]": a PG note on a line of its own.
_PG_NOTE_LINE = re.compile(r"^\s*\[[^\]]*project\s+gutenberg[^\]]*\]\s*$", re.IGNORECASE)
_CREDIT = re.compile(
    r"^\W*(?:produced\s+by|e-?text\s+prepared\s+by|this\s+e-?(?:text|book)\s+was\s+(?:prepared|produced|created)"
    r"|transcribed\s+(?:from|by)|prepared\s+by|scanned\s+by|digitized\s+by|updated\s+editions\s+will\s+replace)",
    re.IGNORECASE,
)
# The World Library notice repeated through PG's 1990s Shakespeare texts, "<<THIS ELECTRONIC
# VERSION OF THE COMPLETE WORKS ... MEMBERSHIP.>>", a block of its own wherever it sits.
_LEGALESE_OPEN = re.compile(r"^\s*<<\s*THIS\s+ELECTRONIC\s+VERSION\s+OF", re.IGNORECASE)
# Cheap prefilters (a literal first character lets the regex engine skip ahead at C speed).
_BRACKETED_TRANSCRIBER = re.compile(r"\[[^\w\n]{0,3}[Tt][Rr][Aa][Nn][Ss][Cc][Rr][Ii][Bb][Ee][Rr]")
_LEGALESE_ANYWHERE = re.compile(r"<<[^\w\n]{0,3}THIS[^\S\n]+ELECTRONIC")
_NOTE_ITEM = re.compile(r"^\s+(?:\d+[.)]|[-*•]|\(\w\))\s")
_BY_TRANSCRIBER = re.compile(r"\btranscriber\b", re.IGNORECASE)  # "Errata Noted by Transcriber:"
_TRANSCRIBER_NOTE = re.compile(r"^\W{0,3}transcriber'?s?\s+notes?\b", re.IGNORECASE)


class Options(Strict):
    strip_boilerplate: bool = Field(default=True, description="drop the PG header, footer and licence")
    catalog_metadata: bool = Field(
        default=True, description="use a GITenberg metadata.yaml next to the book for title/author/language"
    )
    encoding: str | None = Field(default=None, description="force a codec instead of detecting it")
    max_book_bytes: int = Field(
        default=64 << 20, gt=0, description="a book longer than this (decompressed) is skipped as "
        "`books_too_large`, read no further (the longest Project Gutenberg books are ~15 MB)")


def iter_documents(
    path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter
) -> Iterator[dict]:
    lowered = path.lower()
    if lowered.endswith(".zip"):
        yield from _iter_zip(path, source=source, file_key=file_key, options=options, skips=skips)
        return
    if not lowered.endswith(TEXT_SUFFIXES):
        skips.skip("books_not_txt")
        return
    with fsspec.open(path, "rb", compression="infer") as handle:
        data = handle.read(options.max_book_bytes + 1)
    if len(data) > options.max_book_bytes:
        skips.skip("books_too_large")
        return
    doc = book_document(data, path=path, record_key=0, provenance=file_key, source=source,
                        file_key=file_key, options=options, skips=skips)
    if doc is not None:
        yield doc


def _iter_zip(path: str, *, source: str, file_key: str, options: Options, skips: SkipCounter) -> Iterator[dict]:
    """PG's own `12345-8.zip` (one `12345-8.txt`, sometimes under a `12345-8/` folder): one document
    per text member, keyed by the member's name. A zip without text (an `-h.zip` of HTML and
    images) is counted `books_no_txt_in_zip`; a broken archive `error:bad_zip`."""
    with fsspec.open(path, "rb") as handle:
        raw = handle.read()
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = [info for info in archive.infolist() if not info.is_dir()
                   and info.filename.lower().endswith(ZIP_TEXT_SUFFIXES)
                   and not info.filename.startswith("__MACOSX/")]
        if not members:
            skips.skip("books_no_txt_in_zip")
            return
        for info in members:
            if info.file_size > options.max_book_bytes:  # also a zip bomb's declared size
                skips.skip("books_too_large")
                continue
            with archive.open(info) as member:  # the declared size may lie: read one byte past
                data = member.read(options.max_book_bytes + 1)
            if len(data) > options.max_book_bytes:
                skips.skip("books_too_large")
                continue
            doc = book_document(data, path=path, record_key=info.filename, provenance=f"{file_key}/{info.filename}",
                                source=source, file_key=file_key, options=options, skips=skips)
            if doc is not None:
                yield doc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        skips.skip("error:bad_zip")


def book_document(
    data: bytes, *, path: str, record_key: str | int, provenance: str, source: str, file_key: str,
    options: Options, skips: SkipCounter,
) -> dict | None:
    """One book's bytes -> its document (None, counted in `skips`, when no text is left)."""
    text, encoding = decode_book(data, forced=options.encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    num_replaced = text.count("\ufffd") - data.count(b"\xef\xbf\xbd") if encoding == "utf-8" else 0
    lines = text.split("\n")
    start, end = find_body(lines)
    header = parse_header(lines[:start] if start else lines[:min(end, 300)])
    if options.strip_boilerplate and start is not None:
        body = "\n".join(trim_edge_paragraphs(lines[start:end]))
        boilerplate = "stripped"
    elif options.strip_boilerplate:  # no start marker: a PG header, if any, ends the same way
        body = "\n".join(trim_edge_paragraphs(lines[_leading_boilerplate_end(lines):end]))
        boilerplate = "end_marker_only" if end < len(lines) else "no_markers"
    else:
        body = text.strip("\n")
        boilerplate = "kept"
    if not body.strip():
        skips.skip("books_empty")
        return None
    meta = book_meta(header, encoding, boilerplate)
    if num_replaced > 0:
        meta["num_replaced_bytes"] = num_replaced  # invalid UTF-8 bytes in a UTF-8 book, now U+FFFD
    if options.catalog_metadata:
        catalog = read_catalog_metadata(path, header.get("ebook_number"))
        if catalog:
            for key in ("title", "author", "language"):
                if header.get(key):
                    meta[f"header_{key}"] = header[key]
                if catalog.get(key):
                    meta[key] = catalog[key]
            if catalog.get("languages"):
                meta["languages"] = catalog["languages"]
            meta["metadata_source"] = "gitenberg_yaml"
    doc: dict[str, Any] = {"id": make_doc_id(source, file_key, record_key), "text": body, "path": provenance,
                           "meta": meta}
    if header.get("ebook_number"):
        doc["url"] = f"https://www.gutenberg.org/ebooks/{header['ebook_number']}"
    return doc


# -- boilerplate --------------------------------------------------------------------------------

def find_body(lines: list[str]) -> tuple[int | None, int]:
    """(first line after the start marker or None, index of the end marker or len(lines))."""
    starts = [i for i, line in enumerate(lines) if _START_MARKER.match(line)]
    # Without a start marker the header still may say "This file should be named x.txt": the end
    # is looked for only after the leading paragraphs of PG header, notes and licence.
    search_from = starts[0] + 1 if starts else _leading_boilerplate_end(lines)
    end = next((i for i in range(search_from, len(lines)) if _END_MARKER.match(lines[i])), len(lines))
    before_end = [i for i in starts if i < end]
    if not before_end:
        return None, end
    start = before_end[-1]
    # A marker wrapped over lines ("...ON THE\nCOLUMBIA***") ends at the line that closes its stars.
    if lines[start].lstrip().startswith("*") and not lines[start].rstrip().endswith("*"):
        for j in range(start + 1, min(start + 4, end)):
            if lines[j].rstrip().endswith("*"):
                start = j
                break
    return start + 1, end


def _leading_boilerplate_end(lines: list[str]) -> int:
    """Index of the first line after the PG header of a file without a start marker: the end of
    the last header paragraph (fields, PG notes, credits) in a run that allows at most
    HEADER_GAP_PARAGRAPHS other paragraphs between two of them; 0 when the file starts otherwise."""
    position, gap = 0, 0
    for first, last in _paragraph_spans(lines[:HEADER_SCAN_LINES]):
        block = lines[first:last]
        if _PG_MENTION.search(" ".join(block)) or _is_header_block(block) or _CREDIT.search(block[0]):
            position, gap = last, 0
        else:
            gap += 1
            if gap > HEADER_GAP_PARAGRAPHS:
                break
    return position


def trim_edge_paragraphs(lines: list[str]) -> list[str]:
    """Drop credit/PG-note/header-field paragraphs among the first and last EDGE_PARAGRAPHS
    paragraphs, a "Transcriber's Notes" section that ends the book, a one-paragraph
    "Transcriber's note: ..." among the first paragraphs, and anywhere a bracketed
    "[Transcriber's Note: ...]" or the "<<THIS ELECTRONIC VERSION ...>>" notice on lines of their
    own; everything else keeps its lines and blank-line spacing exactly."""
    paragraphs = _paragraph_spans(lines)
    leading = range(min(EDGE_PARAGRAPHS, len(paragraphs)))
    trailing = range(max(0, len(paragraphs) - EDGE_PARAGRAPHS), len(paragraphs))
    dropped: set[int] = set()
    for index in (*leading, *trailing):
        first, last = paragraphs[index]
        block = lines[first:last]
        if _PG_MENTION.search(" ".join(block)) or _CREDIT.search(block[0]) or _is_header_block(block):
            dropped.update(range(first, last))
    in_note = False
    for index in leading:  # the note, then its indented list items ("  2. In the index, ...")
        first, last = paragraphs[index]
        if _TRANSCRIBER_NOTE.match(lines[first]) and _has_text_after_label(lines[first:last]):
            in_note = True
        elif not (in_note and _NOTE_ITEM.match(lines[first])):
            in_note = False
        if in_note:
            dropped.update(range(first, last))
    for index in trailing:  # a closing "Transcriber's Notes" section: from its heading to the end
        first, _last = paragraphs[index]
        heading = lines[first].strip()
        if _TRANSCRIBER_NOTE.match(heading) or (len(heading) < 60 and _BY_TRANSCRIBER.search(heading)):
            dropped.update(range(first, len(lines)))
            break
    dropped.update(_bracketed_notes(lines))
    kept = [line.rstrip() for i, line in enumerate(lines) if i not in dropped and not _PG_NOTE_LINE.match(line)]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def _has_text_after_label(block: list[str]) -> bool:
    """"Transcriber's note: spelling kept." is a whole note; a bare "Transcriber's Notes" heading
    is followed by paragraphs whose extent cannot be told, so it and they are kept."""
    rest = _TRANSCRIBER_NOTE.sub("", block[0], count=1).strip(" :.-[]\t")
    return bool(rest) or len(block) > 1


def _bracketed_notes(lines: list[str]) -> set[int]:
    """Lines of "[Transcriber's Note: ...]" blocks and "<<THIS ELECTRONIC VERSION ...>>" notices
    that start a line and close at a line end (an inline note inside a sentence is kept)."""
    found: set[int] = set()
    text = "\n".join(lines)
    if not (_BRACKETED_TRANSCRIBER.search(text) or _LEGALESE_ANYWHERE.search(text)):
        return found  # the common case, decided at C speed
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith("[") and _TRANSCRIBER_NOTE.match(stripped[1:]):
            opener, closer = "[", "]"
        elif _LEGALESE_OPEN.match(line):
            opener, closer = "<<", ">>"
        else:
            continue
        depth = 0
        for j in range(i, min(i + NOTE_MAX_LINES, len(lines))):
            depth += lines[j].count(opener) - lines[j].count(closer)
            if depth <= 0:
                if lines[j].rstrip().endswith(closer):
                    found.update(range(i, j + 1))
                    # with the blank lines after it, where a blank line comes before it
                    while i > 0 and not lines[i - 1].strip() and j + 1 < len(lines) and not lines[j + 1].strip():
                        j += 1
                        found.add(j)
                break
    return found


def _is_header_block(block: list[str]) -> bool:
    """A run of "Title: ...", "Author: ..." lines (a header left in when the start marker is missing)."""
    return bool(HEADER_FIELD.match(block[0].strip())) and all(
        HEADER_FIELD.match(line.strip()) or line[:1].isspace() for line in block
    )


def _paragraph_spans(lines: list[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    first: int | None = None
    for i, line in enumerate(lines):
        if line.strip():
            if first is None:
                first = i
        elif first is not None:
            spans.append((first, i))
            first = None
    if first is not None:
        spans.append((first, len(lines)))
    return spans
