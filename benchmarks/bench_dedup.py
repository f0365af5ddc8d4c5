"""MinHash signature speed per core, shingling included, and signature accuracy, side by side:
corpusmill (numpy, datasketch-identical affine64), datatrove's MinhashDedupSignature, datasketch,
rensa's RMinHash, on the same real documents in the same process, 14 bands x 8 rows = 112 hashes,
word 5-grams.

Documents: the 1,033 real web pages of trafilatura_eval_pages.warc.gz (corpusmill's extractor) and
the 25 Gutenberg books cut into ~900-character paragraph chunks, up to --num-docs. Times are CPU
seconds of this process (one core; the machine is shared, so wall times are noisy and not used).
  * corpusmill: normalize + word hashes + 5-gram hashes (numpy) + signatures + band hashes, batched
    2,000 documents as in the `dedup.signature` phase.
  * datatrove: `get_shingles` (simplify_text + spaCy word split + xxhash of each 5-gram) +
    `get_signature` per document (the loop of MinhashDedupSignature.run, without its file writes);
    also its whole `.run()` into a temporary folder (writes and sorts its 14 bucket files).
  * datasketch: MinHash(num_perm=112, scheme="affine64") with its default sha1 hash, `update_batch`
    of the 5-gram strings (corpusmill's normalization, shingling in Python).
  * rensa: RMinHash(num_perm=112, seed=1).update(5-gram strings) (same shingling).
Accuracy: 300 documents each paired with a copy under one known edit (dedup_groundtruth.edit);
mean absolute error of the signature's Jaccard estimate (share of equal slots) against the exact
Jaccard of the shingle sets that method hashes.

    python benchmarks/bench_dedup.py [--num-docs 3000] [--rounds 2]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xxhash

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup_groundtruth import EDITS, chunks, data_root, edit  # noqa: E402
from results import record  # noqa: E402

from corpora import SkipCounter, reader_for  # noqa: E402
from pipelines.dedup.minhash import MinHasher, band_hashes  # noqa: E402
from pipelines.dedup.shingles import normalize_words, shingle_hashes  # noqa: E402

NUM_BANDS, ROWS, NGRAM = 14, 8, 5


def load_docs(limit: int) -> list[str]:
    root = data_root()
    reader = reader_for("commoncrawl")
    pages = [d["text"] for d in reader.iter_documents(
        str(root / "web/warc-derived-realhtml/trafilatura_eval_pages.warc.gz"), source="web",
        file_key="pages", options=reader.Options(), skips=SkipCounter())]
    books = reader_for("books")
    pieces = []
    for path in sorted((root / "books/gitenberg").glob("*.txt")):
        for doc in books.iter_documents(str(path), source="b", file_key=path.name, options=books.Options(),
                                        skips=SkipCounter()):
            pieces += chunks(doc["text"], 900)
    docs = [t for t in pages + pieces if len(t.split()) >= 20]
    return docs[:limit]


def string_shingles(text: str) -> list[str]:
    words = normalize_words(text)
    width = min(NGRAM, len(words))
    return [" ".join(words[i:i + width]) for i in range(len(words) - width + 1)] if words else []


def corpusmill_signatures(texts: list[str]) -> np.ndarray:
    hasher = MinHasher(NUM_BANDS * ROWS, 1, 64)
    out = []
    for start in range(0, len(texts), 2000):
        batch = texts[start:start + 2000]
        signatures = hasher.signatures([shingle_hashes(t) for t in batch])
        band_hashes(signatures, NUM_BANDS, ROWS)
        out.append(signatures)
    return np.concatenate(out)


def datatrove_step():
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(n_grams=NGRAM, num_buckets=NUM_BANDS, hashes_per_bucket=ROWS,
                           hash_config=HashConfig(precision=64))
    step = MinhashDedupSignature(output_folder=tempfile.mkdtemp(prefix="dt-sig-"), config=config)
    # datatrove 0.10.1 hands xxhash a str, which xxhash 4 (our pin) refuses; xxhash 3 encoded it as
    # UTF-8 itself. Same hash, same cost as under xxhash 3:
    step._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode("utf-8"))
    return step


def datatrove_signatures(step, texts: list[str]) -> np.ndarray:
    rows = []
    for text in texts:
        shingles = step.get_shingles(text)
        rows.append(np.concatenate(step.get_signature(shingles)) if shingles.size else np.zeros(112, np.uint64))
    return np.array(rows, dtype=np.uint64)


def datasketch_signatures(texts: list[str]) -> np.ndarray:
    from datasketch import MinHash

    rows = []
    for text in texts:
        minhash = MinHash(num_perm=NUM_BANDS * ROWS, seed=1, scheme="affine64")
        minhash.update_batch([s.encode() for s in string_shingles(text)])
        rows.append(minhash.hashvalues)
    return np.array(rows)


def rensa_signatures(texts: list[str]) -> np.ndarray:
    from rensa import RMinHash

    rows = []
    for text in texts:
        minhash = RMinHash(num_perm=NUM_BANDS * ROWS, seed=1)
        minhash.update(string_shingles(text))
        rows.append(minhash.digest())
    return np.array(rows, dtype=np.uint64)


def timed(fn, *args) -> tuple[float, object]:
    started = time.process_time()
    result = fn(*args)
    return time.process_time() - started, result


def exact_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def accuracy(docs: list[str], step) -> dict[str, float]:
    rng = random.Random(0)
    prose = [d for d in docs if len(d.split()) >= 60]
    bases = rng.sample(prose, min(300, len(prose)))
    templates = [(" ".join(rng.choice(prose).split()[:30]), " ".join(rng.choice(prose).split()[-30:]))]
    pairs = [(b, edit(b, rng.choice(EDITS), rng, templates[0])) for b in bases]
    left, right = [a for a, _ in pairs], [b for _, b in pairs]
    results = {}
    ours_sets = [(set(string_shingles(a)), set(string_shingles(b))) for a, b in pairs]
    truth = np.array([exact_jaccard(a, b) for a, b in ours_sets])
    for name, fn in (("corpusmill", corpusmill_signatures), ("datasketch", datasketch_signatures),
                     ("rensa", rensa_signatures)):
        estimate = (fn(left) == fn(right)).mean(axis=1)
        results[name] = float(np.abs(estimate - truth).mean())
    dt_truth = np.array([exact_jaccard(set(step.get_shingles(a).ravel().tolist()), set(step.get_shingles(b).ravel().tolist()))
                         for a, b in pairs])
    estimate = (datatrove_signatures(step, left) == datatrove_signatures(step, right)).mean(axis=1)
    results["datatrove"] = float(np.abs(estimate - dt_truth).mean())
    results["mean_jaccard"] = float(truth.mean())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-docs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds per method")
    args = parser.parse_args()
    docs = load_docs(args.num_docs)
    num_chars = sum(len(d) for d in docs)
    print(f"{len(docs)} real documents, {num_chars / 1e6:.1f} M chars, {NUM_BANDS} bands x {ROWS} rows, "
          f"word {NGRAM}-grams; CPU seconds of one process, best of {args.rounds}")
    step = datatrove_step()
    datatrove_signatures(step, docs[:20])  # spaCy's first call loads its tables
    methods = {"corpusmill": corpusmill_signatures, "datatrove (shingles+signature)": lambda d: datatrove_signatures(step, d),
               "datasketch": datasketch_signatures, "rensa": rensa_signatures}
    seconds = {name: min(timed(fn, docs)[0] for _ in range(args.rounds)) for name, fn in methods.items()}

    def datatrove_run():
        from datatrove.data import Document

        step_run = datatrove_step()
        step_run.run((Document(text=t, id=str(i)) for i, t in enumerate(docs)), rank=0, world_size=1)

    seconds["datatrove MinhashDedupSignature.run"] = min(timed(datatrove_run)[0] for _ in range(args.rounds))
    anchor = seconds["datatrove (shingles+signature)"]
    print(f"\n{'method':<40}{'CPU s':>9}{'docs/s/core':>14}{'vs datatrove':>14}")
    for name, value in seconds.items():
        print(f"{name:<40}{value:9.2f}{len(docs) / value:14,.0f}{anchor / value:13.1f}x")
    for name in ("datatrove (shingles+signature)", "datasketch", "rensa"):
        record("dedup (MinHash signatures)", f"corpusmill vs {name.split()[0]}", corpusmill=len(docs) / seconds["corpusmill"],
               anchor=len(docs) / seconds[name], unit="docs/s per core", anchor_name=name)
    errors = accuracy(docs, step)
    print(f"\nJaccard estimate vs exact, 300 edited pairs (mean exact Jaccard {errors.pop('mean_jaccard'):.3f}):")
    for name, value in errors.items():
        print(f"  {name:<12} mean absolute error {value:.4f}")
    record("dedup (MinHash signatures)", "Jaccard estimate mean abs. error, 300 edited pairs",
           corpusmill=errors["corpusmill"], anchor=errors["datatrove"], unit="|estimate - exact|",
           higher_is_better=False, anchor_name="datatrove")


if __name__ == "__main__":
    main()
