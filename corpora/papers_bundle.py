"""One e-print's files, whatever its packing, and the decoding of its TeX sources.

arXiv serves a submission as a gzipped tar (files at the root, sometimes under one folder), or, for
a single-file paper, as a bare gzip of the `.tex` (the same `.gz` name either way), and a few as a
PDF. So the packing is told from the bytes, never the name: compression from its magic bytes
(corpora.archive_compression), then tar from the `ustar` magic or a header whose checksum holds,
then PDF from `%PDF`; anything else is one TeX file (its name from the gzip header's FNAME field
when there is one). A directory is read as one paper's tree.

Members are read into memory (e-prints are small; `max_unpacked_bytes` bounds one) and never
written to disk; absolute or `..` member names and links are left out, as the code reader does.
"""
from __future__ import annotations

import codecs
import io
import os
import posixpath
import re
import tarfile
from dataclasses import dataclass, field

import fsspec

from corpora.archive_compression import DecompressingReader, sniff_compression
from corpora.books_decode import decode_book
from corpora.code_sources import ARCHIVE_ERRORS, safe_member_path

# A TeX file's declared input encoding, as babel/inputenc spell it -> Python codec.
_INPUTENC = re.compile(rb"\\usepackage\s*\[([^\]]*)\]\s*\{inputenc\}")
_INPUTENC_CODECS = {
    "latin1": "latin-1", "latin9": "iso8859-15", "ansinew": "cp1252", "cp1252": "cp1252",
    "cp1251": "cp1251", "koi8-r": "koi8-r", "cp866": "cp866", "utf8": "utf-8", "utf8x": "utf-8",
    "latin2": "iso8859-2", "cp1250": "cp1250", "applemac": "mac-roman",
}
GZIP_FNAME_FLAG = 0x08


@dataclass(slots=True)
class Bundle:
    """The files of one paper: path inside the paper (posix, from its root) -> bytes."""

    files: dict[str, bytes]
    packing: str  # "tar.gz" | "tar" | "gzip" (bare gzipped .tex) | "tex" | "pdf" | "directory" | ...
    damage: str | None = None  # "truncated" / "corrupt" compressed data, or a broken tar
    num_unsafe_members: int = 0
    wrapper_folder: str | None = None  # the one folder every member sat under (stripped)
    skipped_large: list[str] = field(default_factory=list)


def read_bundle(path: str, max_unpacked_bytes: int) -> Bundle:
    fs, stripped = fsspec.core.url_to_fs(path)
    if fs.isdir(stripped):
        return _read_directory(fs, stripped, max_unpacked_bytes)
    with fs.open(stripped, "rb") as handle:
        head = handle.read(1 << 16)
        compression = sniff_compression(head)
        if compression == "none":
            data, damage = head + handle.read(max_unpacked_bytes + 1 - len(head)), None
        else:
            handle.seek(0)
            reader = DecompressingReader(handle, compression, head)
            data = _read_upto(reader, max_unpacked_bytes + 1)
            damage = reader.damage
    if len(data) > max_unpacked_bytes:
        return Bundle({}, "too_large")
    suffix = {"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst", "lz4": ".lz4"}[compression]
    if is_tar(data):
        bundle = _read_tar(data, max_unpacked_bytes)
        bundle.packing = "tar" + suffix
        bundle.damage = bundle.damage or damage
        return bundle
    if data.startswith(b"%PDF"):
        return Bundle({}, "pdf", damage)
    name = (gzip_original_name(head) if compression == "gzip" else None) or _single_file_name(path, suffix)
    return Bundle({name: data}, "gzip" if compression == "gzip" else (compression if suffix else "tex"), damage)


