"""The three file-tree inputs of the code reader: a directory, a tar archive, a zip archive.

Each `iter_*` generator first yields the tree's licence (an SPDX expression from the licence
files at its root, or None), then `(Candidate, language, text)` for every file that passes the
gate, counting every other file in `skips`. Archive members are read into memory one at a time
and never written to disk, so a hostile member name cannot place a file anywhere; such names are
still refused and counted (`code_unsafe_path`) so that nobody mistakes them for repository files.

With `respect_gitignore`, the tree's `.gitignore` files and `.git/info/exclude` are read first
(see corpora.code_gitignore.GitIgnoreRules) and what git would ignore is counted, not read: a file
as `code_gitignored`, an ignored folder once as `code_gitignored_directory`, without descending
into it or counting the files it holds (a checkout's `node_modules/`, `build/` or `.venv/` may
hold 100,000 files, and walking them only to count them would cost more than reading the code).
Archives have no folders to prune, so their members under an ignored folder count that folder
once, the same figure as the directory.
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

from corpora.code_licenses import MAX_LICENSE_BYTES, is_license_file, license_of, root_prefix
from corpora.code_gitignore import MAX_IGNORE_FILE_BYTES, GitIgnoreRules, is_ignore_file
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


def _admit(gate, skips: SkipCounter, path_in_repo: str, size: int, read: Callable[[int], bytes]):
    """(language, text) of a file the gate keeps, else None (counted). `read(limit)` gives the
    file's bytes (an archive's reader may stop after limit + 1 of them)."""
    reason, language = gate.before_read(path_in_repo, size)
    if (reason == "code_unknown_language" and may_have_shebang(path_in_repo)
            and 0 < size <= gate.options.max_file_bytes):
        data = read(gate.options.max_file_bytes)  # no extension: the `#!` line names the language
        language = language_from_shebang(data)
        if language is not None:
            reason = gate.language_and_size(path_in_repo, language, len(data))
            if reason is None:
                reason, text = gate.decode(data)
    elif reason is None:
        limit = gate.max_bytes(language)
        data = read(limit)
        if len(data) > limit:  # a zip header may under-declare the size
            reason = "code_too_large"
        else:
            reason, language, text = gate.admit_bytes(language, data)
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
    rules = GitIgnoreRules() if gate.options.respect_gitignore else None
    if isinstance(fs, LocalFileSystem):
        entries = sorted(_walk_local(root, skips, rules))
    else:
        entries = sorted(
            (posixpath.relpath(name, root.rstrip("/")), info["size"], fs.unstrip_protocol(name))
            for name, info in fs.find(root, detail=True).items()
        )
        if rules is not None:  # a flat listing: read the ignore files, then filter
            for rel, size, location in entries:
                if is_ignore_file(rel) and size <= MAX_IGNORE_FILE_BYTES:
                    rules.add(rel, fs.cat_file(location))
            entries = [entry for entry in entries if not rules.skip_listed(entry[0], skips)]
    # paths and sizes only so far: the root's licence is needed first
    texts = {}
    for rel, size, location in entries:
        if "/" not in rel and is_license_file(rel) and size <= MAX_LICENSE_BYTES:
            with fs.open(location, "rb") as handle:
                texts[rel] = handle.read()
    yield license_of(texts, "")
    for rel, size, location in entries:
        def read(limit: int, location=location) -> bytes:
            with fs.open(location, "rb") as handle:
                return handle.read(limit + 1)

        admitted = _admit(gate, skips, rel, size, read)
        if admitted:
            yield Candidate(rel, size, location), *admitted


def _walk_local(root: str, skips: SkipCounter, rules: GitIgnoreRules | None
                ) -> Iterator[tuple[str, int, str]]:
    """(path relative to root, size, full path) of the regular files, in sorted order. Links
    are not followed: one escaping the root is refused, one inside it is a duplicate of its
    target (counted `code_link`). Ignored folders are pruned (see the module docstring); git
    sees a link to a folder as a file, so it is matched as one."""
    real_root = os.path.realpath(root)

    def inside(full: str) -> bool:
        target = os.path.realpath(full)
        return target == real_root or target.startswith(real_root + os.sep)

    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if rules is not None:
            _add_local_ignore_files(rules, dirpath, rel_dir, dirnames, filenames)
        walked = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                if rules is not None and rules.is_ignored(rel_dir + name, is_dir=False):
                    skips.skip("code_gitignored")
                else:
                    skips.skip("code_link" if inside(full) else "code_unsafe_path")
            elif rules is not None and rules.is_ignored(rel_dir + name, is_dir=True):
                skips.skip("code_gitignored_directory")
            else:
                walked.append(name)
        dirnames[:] = walked  # os.walk descends into these only
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if rules is not None and rules.is_ignored(rel_dir + name, is_dir=False):
                skips.skip("code_gitignored")
                continue
            if os.path.islink(full):
                skips.skip("code_link" if inside(full) else "code_unsafe_path")
                continue
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):
                skips.skip("code_not_regular_file")
                continue
            yield rel_dir + name, info.st_size, full


def _add_local_ignore_files(rules: GitIgnoreRules, dirpath: str, rel_dir: str,
                            dirnames: list[str], filenames: list[str]) -> None:
    """This folder's `.gitignore` and, in a repository's root, `.git/info/exclude` (regular
    files only: git does not follow a linked `.gitignore`)."""
    found = [".gitignore"] if ".gitignore" in filenames else []
    if ".git" in dirnames:
        found.append(".git/info/exclude")
    for rel in found:
        full = os.path.join(dirpath, *rel.split("/"))
        try:
            info = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_IGNORE_FILE_BYTES:
            with open(full, "rb") as handle:
                rules.add(rel_dir + rel, handle.read())


# ----------------------------------------------------------------------------- tar


def _tar_member_path(member: tarfile.TarInfo, skips: SkipCounter,
                     rules: GitIgnoreRules | None) -> str | None:
    """The safe path of a regular file member; anything else is counted and gives None."""
    if member.isdir():
        return None
    rel = safe_member_path(member.name)
    if rel is None:
        skips.skip("code_unsafe_path")
        return None
    if rules is not None and rules.skip_listed(rel, skips):
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
            rules = GitIgnoreRules() if gate.options.respect_gitignore else None
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
                    elif (rules is not None and is_ignore_file(name)
                            and member.size <= MAX_IGNORE_FILE_BYTES):
                        rules.add(name, tar.extractfile(member).read())
                    elif member.size <= budget and gate.before_read(name, member.size)[0] is None:
                        buffered[index] = tar.extractfile(member).read()
                        budget -= member.size
            except ARCHIVE_ERRORS:
                broken = True  # counted after every complete member has been yielded
            regular = [m for m in members if m.isreg() and safe_member_path(m.name)]
            yield license_of(texts, root_prefix([safe_member_path(m.name) for m in regular]))
            for index, member in enumerate(members):
                rel = _tar_member_path(member, skips, rules)
                if rel is None:
                    continue

                def read(limit: int, index=index, member=member) -> bytes:
                    data = buffered.pop(index, None)  # whole: the header's size is exact
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


def _zip_ignore_rules(archive: zipfile.ZipFile, infos, safe) -> GitIgnoreRules:
    rules = GitIgnoreRules()
    for info, rel in zip(infos, safe):
        if (rel and is_ignore_file(rel) and not _zip_symlink(info)
                and info.file_size <= MAX_IGNORE_FILE_BYTES):
            try:
                rules.add(rel, archive.read(info))
            except ARCHIVE_ERRORS:
                pass  # counted when the member is read as a file below
    return rules


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
            rules = None
            if gate.options.respect_gitignore:
                rules = _zip_ignore_rules(archive, infos, safe)
            for info, rel in zip(infos, safe):
                if rel is None:
                    skips.skip("code_unsafe_path")
                    continue
                if rules is not None and rules.skip_listed(rel, skips):
                    continue
                if _zip_symlink(info):
                    target = archive.read(info).decode("utf-8", "replace")
                    inside = link_stays_inside(rel, target, relative_to_member=True)
                    skips.skip("code_link" if inside else "code_unsafe_path")
                    continue

                def read(limit: int, info=info) -> bytes:
                    with archive.open(info) as member:
                        return member.read(limit + 1)

                try:
                    admitted = _admit(gate, skips, rel, info.file_size, read)
                except ARCHIVE_ERRORS:
                    skips.skip("error:bad_archive")
                    continue
                if admitted:
                    yield Candidate(rel, info.file_size, f"zip://{rel}::{path}"), *admitted
