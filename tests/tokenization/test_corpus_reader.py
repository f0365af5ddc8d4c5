"""ShardedCorpus over a real built corpus: documents, windows across shards, totals, refusals,
and opening the shards with HF datasets."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenization.corpus import ShardedCorpus
from tokenization.manifest import load_manifest
from tokenization.shards import ShardHeader, ShardReader, write_shard


@pytest.fixture(scope="module")
def tokenized_by_id(small_corpus):
    """doc_id -> token array, straight from the tokenize stage's parquet parts."""
    out = {}
    for paths in small_corpus["parts"].values():
        for path in paths:
            table = pq.read_table(path)
            for doc_id, tokens in zip(table.column("doc_id").to_pylist(), table.column("tokens").to_pylist()):
                out[doc_id] = np.asarray(tokens)
    return out


def test_totals_match_shards_and_parts(small_corpus, tokenized_by_id):
    manifest = load_manifest(small_corpus["root"] / "shards")
    stored = json.loads((small_corpus["root"] / "shards" / "manifest.json").read_text())
    part_tokens = {s: sum(int(pq.read_table(p).column("num_tokens").to_numpy().sum()) for p in paths)
                   for s, paths in small_corpus["parts"].items()}
    for split in ("train", "val"):
        per_source: dict[str, int] = {}
        for info in manifest.splits[split]:
            reader = ShardReader(manifest.directory / info.path)
            counted: dict[str, int] = {}
            for i in range(reader.num_docs):
                counted[reader.source_of(i)] = counted.get(reader.source_of(i), 0) + len(reader.doc(i))
            assert (reader.num_docs, reader.num_tokens, counted) == (info.num_docs, info.num_tokens, info.tokens_per_source)
            for source, n in counted.items():
                per_source[source] = per_source.get(source, 0) + n
        assert stored["totals"][split]["tokens_per_source"] == per_source
        assert stored["totals"][split]["num_tokens"] == sum(per_source.values())
    # natural mixture, caps 1: every train-pool token is used once; train + val = all tokens.
    train = stored["totals"]["train"]["tokens_per_source"]
    val = stored["totals"]["val"]["tokens_per_source"]
    assert {s: train[s] + val[s] for s in train} == part_tokens
    assert stored["totals"]["train"]["num_docs"] + stored["totals"]["val"]["num_docs"] == len(tokenized_by_id)


def test_docs_and_windows_across_shards(small_corpus, tokenized_by_id):
    corpus = ShardedCorpus(small_corpus["root"] / "shards" / "manifest.json", "train")
    assert len(corpus.shards) >= 8  # ~2.8M + code tokens in shards of ~250k
    stream = np.concatenate([r.tokens[r.offsets[0]: r.offsets[-1]] for r in corpus.shards])
    assert corpus.num_tokens == len(stream) == small_corpus["manifest"].totals()["train"]["num_tokens"]
    offsets = corpus.doc_offsets()
    assert len(offsets) == corpus.num_docs + 1 and offsets[-1] == corpus.num_tokens
    for i in range(0, corpus.num_docs, 7):
        doc = corpus.doc(i)
        assert np.array_equal(doc, tokenized_by_id[corpus.doc_id(i)])
        assert np.array_equal(doc, stream[offsets[i]: offsets[i + 1]])
        assert doc[-1] == corpus.eos_id == 50256
    # windows that cross every shard boundary, and random ones
    boundaries = corpus.token_starts[1:-1]
    starts = np.concatenate([boundaries - 3, boundaries - 1024, np.random.default_rng(0).integers(0, corpus.num_tokens - 1025, 200)])
    batch = corpus.windows(starts, 1025)
    for row, start in zip(batch, starts.tolist()):
        assert np.array_equal(row, stream[start: start + 1025])
    # inside one shard the window is a view into the memory map, not a copy
    inside = corpus.window(int(corpus.token_starts[1]) + 10, 1025)
    assert np.shares_memory(inside, corpus.shards[1].tokens)
    assert not inside.flags.writeable
    with pytest.raises(IndexError):
        corpus.window(corpus.num_tokens - 10, 11)


