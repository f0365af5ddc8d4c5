"""The three file-tree inputs of the code reader: a directory, a tar archive, a zip archive.

Each `iter_*` generator first yields the tree's licence (an SPDX expression from the licence
files at its root, or None), then `(Candidate, language, text)` for every file that passes the
gate, counting every other file in `skips`. Archive members are read into memory one at a time
and never written to disk, so a hostile member name cannot place a file anywhere; such names are
still refused and counted (`code_unsafe_path`) so that nobody mistakes them for repository files.
"""
from __future__ import annotations

import lzma
import os
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from corpora.code_licenses import (
    MAX_LICENSE_BYTES,
    combine_licenses,
    detect_license_text,
    is_license_file,
)
from corpora.code_languages import language_from_shebang, may_have_shebang
from corpora.schema import InputError, SkipCounter



@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that passed the gate: its path in the repo, size and where it was read from."""

    path_in_repo: str
    size: int
    provenance: str


_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error,
                  lzma.LZMAError, NotImplementedError)


def safe_member_path(name: str) -> str | None:
    """The member's path relative to the archive root, or None when it is absolute or climbs
    out with `..` (refused outright, even `a/../b`, as archivers never write those)."""
    name = name.replace("\\", "/")
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def link_stays_inside(member_path: str, target: str, *, relative_to_member: bool) -> bool:
    """Whether a link's target resolves inside the root (a symlink's target is relative to its
    own directory, a tar hard link's to the archive root)."""
    target = target.replace("\\", "/")
    if target.startswith("/") or _WINDOWS_DRIVE.match(target):
        return False
    base = posixpath.dirname(member_path) if relative_to_member else ""
    resolved = posixpath.normpath(posixpath.join(base, target))
    return resolved != ".." and not resolved.startswith("../")


def root_prefix(paths: list[str]) -> str:
    """'pkg-1.0/' when every path sits under one top directory (an sdist), else ''."""
    tops = {path.split("/", 1)[0] for path in paths}
    if len(tops) == 1 and all("/" in path for path in paths):
        return tops.pop() + "/"
    return ""


def license_of(texts: dict[str, bytes], prefix: str) -> str | None:
    """Licence from the licence files directly under the root."""
    found = []
    for path, data in sorted(texts.items()):
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            spdx_id = detect_license_text(data.decode("utf-8", "replace"))
            if spdx_id:
                found.append(spdx_id)
    return combine_licenses(found)


def _admit(gate, skips: SkipCounter, path_in_repo: str, size: int, read: Callable[[], bytes]):
    """(language, text) of a file the gate keeps, else None (counted)."""
    reason, language = gate.before_read(path_in_repo, size)
    if (reason == "code_unknown_language" and may_have_shebang(path_in_repo)
            and 0 < size <= gate.options.max_file_bytes):
        data = read()  # a script without an extension: its `#!` line names the language
        language = language_from_shebang(data)
        if language is not None:
            reason = gate.language_and_size(path_in_repo, language, len(data))
            if reason is None:
                reason, text = gate.decode(data)
    elif reason is None:
        data = read()
        if len(data) > gate.options.max_file_bytes:  # a zip header may under-declare the size
            reason = "code_too_large"
        else:
            reason, text = gate.decode(data)
    if reason:
        skips.skip(reason)
        return None
    return language, text


# ----------------------------------------------------------------------------- directory


def iter_directory(path: str, gate, skips: SkipCounter) -> Iterator:
    fs, root = fsspec.core.url_to_fs(path)
    if not fs.isdir(root):
        raise InputError(
            f"code input {path!r} is not a directory, a .tar/.tar.gz/.tgz/.tar.bz2/.tar.xz or "
            ".zip archive, nor a .jsonl(.gz) of files; check `paths` in recipe.yaml"
        )
    if isinstance(fs, LocalFileSystem):
        entries = _walk_local(root, skips)
    else:
        entries = (
            (posixpath.relpath(name, root.rstrip("/")), info["size"], fs.unstrip_protocol(name))
            for name, info in sorted(fs.find(root, detail=True).items())
        )
    entries = sorted(entries)  # paths and sizes only: the root's licence is needed first
    texts = {}
    for rel, size, location in entries:
        if "/" not in rel and is_license_file(rel) and size <= MAX_LICENSE_BYTES:
            with fs.open(location, "rb") as handle:
                texts[rel] = handle.read()
    yield license_of(texts, "")
    for rel, size, location in entries:
        def read(location=location) -> bytes:
            with fs.open(location, "rb") as handle:
                return handle.read(gate.options.max_file_bytes + 1)

        admitted = _admit(gate, skips, rel, size, read)
        if admitted:
            yield Candidate(rel, size, location), *admitted


