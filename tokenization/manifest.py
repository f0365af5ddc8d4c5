"""manifest.json: the contract between the shard writer and every reader (trainer, exports).

{
  "format_version": 1,
  "tokenizer": {"path": "tokenizer.json" (relative to the manifest), "sha256": "...",
                "vocab_size": 50257, "special_ids": {"eos": 50256, "pad": ..., "mask": ...,
                                                      "sentinels": [...]}},
  "dtype": "uint16" | "uint32",
  "mixture": {...}   # resolved plan: per source target/achieved weight, epochs, tokens (mixture.py)
  "splits": {"train": [ShardInfo...], "val": [ShardInfo...]},
  "totals": {"train": {"num_docs", "num_tokens", "tokens_per_source"}, "val": {...}}
}
`totals` always equal the sums over the split's shards; `Manifest.check_totals` verifies that.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tokenization.atomic_files import write_bytes_atomic
from tokenization.remote import cache_remote_shards, is_remote
from tokenization.shards import FORMAT_VERSION, ShardHeader, ShardInfo, ShardReader, file_sha256

MANIFEST_NAME = "manifest.json"


@dataclass(kw_only=True)
class Manifest:
    directory: Path  # where manifest.json lives; shard paths are relative to it
    tokenizer_path: str
    tokenizer_sha256: str
    vocab_size: int
    special_ids: dict
    splits: dict[str, list[ShardInfo]]
    mixture: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def dtype(self) -> str:
        return self.header.dtype.name

    @property
    def header(self) -> ShardHeader:
        return ShardHeader(
            tokenizer_sha256=self.tokenizer_sha256,
            vocab_size=self.vocab_size,
            special_ids=self.special_ids,
        )

    def totals(self) -> dict[str, dict]:
        out = {}
        for split, shards in self.splits.items():
            per_source: Counter[str] = Counter()
            for shard in shards:
                per_source.update(shard.tokens_per_source)
            out[split] = {
                "num_docs": sum(s.num_docs for s in shards),
                "num_tokens": sum(s.num_tokens for s in shards),
                "tokens_per_source": dict(sorted(per_source.items())),
            }
        return out

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version,
            "tokenizer": {
                "path": self.tokenizer_path,
                "sha256": self.tokenizer_sha256,
                "vocab_size": self.vocab_size,
                "special_ids": self.special_ids,
            },
            "dtype": self.dtype,
            "mixture": self.mixture,
            "splits": {k: [s.to_json() for s in v] for k, v in self.splits.items()},
            "totals": self.totals(),
        }

    def save(self) -> Path:
        path = self.directory / MANIFEST_NAME
        return write_bytes_atomic(path, (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode())

    def shard_paths(self, split: str) -> list[Path]:
        if split not in self.splits:
            raise KeyError(f"manifest has no split {split!r}; it has {sorted(self.splits)}")
        return [self.directory / s.path for s in self.splits[split]]

    def open_shards(self, split: str) -> list[ShardReader]:
        """Open a split's shards, refusing any whose tokenizer differs from the manifest's."""
        readers = []
        for path in self.shard_paths(split):
            reader = ShardReader(path)
            if reader.header.tokenizer_sha256 != self.tokenizer_sha256:
                raise ValueError(
                    f"{path}: shard was tokenized with tokenizer {reader.header.tokenizer_sha256[:12]} "
                    f"but the manifest says {self.tokenizer_sha256[:12]}; rebuild the shards "
                    "(`corpusmill build`) or point at the matching manifest"
                )
            readers.append(reader)
        return readers

    def check_tokenizer(self, tokenizer_file: str | os.PathLike) -> None:
        """Refuse a tokenizer file that is not the one the shards were made with."""
        actual = file_sha256(tokenizer_file)
        if actual != self.tokenizer_sha256:
            raise ValueError(
                f"tokenizer {tokenizer_file} (sha256 {actual[:12]}) does not match the shards' "
                f"tokenizer (sha256 {self.tokenizer_sha256[:12]}); use {self.directory / self.tokenizer_path}"
            )

    def check_totals(self, stored: dict) -> None:
        if stored != self.totals():
            raise ValueError("manifest totals do not equal the sums over its shards; the manifest is corrupt")


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Load manifest.json from a file path, a shards/ directory, or a run directory. Shards are
    memory-mapped: a `file://` URL is its path; a remote URL (s3://...) is copied to the local
    cache first, every shard checked against its sha256 (tokenization.remote)."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif is_remote(text):  # shards are memory-mapped: copied to the local cache first, verified
        text = str(cache_remote_shards(text))
    path = Path(text)
    for candidate in (path, path / MANIFEST_NAME, path / "shards" / MANIFEST_NAME):
        if candidate.is_file():
            break
    else:
        raise FileNotFoundError(
            f"no {MANIFEST_NAME} at {path} (nor {path}/shards/); run `corpusmill build` first"
        )
    data = json.loads(candidate.read_text())
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{candidate}: manifest format {data.get('format_version')} but this corpusmill reads "
            f"{FORMAT_VERSION}; rebuild the shards with this version"
        )
    tok = data["tokenizer"]
    manifest = Manifest(
        directory=candidate.parent,
        tokenizer_path=tok["path"],
        tokenizer_sha256=tok["sha256"],
        vocab_size=tok["vocab_size"],
        special_ids=tok["special_ids"],
        splits={k: [ShardInfo(**s) for s in v] for k, v in data["splits"].items()},
        mixture=data.get("mixture", {}),
    )
    manifest.check_totals(data["totals"])
    return manifest
