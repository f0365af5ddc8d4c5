"""Megatron-LM .bin/.idx export: byte layout checked field by field, read back exactly."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from tokenization.corpus import ShardedCorpus
from tokenization.megatron import export_megatron, read_megatron


def test_round_trip_and_layout(small_corpus, tmp_path):
    manifest = small_corpus["manifest"]
    bin_path, idx_path = export_megatron(manifest.directory, tmp_path / "meg" / "train_text_document")
    corpus = ShardedCorpus(manifest, "train")
    n = corpus.num_docs

    # Layout per megatron/core/datasets/indexed_dataset.py (_IndexWriter), parsed independently.
    raw = idx_path.read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    assert struct.unpack("<Q", raw[9:17]) == (1,)
    assert struct.unpack("<B", raw[17:18]) == (8,)  # DType.uint16
    assert struct.unpack("<QQ", raw[18:34]) == (n, n + 1)
    lengths = np.frombuffer(raw, np.int32, n, 34)
    pointers = np.frombuffer(raw, np.int64, n, 34 + 4 * n)
    documents = np.frombuffer(raw, np.int64, n + 1, 34 + 12 * n)
    assert len(raw) == 34 + 4 * n + 8 * n + 8 * (n + 1)
    offsets = corpus.doc_offsets()
    assert np.array_equal(lengths, np.diff(offsets))
    assert np.array_equal(pointers, offsets[:-1] * 2)
    assert np.array_equal(documents, np.arange(n + 1))
    data = np.frombuffer(bin_path.read_bytes(), np.uint16)
    assert len(data) == corpus.num_tokens
    assert np.array_equal(data, corpus.window(0, corpus.num_tokens))

    dataset = read_megatron(tmp_path / "meg" / "train_text_document")
    assert len(dataset) == n and dataset.dtype == np.uint16
    for i in range(n):
        assert np.array_equal(dataset[i], corpus.doc(i))


def test_val_split_and_bad_header(small_corpus, tmp_path):
    export_megatron(small_corpus["manifest"], tmp_path / "val", split="val")
    corpus = ShardedCorpus(small_corpus["manifest"], "val")
    dataset = read_megatron(tmp_path / "val")
    assert [dataset[i].tolist() for i in range(len(dataset))] == [corpus.doc(i).tolist() for i in range(corpus.num_docs)]
    (tmp_path / "bad.idx").write_bytes(b"NOTMEGA\x00\x00" + bytes(30))
    (tmp_path / "bad.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="not a Megatron index"):
        read_megatron(tmp_path / "bad")


def test_megatron_core_reads_the_export(small_corpus, tmp_path):
    """When megatron-core is installed, its own IndexedDataset must read the export identically."""
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    export_megatron(small_corpus["manifest"], tmp_path / "train")
    dataset = indexed.IndexedDataset(str(tmp_path / "train"), mmap=True)
    corpus = ShardedCorpus(small_corpus["manifest"], "train")
    assert len(dataset) == corpus.num_docs
    assert all(np.array_equal(dataset[i], corpus.doc(i)) for i in range(len(dataset)))
