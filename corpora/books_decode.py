"""Decoding a Project Gutenberg text file whose encoding its name may not tell (see corpora/books.py).

A BOM decides; else strict UTF-8 (which ASCII passes); else UTF-8 with U+FFFD for the broken bytes
when valid multi-byte sequences outnumber them; else the header's "Character set encoding:" line;
else, for a mostly non-ASCII file, charset-normalizer's guess; else cp1252, then Latin-1.
"""
from __future__ import annotations

import codecs
import re

HEADER_SCAN_CHARS = 20_000  # where "Character set encoding:" is looked for
GUESS_SAMPLE_BYTES = 200_000  # what charset-normalizer sees of an undeclared non-Latin book
NON_LATIN_MIN_SHARE = 0.25  # share of non-ASCII bytes above which a non-Latin codec is guessed


def decode_book(data: bytes, forced: str | None = None) -> tuple[str, str]:
    """(text, codec name used). Never raises on content: Latin-1 decodes any byte string."""
    if forced:
        return data.decode(forced, errors="replace"), codecs.lookup(forced).name
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "ascii" if data.isascii() else "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _declared_codecs(data)
    if _mostly_utf8(data, declared_utf8=declared[:1] == ["utf-8"]):
        return data.decode("utf-8", errors="replace"), "utf-8"
    guessed = [] if declared else _guess_non_latin_codec(data)
    for codec in [*declared, *guessed, *_latin1_family(data)]:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: latin-1 decodes every byte")


def _mostly_utf8(data: bytes, *, declared_utf8: bool) -> bool:
    """A UTF-8 book with a few broken bytes (a stray Latin-1 byte pasted in, a clipped sequence):
    read as UTF-8 with U+FFFD for the bad bytes rather than as Latin-1 mojibake throughout.
    Latin-1 text is almost never valid UTF-8 (an accented letter followed by ASCII is invalid), so
    valid multi-byte sequences outnumbering the broken ones mark the file as UTF-8."""
    text = data.decode("utf-8", errors="replace")
    num_bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    num_good = len(text) - len(text.encode("ascii", errors="ignore")) - num_bad
    if declared_utf8:
        return num_good >= num_bad
    return num_good >= 10 * num_bad


def _guess_non_latin_codec(data: bytes) -> list[str]:
    """An undeclared legacy codec of a non-Latin script (Big5, GB2312, Shift_JIS, KOI8-R, cp1251):
    such text is mostly non-ASCII bytes, where Latin-1 European text has a few percent. Guessed
    by charset-normalizer on a sample, and kept only if it decodes the whole file."""
    sample = data[:GUESS_SAMPLE_BYTES]
    if len(sample) - len(sample.decode("ascii", errors="ignore")) < NON_LATIN_MIN_SHARE * len(sample):
        return []
    import charset_normalizer  # only for these rare files

    best = charset_normalizer.from_bytes(sample).best()
    return [codecs.lookup(best.encoding).name] if best is not None else []


def _latin1_family(data: bytes) -> list[str]:
    """cp1252 only where bytes 0x80-0x9F occur (curly quotes, dashes); otherwise it is Latin-1."""
    has_c1 = re.search(rb"[\x80-\x9f]", data) is not None
    return ["cp1252", "latin-1"] if has_c1 else ["latin-1"]


def _declared_codecs(data: bytes) -> list[str]:
    match = re.search(rb"Character set encoding\s*:\s*([^\r\n]+)", data[:HEADER_SCAN_CHARS], re.IGNORECASE)
    if not match:
        return []
    declared = match.group(1).decode("latin-1").strip()
    # "ISO-646-US (US-ASCII)", "ISO Latin-1", "UTF-8": try the whole value, then each part.
    candidates = [declared, *re.findall(r"[A-Za-z][\w.:-]*(?:[ -]\d+)?", declared)]
    found: list[str] = []
    for candidate in candidates:
        try:
            name = codecs.lookup(candidate.replace(" ", "-")).name
        except LookupError:
            continue
        if name in ("latin-1", "iso8859-1"):
            found.extend(_latin1_family(data))
        elif name not in found:
            found.append(name)
    return found
