"""The one resolver for paths a recipe gives (run_dir, lid.model_path, blocklists, tokenizer files)."""
from __future__ import annotations

import os
from pathlib import Path


def resolve_path(value: str, base_dir: str | os.PathLike | None) -> str:
    """`~` and `$VARS` expanded; a URL or an absolute path as given; a relative path taken against
    `base_dir` (the recipe's folder) and made canonical (symlinks followed). Without a base_dir,
    a relative path stays relative to the working directory of the process that opens it."""
    expanded = os.path.expanduser(os.path.expandvars(value))
    if base_dir is None or "://" in expanded or os.path.isabs(expanded):
        return expanded
    return str((Path(base_dir) / expanded).resolve())
