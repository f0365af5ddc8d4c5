"""Local copies of files that live in a remote run directory (any fsspec URL, e.g. s3://bucket/run).

Shards are memory-mapped and tokenizers are loaded from a path, so a reader of a remote run first
copies what it needs to a local cache, verified: a shard against the sha256 in manifest.json, a
tokenizer against the sha256 the build recorded. A file already in the cache with the right
sha256 is not fetched again; a download goes to a temporary name and is renamed into place only
after its sha256 matched, so a half-fetched file is never used.

The cache folder: `CORPUSMILL_CACHE` when set, else ~/.cache/corpusmill. Credentials and endpoints
come from the usual places of the fsspec back end (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL or FSSPEC_S3_ENDPOINT_URL, ~/.aws).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fsspec.core import url_to_fs

from tokenization.atomic_files import atomic_path, write_bytes_atomic

MANIFEST_NAME = "manifest.json"


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URL whose filesystem is not the local disk (file:// and plain paths are local)."""
    text = str(path)
    return "://" in text and not text.startswith(("file://", "local://"))


def cache_root() -> Path:
    return Path(os.environ.get("CORPUSMILL_CACHE") or Path.home() / ".cache" / "corpusmill")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_verified(url: str, target: Path, sha256: str | None) -> Path:
    """Copy `url` to `target` unless it is there with `sha256`; refuse a copy whose sha256 differs."""
    if target.is_file() and sha256 is not None and _sha256(target) == sha256:
        return target  # with no sha256 to check against, the copy is fetched again
    fs, path = url_to_fs(url)
    with atomic_path(target) as tmp:  # renamed into place only once the sha256 matched
        fs.get_file(path, str(tmp))
        actual = _sha256(tmp)
        if sha256 is not None and actual != sha256:
            raise ValueError(f"{url}: downloaded sha256 {actual[:12]} but expected {sha256[:12]}; the remote "
                             "file changed or is half-written; rebuild the run or fetch it again")
    return target


def local_tokenizer(url: str, sha256: str | None) -> Path:
    """A local copy of a remote tokenizer.json (cached by sha256 when known)."""
    name = f"{sha256}.json" if sha256 else f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"
    return fetch_verified(url, cache_root() / "tokenizers" / name, sha256)


def cache_remote_shards(url: str) -> Path:
    """Copy a remote run's (or shards folder's) manifest.json, tokenizer and every shard into the
    cache, each shard verified against the manifest's sha256; return the local manifest path."""
    url = url.rstrip("/")
    fs, root = url_to_fs(url)
    for candidate in (root, f"{root}/{MANIFEST_NAME}", f"{root}/shards/{MANIFEST_NAME}"):
        if candidate.endswith(MANIFEST_NAME) and fs.isfile(candidate):
            break
    else:
        raise FileNotFoundError(f"no {MANIFEST_NAME} at {url} (nor {url}/shards/); run `corpusmill build` first")
    directory = candidate.rsplit("/", 1)[0]
    local = cache_root() / "shards" / hashlib.sha256(fs.unstrip_protocol(directory).encode()).hexdigest()[:16]
    manifest_bytes = fs.cat_file(candidate)
    manifest = json.loads(manifest_bytes)
    tokenizer = manifest["tokenizer"]
    fetch_verified(fs.unstrip_protocol(f"{directory}/{tokenizer['path']}"), local / tokenizer["path"],
                   tokenizer["sha256"])
    for shards in manifest["splits"].values():
        for shard in shards:
            fetch_verified(fs.unstrip_protocol(f"{directory}/{shard['path']}"), local / shard["path"],
                           shard["sha256"])
    target = local / MANIFEST_NAME  # last: a cached manifest means every file it names is here
    write_bytes_atomic(target, manifest_bytes)
    return target
