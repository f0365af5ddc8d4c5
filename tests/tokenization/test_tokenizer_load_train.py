"""Loading real tokenizers (special ids, sha256, vocab size) and training BPE / Unigram."""
from __future__ import annotations

import hashlib
import json

import pytest
from tokenizers import Tokenizer

from tokenization.tokenizer import load_tokenizer
from tokenization.tokenizer_training import train_tokenizer

GPT2 = "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"
NEOX = "tokenizers/gpt-neox-dolma-test/gpt-neo-test-tokenizer.json"
BERT = "tokenizers/all-MiniLM-L6-v2/tokenizer.json"


def test_gpt2_spec_matches_manifest_md(shared_data):
    spec = load_tokenizer(shared_data / GPT2)
    # MANIFEST.md: sha256 749376b2df76f262..., vocab 50,257 incl. <|endoftext|>=50256
    assert spec.sha256.startswith("749376b2df76f262")
    assert spec.sha256 == hashlib.sha256((shared_data / GPT2).read_bytes()).hexdigest()
    assert spec.vocab_size == 50257
    assert spec.special_ids == {"eos": 50256}
    assert spec.header().dtype.name == "uint16"
    assert spec.tokenizer.encode("Hello world").ids == [15496, 995]  # MANIFEST.md's GPT-2 check


def test_neox_and_bert_special_ids(shared_data):
    neox = load_tokenizer(shared_data / NEOX)
    assert neox.sha256.startswith("9ad33b4b39a9f839")
    assert neox.vocab_size == 50280  # MANIFEST.md
    assert neox.special_ids == {"eos": 50279, "pad": 1}  # <|endoftext|>, <|padding|>
    bert = load_tokenizer(shared_data / BERT)
    assert bert.sha256.startswith("be50c3628f2bf5bb")
    assert bert.vocab_size == 30522
    # bert-base-uncased ids: [PAD]=0, [CLS]=101, [SEP]=102, [MASK]=103
    assert bert.special_ids == {"eos": 102, "pad": 0, "bos": 101, "mask": 103}


def test_explicit_and_missing_eos(shared_data, tmp_path):
    assert load_tokenizer(shared_data / BERT, eos_token="[CLS]").eos_id == 101
    with pytest.raises(ValueError, match="eos token '<nope>' is not in the vocabulary"):
        load_tokenizer(shared_data / BERT, eos_token="<nope>")
    # A tokenizer without any common EOS name: the error names the option to set.
    config = json.loads((shared_data / BERT).read_text())
    for token in config["added_tokens"]:
        token["content"] = token["content"].replace("[SEP]", "[SEPARATOR]")
    config["model"]["vocab"]["[SEPARATOR]"] = config["model"]["vocab"].pop("[SEP]")
    config["post_processor"] = None
    no_eos = tmp_path / "no_eos.json"
    no_eos.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no eos token among .*name it with `eos_token`"):
        load_tokenizer(no_eos)
    assert load_tokenizer(no_eos, eos_token="[SEPARATOR]").eos_id == 102


def test_tiktoken_ranks_verified_or_refused(shared_data):
    ranks = shared_data / "tokenizers/whisper-gpt2/gpt2.tiktoken"
    spec = load_tokenizer(shared_data / GPT2, tiktoken_ranks=ranks)
    assert spec.tiktoken_encoding.encode("Hello world") == [15496, 995]
    with pytest.raises(ValueError, match="do not map to the 50257 ranks one to one; drop `tiktoken_ranks`"):
        load_tokenizer(shared_data / GPT2, tiktoken_ranks=shared_data / "tokenizers/whisper-gpt2/multilingual.tiktoken")
    with pytest.raises(ValueError, match="added tokens that are not plain special tokens"):
        load_tokenizer(shared_data / NEOX, tiktoken_ranks=ranks)


def _book_paragraphs(shared_data, count=3):
    texts = []
    for path in sorted((shared_data / "books" / "gitenberg").glob("*-8.txt"))[:count]:
        texts += [p for p in path.read_bytes().decode("latin-1").split("\r\n\r\n") if p.strip()]
    return texts


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_train_sentinels_on_top_and_deterministic(shared_data, tmp_path, kind):
    texts = _book_paragraphs(shared_data)
    first = train_tokenizer(texts, vocab_size=1200, out_path=tmp_path / "a.json", kind=kind, num_sentinels=100)
    second = train_tokenizer(texts, vocab_size=1200, out_path=tmp_path / "b.json", kind=kind, num_sentinels=100)
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json.sha256").read_text() == f"{first.sha256}  a.json\n"

    tokenizer = Tokenizer.from_file(str(tmp_path / "a.json"))  # independent of the spec
    assert tokenizer.get_vocab_size(with_added_tokens=True) == 1200 == first.vocab_size
    for k in (0, 1, 57, 99):
        assert tokenizer.token_to_id(f"<extra_id_{k}>") == 1200 - 1 - k
    assert first.special_ids["sentinels"] == [1199 - k for k in range(100)]
    assert [tokenizer.token_to_id(t) for t in ("<|endoftext|>", "<|pad|>", "<|mask|>")] == [0, 1, 2]
    assert {k: first.special_ids[k] for k in ("eos", "pad", "mask")} == {"eos": 0, "pad": 1, "mask": 2}
    # Byte level: any text, including characters never seen in training, round-trips.
    sample = "Gutenberg — 東京 🙂 naïve\r\n\tx <extra_id_3>"
    encoding = tokenizer.encode(sample)
    assert tokenizer.decode(encoding.ids, skip_special_tokens=False) == sample
    assert 1199 - 3 in encoding.ids
    if kind == "unigram":
        assert tokenizer.token_to_id("<unk>") not in encoding.ids


def test_train_sample_docs_is_seeded(shared_data, tmp_path):
    texts = _book_paragraphs(shared_data, count=2)
    a = train_tokenizer(texts, vocab_size=800, out_path=tmp_path / "a.json", sample_docs=300, seed=1, num_sentinels=4)
    b = train_tokenizer(texts, vocab_size=800, out_path=tmp_path / "b.json", sample_docs=300, seed=1, num_sentinels=4)
    c = train_tokenizer(texts, vocab_size=800, out_path=tmp_path / "c.json", sample_docs=300, seed=2, num_sentinels=4)
    assert a.sha256 == b.sha256 != c.sha256
