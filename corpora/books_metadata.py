"""Project Gutenberg book metadata: the header's fields and, when present, the GITenberg catalogue's
`metadata.yaml` beside the book (see corpora/books.py for which wins)."""
from __future__ import annotations

import posixpath
import re
from typing import Any

import yaml
from fsspec.core import url_to_fs

# ISO 639-1 (or -3 where there is none) for the language names Project Gutenberg headers use.
LANGUAGE_CODES = {
    "afrikaans": "af", "arabic": "ar", "basque": "eu", "breton": "br", "bulgarian": "bg",
    "catalan": "ca", "chinese": "zh", "croatian": "hr", "czech": "cs", "danish": "da",
    "dutch": "nl", "english": "en", "esperanto": "eo", "estonian": "et", "finnish": "fi",
    "french": "fr", "frisian": "fy", "galician": "gl", "gaelic": "gd", "scottish gaelic": "gd",
    "german": "de", "greek": "el", "hebrew": "he", "hindi": "hi", "hungarian": "hu",
    "icelandic": "is", "interlingua": "ia", "irish": "ga", "italian": "it", "japanese": "ja",
    "korean": "ko", "latin": "la", "latvian": "lv", "lithuanian": "lt", "maori": "mi",
    "norwegian": "no", "occitan": "oc", "persian": "fa", "polish": "pl", "portuguese": "pt",
    "romanian": "ro", "russian": "ru", "sanskrit": "sa", "serbian": "sr", "slovak": "sk",
    "slovenian": "sl", "spanish": "es", "swedish": "sv", "tagalog": "tl", "turkish": "tr",
    "ukrainian": "uk", "welsh": "cy", "yiddish": "yi", "bengali": "bn", "tamil": "ta",
    "marathi": "mr", "telugu": "te", "vietnamese": "vi", "indonesian": "id", "malay": "ms",
    "old english": "ang", "middle english": "enm", "ido": "io", "volapuk": "vo", "volapük": "vo",
    "napoletano-calabrese": "nap", "friulian": "fur", "cebuano": "ceb", "ilocano": "ilo",
    "iloko": "ilo", "nahuatl": "nah", "mayan languages": "myn", "inuktitut": "iu", "cherokee": "chr",
}

HEADER_FIELD = re.compile(
    r"^(Title|Author|Authors|Translator|Editor|Illustrator|Language|Character set encoding"
    r"|Release Date|Posting Date|Last Updated|Most recently updated)\s*:\s*(.*)$",
    re.IGNORECASE,
)
# "[EBook #972]", "[eBook #11]", "[Etext #11]", "EBook-No. 12", "E-text No. 3"
_EBOOK_NUMBER = re.compile(r"\b(?:E-?Book|E-?Text)[\s-]*(?:No\.?|Number|#)\s*(\d+)", re.IGNORECASE)
# First line: "The Project Gutenberg EBook of X, by Y", "**The Project Gutenberg Etext of X**",
# "The Project Gutenberg eBook, X, by Y", "Project Gutenberg's X, by Y".
_TITLE_LINE = re.compile(
    r"Project Gutenberg(?:'?s?\s+(?:E-?Book|E-?Text)(?:,| of)|'s)\s+(.+?)(?:,\s+by\s+(.+?))?[\s*]*$",
    re.IGNORECASE,
)

def parse_header(lines: list[str]) -> dict[str, Any]:
    """Title, author, language, ebook number, release date from the lines before the body."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        match = HEADER_FIELD.match(line.strip())
        if match:
            current = match.group(1).lower()
            fields.setdefault(current, match.group(2).strip())
        elif current in ("title", "author") and line[:1].isspace() and line.strip():
            fields[current] = f"{fields[current]} {line.strip()}".strip()  # indented continuation
        else:
            current = None
    header: dict[str, Any] = {}
    first_line = next((line.strip() for line in lines if line.strip()), "")
    title_line = _TITLE_LINE.search(first_line)
    title = fields.get("title") or (title_line.group(1) if title_line else "")
    author = fields.get("author") or fields.get("authors") or (title_line.group(2) if title_line and title_line.group(2) else "")
    if title:
        header["title"] = " ".join(title.split()).strip("* ")
    if author:
        header["author"] = " ".join(author.split()).strip("* ")
    if fields.get("language"):
        header["language_name"] = fields["language"]
        header["language"] = language_code(fields["language"])
    number = _EBOOK_NUMBER.search("\n".join(lines))
    if number:
        header["ebook_number"] = int(number.group(1))
    date = fields.get("release date") or fields.get("posting date")
    if date:
        header["release_date"] = re.sub(r"\s*\[.*$", "", date).strip()
    return header


def language_code(name: str) -> str | None:
    """"English" -> "en"; "English and French" -> "en" (the first); a code stays a code."""
    first = re.split(r",|;|/|\band\b|&", name.strip(), maxsplit=1)[0].strip().lower()
    if first in LANGUAGE_CODES:
        return LANGUAGE_CODES[first]
    if re.fullmatch(r"[a-z]{2,3}", first):
        return first
    return None


def book_meta(header: dict[str, Any], encoding: str, boilerplate: str) -> dict[str, Any]:
    meta = {key: header[key] for key in ("title", "author", "language", "ebook_number", "release_date")
            if header.get(key) is not None}
    if header.get("language") is None and header.get("language_name"):
        meta["language_name"] = header["language_name"]
    meta.update(encoding=encoding, boilerplate=boilerplate, metadata_source="header")
    return meta


class _CatalogLoader(yaml.SafeLoader):
    """GITenberg yaml tags subjects as `!lcsh 'Oratory'`: read any such tag as its plain value."""


_CatalogLoader.add_multi_constructor(
    "!", lambda loader, _suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)
)


def read_catalog_metadata(path: str, ebook_number: int | None) -> dict[str, Any] | None:
    """Title/author/language of a GITenberg metadata.yaml beside the book, if it is this book's."""
    fs, local = url_to_fs(path)
    directory, name = posixpath.split(local)
    names = ["metadata.yaml", f"{name.split('_', 1)[0]}_metadata.yaml"]
    if ebook_number:
        names.insert(0, f"pg{ebook_number}_metadata.yaml")
    for candidate in dict.fromkeys(names):
        sidecar = posixpath.join(directory, candidate)
        if not fs.exists(sidecar):
            continue
        with fs.open(sidecar, "rb") as handle:
            record = yaml.load(handle, Loader=_CatalogLoader)  # noqa: S506 - SafeLoader subclass
        if not isinstance(record, dict):
            continue
        number = str((record.get("identifiers") or {}).get("gutenberg", "")).strip()
        if ebook_number is not None and number and number != str(ebook_number):
            continue  # a metadata.yaml for another book
        return _catalog_fields(record)
    return None


def _catalog_fields(record: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if record.get("title"):
        fields["title"] = " ".join(str(record["title"]).split())
    creator = record.get("creator") or {}
    agents = creator.get("authors") or ([creator["author"]] if creator.get("author") else [])
    names = [str(agent.get("agent_name")) for agent in agents if isinstance(agent, dict) and agent.get("agent_name")]
    if names:
        fields["author"] = "; ".join(names)
    language = record.get("language")
    languages = [str(x) for x in language] if isinstance(language, list) else [str(language)] if language else []
    if languages:
        fields["language"] = languages[0]
        fields["languages"] = languages
    return fields
