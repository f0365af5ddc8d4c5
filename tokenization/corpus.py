"""One split of a built corpus as a single token stream: documents and windows across shards.

    corpus = ShardedCorpus("run/shards", "train")      # a manifest path, its directory, or a Manifest
    corpus.num_docs, corpus.num_tokens
    corpus.doc(i)                  # tokens of document i (EOS included), zero-copy view
    corpus.window(start, 1025)     # tokens [start, start+1025) of the split's stream
    corpus.windows(starts, 1025)   # [len(starts), 1025] array, one copy (a training batch)

The stream is the shards' token arrays in manifest order, so global positions never change for a
given manifest. Shards are memory-mapped (tokenization.shards.ShardReader): a window inside one
shard is a view into the mapped file; only a window that crosses a shard boundary is copied.
On open, each shard's document and token counts are checked against manifest.json and its
tokenizer sha256 against the manifest's (and against `tokenizer_file` when given);
`verify_sha256=True` also hashes every shard file.
"""
from __future__ import annotations

import os

import numpy as np

from tokenization.manifest import Manifest, load_manifest
from tokenization.shards import ShardReader, file_sha256


class ShardedCorpus:
    def __init__(
        self,
        manifest: Manifest | str | os.PathLike,
        split: str = "train",
        *,
        tokenizer_file: str | os.PathLike | None = None,
        verify_sha256: bool = False,
    ):
        self.manifest = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
        self.split = split
        if tokenizer_file is not None:
            self.manifest.check_tokenizer(tokenizer_file)
        self.shards: list[ShardReader] = self.manifest.open_shards(split)
        for reader, info in zip(self.shards, self.manifest.splits[split]):
            if (reader.num_docs, reader.num_tokens) != (info.num_docs, info.num_tokens):
                raise ValueError(
                    f"{reader.path}: {reader.num_docs} docs / {reader.num_tokens} tokens but manifest.json "
                    f"says {info.num_docs} / {info.num_tokens}; the shard was replaced, rebuild the corpus"
                )
            if verify_sha256 and file_sha256(reader.path) != info.sha256:
                raise ValueError(f"{reader.path}: sha256 differs from manifest.json; rebuild the corpus")
        token_counts = np.array([r.num_tokens for r in self.shards], dtype=np.int64)
        doc_counts = np.array([r.num_docs for r in self.shards], dtype=np.int64)
        # shard k holds tokens [token_starts[k], token_starts[k+1]) and docs [doc_starts[k], ...)
        self.token_starts = np.concatenate([[0], np.cumsum(token_counts)]).astype(np.int64)
        self.doc_starts = np.concatenate([[0], np.cumsum(doc_counts)]).astype(np.int64)
        self.dtype = self.manifest.header.dtype

    @property
    def num_docs(self) -> int:
        return int(self.doc_starts[-1])

    @property
    def num_tokens(self) -> int:
        return int(self.token_starts[-1])

    @property
    def eos_id(self) -> int:
        return int(self.manifest.special_ids["eos"])

    def _locate_doc(self, index: int) -> tuple[ShardReader, int]:
        if not 0 <= index < self.num_docs:
            raise IndexError(f"document {index} out of range [0, {self.num_docs})")
        shard = int(np.searchsorted(self.doc_starts, index, side="right")) - 1
        return self.shards[shard], index - int(self.doc_starts[shard])

    def doc(self, index: int) -> np.ndarray:
        """Tokens of document `index` (EOS included): a read-only view into the mapped shard."""
        reader, local = self._locate_doc(index)
        return reader.doc(local)

    def doc_id(self, index: int) -> str:
        reader, local = self._locate_doc(index)
        return reader.doc_ids[local].as_py()

    def source_of(self, index: int) -> str:
        reader, local = self._locate_doc(index)
        return reader.source_of(local)

    def doc_offsets(self) -> np.ndarray:
        """Global document boundaries in the token stream (int64, num_docs + 1), e.g. for packing
        with document masks; built on demand (8 bytes per document)."""
        parts = [reader.offsets[:-1] - reader.offsets[0] + start
                 for reader, start in zip(self.shards, self.token_starts[:-1])]
        return np.concatenate(parts + [self.token_starts[-1:]]).astype(np.int64)

    def window(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start+length) of the split's stream; a view unless it crosses shards."""
        if start < 0 or length < 0 or start + length > self.num_tokens:
            raise IndexError(f"window [{start}, {start + length}) outside [0, {self.num_tokens})")
        shard = int(np.searchsorted(self.token_starts, start, side="right")) - 1
        local = start - int(self.token_starts[shard])
        reader = self.shards[shard]
        if local + length <= reader.num_tokens:
            return reader.window(local, length)
        out = np.empty(length, dtype=self.dtype)
        filled = 0
        while filled < length:
            reader = self.shards[shard]
            piece = reader.window(local, min(length - filled, reader.num_tokens - local))
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            shard, local = shard + 1, 0
        return out

    def windows(self, starts, length: int, out: np.ndarray | None = None) -> np.ndarray:
        """Windows at each start as one [len(starts), length] array (copied once, e.g. a batch)."""
        starts = np.asarray(starts, dtype=np.int64)
        if out is None:
            out = np.empty((len(starts), length), dtype=self.dtype)
        for row, start in enumerate(starts.tolist()):
            out[row] = self.window(start, length)
        return out