def test_manifest_from_a_file_url_and_a_remote_url_cached_and_verified(small_corpus, tmp_path, monkeypatch):
    shards = small_corpus["root"] / "shards"
    by_url = load_manifest(f"file://{shards}")
    assert by_url.directory == shards and by_url.splits == load_manifest(shards).splits
    # A remote run (fsspec's in-memory filesystem here; S3 in tests/pipelines/test_s3_run.py) is
    # copied to the cache first, every shard checked against the manifest's sha256.
    import fsspec

    monkeypatch.setenv("CORPUSMILL_CACHE", str(tmp_path / "cache"))
    memory = fsspec.filesystem("memory")
    for path in shards.iterdir():
        memory.pipe_file(f"/remote-run/shards/{path.name}", path.read_bytes())
    remote = load_manifest("memory://remote-run")
    assert remote.splits == load_manifest(shards).splits
    assert remote.directory.parent == tmp_path / "cache" / "shards"
    for name in [s.path for s in remote.splits["train"]] + ["tokenizer.json"]:
        assert (remote.directory / name).read_bytes() == (shards / name).read_bytes()
    first = remote.splits["train"][0].path
    memory.pipe_file(f"/remote-run/shards/{first}", b"not the shard")
    (remote.directory / first).unlink()
    with pytest.raises(ValueError, match=f"remote-run/shards/{first}: downloaded sha256 .* but expected"):
        load_manifest("memory://remote-run")
    memory.rm("/remote-run", recursive=True)


def test_manifest_tokenizer_mismatch_refused(small_corpus, shared_data, tmp_path):
    shards = small_corpus["root"] / "shards"
    bert = shared_data / "tokenizers/all-MiniLM-L6-v2/tokenizer.json"
    with pytest.raises(ValueError, match=r"does not match the shards' tokenizer .*use .*tokenizer.json"):
        ShardedCorpus(shards, "train", tokenizer_file=bert)
    assert ShardedCorpus(shards, "val", tokenizer_file=shards / "tokenizer.json").num_docs >= 2
    # A shard written with another tokenizer slipped into the directory: refused on open.
    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    manifest = load_manifest(copy)
    first = copy / manifest.splits["train"][0].path
    reader = ShardReader(first)
    documents = [reader.doc(i).copy() for i in range(reader.num_docs)]
    sources = [reader.source_of(i) for i in range(reader.num_docs)]
    doc_ids = reader.doc_ids.to_pylist()
    del reader
    other = ShardHeader(tokenizer_sha256="0" * 64, vocab_size=50257, special_ids={"eos": 50256})
    write_shard(first, documents, sources, doc_ids, other)
    with pytest.raises(ValueError, match="shard was tokenized with tokenizer 000000000000 but the manifest says"):
        ShardedCorpus(copy, "train")
    with pytest.raises(KeyError, match="manifest has no split 'test'"):
        ShardedCorpus(copy, "test")


def test_shards_open_with_hf_datasets(small_corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    manifest = small_corpus["manifest"]
    files = [str(p) for p in manifest.shard_paths("train")]
    dataset = datasets.load_dataset("arrow", data_files={"train": files}, split="train", cache_dir=str(tmp_path))
    assert dataset.num_rows == manifest.totals()["train"]["num_docs"]
    assert dataset.features["tokens"].feature.dtype == "uint16"
    corpus = ShardedCorpus(manifest, "train")
    for i in (0, 1, dataset.num_rows // 2, dataset.num_rows - 1):
        row = dataset[i]
        assert row["tokens"] == corpus.doc(i).tolist()
        assert row["num_tokens"] == len(row["tokens"])
        assert row["doc_id"] == corpus.doc_id(i)
        assert row["source"] == corpus.source_of(i)
    assert sum(dataset["num_tokens"]) == corpus.num_tokens


def test_shard_schema_is_the_contract(small_corpus):
    path = small_corpus["manifest"].shard_paths("train")[0]
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
    assert [f.name for f in schema] == ["tokens", "num_tokens", "source", "doc_id"]
    assert schema.field("tokens").type == pa.large_list(pa.uint16())
    assert schema.field("source").type == pa.dictionary(pa.int32(), pa.string())
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert meta["corpusmill.tokenizer_sha256"].startswith("749376b2df76f262")
    assert meta["corpusmill.vocab_size"] == "50257"
    assert json.loads(meta["corpusmill.special_ids"]) == {"eos": 50256}
