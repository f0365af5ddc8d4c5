"""Expand a source's `paths` (files, directories, globs, fsspec URLs) into a stable task list.

The list depends on the inputs alone (sorted, deduplicated), so every run of the same recipe over
the same files gets the same tasks: that is what makes resume and byte-identical reruns possible.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs
from fsspec.utils import infer_storage_options

from corpora import DIRECTORY_SUFFIXES, reader_for



@dataclass(frozen=True, slots=True)
class InputFile:
    """One unit of extract work: an input file (or, for `code`, a directory tree)."""

    path: str  # absolute local path or full fsspec URL
    file_key: str  # stable, mount-independent name used in document ids
    size_bytes: int


class NoInputsError(ValueError):
    pass


def _has_magic(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _glob_base(pattern: str) -> str:
    """The directory part of a glob before its first wildcard: file keys are relative to it."""
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if _has_magic(part):
            return "/".join(parts[:i])
    return os.path.dirname(pattern)


def _full_path(fs: fsspec.AbstractFileSystem, path: str, protocol: str) -> str:
    return path if protocol in ("file", "local") else fs.unstrip_protocol(path)


def expand_paths(kind: str, patterns: list[str], base_dir: str, source: str) -> list[InputFile]:
    """Resolve `patterns` (relative ones against `base_dir`) into sorted InputFiles.

    Raises NoInputsError naming the pattern that matched nothing and the fix.
    """
    suffixes = DIRECTORY_SUFFIXES[kind]
    found: dict[str, InputFile] = {}
    for raw in patterns:
        pattern = os.path.expanduser(os.path.expandvars(raw))
        protocol = infer_storage_options(pattern).get("protocol", "file")
        if protocol == "file" and not os.path.isabs(pattern):
            pattern = os.path.normpath(os.path.join(base_dir, pattern))
        try:
            matches = _matches(kind, pattern, suffixes)
        except Exception as error:  # an unreachable host, refused credentials, a bad URL
            raise NoInputsError(
                f"source {source!r}: cannot list {raw!r} ({type(error).__name__}: {error}); check the "
                "URL, the network and credentials, or use a local copy"
            ) from None
        fs, _ = url_to_fs(pattern)
        if not matches:
            raise NoInputsError(
                f"source {source!r}: no files match {raw!r}"
                + (f" (resolved to {pattern})" if pattern != raw else "")
                + f"; check `paths` in the recipe (a directory contributes files ending in {', '.join(suffixes)})"
            )
        for path, key in matches:
            full = _full_path(fs, path, protocol)
            if full not in found:
                # A directory input (a code tree) counts every byte under it, as a file counts its own.
                size = _tree_bytes(fs, path) if fs.isdir(path) else int(fs.size(path) or 0)
                found[full] = InputFile(path=full, file_key=key, size_bytes=size)
    return sorted(found.values(), key=lambda f: (f.file_key, f.path))


def _tree_bytes(fs, directory: str) -> int:
    """Bytes under a directory, links not followed (a link loop in a code tree must not hang or
    raise here: the code reader counts such links itself)."""
    if not isinstance(fs, fsspec.implementations.local.LocalFileSystem):
        return int(fs.du(directory, total=True) or 0)
    total = 0
    for folder, _, files in os.walk(directory):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _matches(kind: str, pattern: str, suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(path, file key) of every input `pattern` names."""
    fs, stripped = url_to_fs(pattern)
    matches: list[tuple[str, str]] = []  # (path, key)
    if _has_magic(stripped):
        base = _glob_base(stripped)
        for path in fs.glob(stripped):
            if fs.isdir(path):
                matches.extend(_walk(fs, path, kind, suffixes, key_base=base))
            else:
                matches.append((path, os.path.relpath(path, base) if base else path))
    elif fs.isdir(stripped):
        matches.extend(_walk(fs, stripped, kind, suffixes, key_base=os.path.dirname(stripped.rstrip("/"))))
    elif fs.exists(stripped):
        matches.append((stripped, os.path.basename(stripped)))
    return matches


def _walk(fs, directory: str, kind: str, suffixes: tuple[str, ...], key_base: str) -> list[tuple[str, str]]:
    # A code directory is one repository tree: the code reader walks it itself.
    if kind == "code" and not any(fs.isfile(p) and p.lower().endswith(suffixes) for p in fs.ls(directory, detail=False)):
        return [(directory.rstrip("/"), os.path.relpath(directory.rstrip("/"), key_base) if key_base else directory)]
    listed = getattr(reader_for(kind), "directory_inputs", None)  # a reader's own rule for folders
    if listed is not None:
        root = directory.rstrip("/")
        return [(path, os.path.relpath(path, key_base) if key_base else path)
                for path in listed(fs, root, suffixes) if path == root or _inside(fs, root, path)]
    out = []
    for path in sorted(fs.find(directory)):
        if path.lower().endswith(suffixes) and _inside(fs, directory, path):
            # names like PAGES.XML.BZ2 or 00001.WARC.GZ count too
            out.append((path, os.path.relpath(path, key_base) if key_base else path))
    return out


def _inside(fs, directory: str, path: str) -> bool:
    """Whether a local file found under `directory` really lies inside it: a symlink out of the
    input tree (to /etc, to another user's files) is not followed."""
    if not isinstance(fs, fsspec.implementations.local.LocalFileSystem):
        return True  # object stores have no links
    root = os.path.realpath(directory)
    return os.path.realpath(path).startswith(root + os.sep)