def _read_upto(reader: DecompressingReader, limit: int) -> bytes:
    """Up to `limit` bytes (a raw stream's read() returns one chunk at a time)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = reader.read(min(1 << 20, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def is_tar(data: bytes) -> bool:
    """POSIX/GNU tar by the `ustar` magic; an old v7 tar by a first header whose checksum holds."""
    if len(data) >= 512 and data[257:262] == b"ustar":
        return True
    if len(data) < 512 or not data[:100].strip(b"\0"):
        return False
    try:
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def gzip_original_name(head: bytes) -> str | None:
    """The FNAME field of a gzip header (RFC 1952): the compressed file's original name."""
    if len(head) < 10 or not head[3] & GZIP_FNAME_FLAG:
        return None
    position = 10
    if head[3] & 0x04:  # FEXTRA: a 2-byte length, then that many bytes
        position += 2 + int.from_bytes(head[10:12], "little")
    end = head.find(b"\0", position)
    if end < 0:
        return None
    name = head[position:end].decode("latin-1")  # the RFC says ISO 8859-1
    return posixpath.basename(name.replace("\\", "/")) or None


def _single_file_name(path: str, compression_suffix: str) -> str:
    name = posixpath.basename(path.rstrip("/"))
    if compression_suffix and name.lower().endswith(compression_suffix):
        name = name[: -len(compression_suffix)]
    return name if name.lower().endswith(".tex") else f"{name}.tex"


def _read_tar(data: bytes, max_unpacked_bytes: int) -> Bundle:
    files: dict[str, bytes] = {}
    bundle = Bundle(files, "tar")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar:
                name = safe_member_path(member.name)
                if name is None:
                    bundle.num_unsafe_members += 1
                elif member.isreg():
                    files[name] = tar.extractfile(member).read()
    except ARCHIVE_ERRORS:
        bundle.damage = "bad_tar"  # every member before the damage is kept
    _strip_wrapper_folder(bundle)
    return bundle


def _read_directory(fs, root: str, max_unpacked_bytes: int) -> Bundle:
    files: dict[str, bytes] = {}
    bundle = Bundle(files, "directory")
    budget = max_unpacked_bytes
    for name, info in sorted(fs.find(root, detail=True).items()):
        rel = posixpath.relpath(name, root.rstrip("/"))
        if any(part.startswith(".") for part in rel.split("/")):
            continue  # .git and editor files are not the paper's
        size = int(info.get("size") or 0)
        if size > budget:
            bundle.skipped_large.append(rel)
            continue
        with fs.open(name, "rb") as handle:
            files[rel] = handle.read()
        budget -= size
    return bundle


def _strip_wrapper_folder(bundle: Bundle) -> None:
    """Files all under one folder (`paper/ms.tex`, `paper/fig.pdf`) are taken from inside it."""
    tops = {name.split("/", 1)[0] for name in bundle.files}
    if len(tops) == 1 and all("/" in name for name in bundle.files):
        top = tops.pop()
        bundle.wrapper_folder = top
        bundle.files = {name[len(top) + 1:]: data for name, data in bundle.files.items()}


def is_binary(data: bytes) -> bool:
    """A NUL byte: no TeX source has one (a PDF or image saved under a .tex name does)."""
    return b"\0" in data[:1 << 16]


def decode_tex(data: bytes) -> tuple[str, str]:
    """(text, codec). UTF-8 first (arXiv's default since 2018); then the codec the file declares
    with inputenc (`latin1`, `cp1251`, `koi8-r`, ...); then corpora.books_decode's detection
    (mostly-UTF-8 with a few bad bytes, a non-Latin legacy codec, cp1252, Latin-1)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _INPUTENC.search(data)
    if declared:
        for option in declared.group(1).decode("latin-1").split(","):
            codec = _INPUTENC_CODECS.get(option.strip().lower())
            if codec and codec != "utf-8":
                return data.decode(codec, errors="replace"), codecs.lookup(codec).name
    return decode_book(data)


def paper_name(path: str) -> str:
    """The e-print's name without packing suffixes (`2301.01234v2.tar.gz` -> `2301.01234v2`)."""
    name = os.path.basename(path.rstrip("/"))
    for suffix in (".gz", ".bz2", ".xz", ".zst", ".tgz", ".tar", ".tex"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name