def _walk_local(root: str, skips: SkipCounter) -> Iterator[tuple[str, int, str]]:
    """(path relative to root, size, full path) of the regular files, in sorted order. Links
    are not followed: one escaping the root is refused, one inside it is a duplicate of its
    target (counted `code_link`)."""
    real_root = os.path.realpath(root)

    def inside(full: str) -> bool:
        target = os.path.realpath(full)
        return target == real_root or target.startswith(real_root + os.sep)

    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            skips.skip("code_link" if inside(os.path.join(dirpath, name)) else "code_unsafe_path")
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                skips.skip("code_link" if inside(full) else "code_unsafe_path")
                continue
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):
                skips.skip("code_not_regular_file")
                continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            yield rel, info.st_size, full


# ----------------------------------------------------------------------------- tar


def _tar_member_path(member: tarfile.TarInfo, skips: SkipCounter) -> str | None:
    """The safe path of a regular file member; anything else is counted and gives None."""
    if member.isdir():
        return None
    rel = safe_member_path(member.name)
    if rel is None:
        skips.skip("code_unsafe_path")
        return None
    if member.issym() or member.islnk():
        inside = link_stays_inside(rel, member.linkname, relative_to_member=member.issym())
        skips.skip("code_link" if inside else "code_unsafe_path")
        return None
    if not member.isreg():
        skips.skip("code_not_regular_file")
        return None
    return rel


TAR_BUFFER_BYTES = 64 * 1024 * 1024


def iter_tar(path: str, gate, skips: SkipCounter) -> Iterator:
    """Two passes: the first reads the headers and the root's licence files (which may come
    anywhere in the archive) and keeps the contents of the files the gate will read, up to
    TAR_BUFFER_BYTES; the second yields in archive order, re-reading from the archive only what
    did not fit (for a compressed tar, one more decompression, only for archives that large)."""
    with fsspec.open(path, "rb") as raw:
        try:
            tar = tarfile.open(fileobj=raw, mode="r:*")
        except ARCHIVE_ERRORS:
            skips.skip("error:bad_archive")
            yield None
            return
        with tar:
            members, texts, buffered, broken = [], {}, {}, False
            budget = TAR_BUFFER_BYTES
            try:
                for index, member in enumerate(tar):
                    members.append(member)
                    name = safe_member_path(member.name)
                    if not (member.isreg() and name):
                        continue
                    if (name.count("/") <= 1 and is_license_file(name)
                            and member.size <= MAX_LICENSE_BYTES):
                        texts[name] = tar.extractfile(member).read()
                    elif member.size <= budget and gate.before_read(name, member.size)[0] is None:
                        buffered[index] = tar.extractfile(member).read()
                        budget -= member.size
            except ARCHIVE_ERRORS:
                broken = True  # counted after every complete member has been yielded
            regular = [m for m in members if m.isreg() and safe_member_path(m.name)]
            yield license_of(texts, root_prefix([safe_member_path(m.name) for m in regular]))
            for index, member in enumerate(members):
                rel = _tar_member_path(member, skips)
                if rel is None:
                    continue

                def read(index=index, member=member) -> bytes:
                    data = buffered.pop(index, None)
                    return data if data is not None else tar.extractfile(member).read()

                try:
                    admitted = _admit(gate, skips, rel, member.size, read)
                except ARCHIVE_ERRORS:
                    broken = True
                    break
                if admitted:
                    yield Candidate(rel, member.size, f"tar://{rel}::{path}"), *admitted
            if broken:
                skips.skip("error:bad_archive")


# ----------------------------------------------------------------------------- zip


def _zip_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def iter_zip(path: str, gate, skips: SkipCounter) -> Iterator:
    """Members in central-directory order; a member that fails to decompress is counted
    (`error:bad_archive`) and the others are still read."""
    with fsspec.open(path, "rb") as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except ARCHIVE_ERRORS:
            skips.skip("error:bad_archive")
            yield None
            return
        with archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            texts = {}
            safe = [safe_member_path(info.filename) for info in infos]
            for info, rel in zip(infos, safe):
                if (rel and rel.count("/") <= 1 and is_license_file(rel) and not _zip_symlink(info)
                        and info.file_size <= MAX_LICENSE_BYTES):
                    try:
                        texts[rel] = archive.read(info)
                    except ARCHIVE_ERRORS:
                        pass  # counted when the member is read as a file below
            yield license_of(texts, root_prefix([rel for rel in safe if rel]))
            limit = gate.options.max_file_bytes + 1
            for info, rel in zip(infos, safe):
                if rel is None:
                    skips.skip("code_unsafe_path")
                    continue
                if _zip_symlink(info):
                    target = archive.read(info).decode("utf-8", "replace")
                    inside = link_stays_inside(rel, target, relative_to_member=True)
                    skips.skip("code_link" if inside else "code_unsafe_path")
                    continue

                def read(info=info) -> bytes:
                    with archive.open(info) as member:
                        return member.read(limit)

                try:
                    admitted = _admit(gate, skips, rel, info.file_size, read)
                except ARCHIVE_ERRORS:
                    skips.skip("error:bad_archive")
                    continue
                if admitted:
                    yield Candidate(rel, info.file_size, f"zip://{rel}::{path}"), *admitted
