"""The one way corpusmill writes a file: to a temporary name beside it, then a rename into place.

A reader never sees half a file, and a killed writer leaves only `<name>.tmp-<8 hex>` behind, the
one temporary-name style `remove_stale_temporaries` knows (a build runs it on its run directory).
In `tokenization/` because every package may import it (train imports only tokenization).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TEMP_MARK = ".tmp-"
TEMP_GLOB = f"**/*{TEMP_MARK}*"


def temp_name(final: str) -> str:
    """`<final>.tmp-<8 hex>`: unique per writer, so concurrent retries never share a temporary."""
    return f"{final}{TEMP_MARK}{uuid.uuid4().hex[:8]}"


@contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write `final`'s content to; renamed into place if the block
    succeeds, removed if it raises. The parent directory is created."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temp_name(str(final)))
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)


def write_bytes_atomic(final: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def remove_stale_temporaries(root: str | os.PathLike) -> list[Path]:
    """Delete the temporaries killed writers left under a local directory; return what went."""
    stale = sorted(Path(root).glob(TEMP_GLOB))
    for path in stale:
        if path.is_file():
            path.unlink(missing_ok=True)
    return stale
