"""Tokenization throughput per core: corpusmill's encode_table vs datatrove's DocumentTokenizer.

    python benchmarks/bench_tokenize.py [--quick] [--data ../shared/data] [--repeats 2] [--json out.json]

Three byte-level BPEs, each on the same documents in the same run, one thread (RAYON_NUM_THREADS=1
is set before `tokenizers` loads, so HF's batch encode cannot use a second core):
  demo-trained  a byte-level BPE trained as `corpusmill demo` trains it (vocab 4,096, 2,000 sampled
                documents, seed 0) on the demo's input text (pydoc topics + the same stdlib packages)
  gpt2          the shared GPT-2 tokenizer.json
  neox          the shared NeoX-style tokenizer.json (NFC normalizer, added whitespace-run tokens)
Documents: the 25 shared books and the first 1,500 (--quick: 300) code files, as they are.
MB = UTF-8 bytes of the texts; per core = CPU seconds of this process (best of the repeats).

  datatrove     DocumentTokenizer(eos_token=<|endoftext|>, shuffle_documents=False): encode_batch
                + its .ds/.index writer (no shuffle pass, the lighter configuration)
  ours/hf       tokenization.encode.encode_table (tokenizers encode_batch_fast) + parquet write
  ours/derived  the same through tiktoken with ranks derived from tokenizer.json's merges
                (tokenization/tiktoken_bridge.py), as the build chooses it after its check
  ours/given    gpt2 only: tiktoken with the published gpt2.tiktoken ranks file
The ids of every variant are compared token for token with datatrove's before any figure is printed.
"""
from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # must precede any tokenizers import
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gzip  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tokenization.encode import encode_table  # noqa: E402
from tokenization.tokenizer import load_tokenizer, with_fast_path  # noqa: E402
from tokenization.tokenizer_training import train_tokenizer  # noqa: E402

try:  # run as `python benchmarks/<script>.py` or by `python -m benchmarks`
    from results import record  # noqa: E402
except ImportError:  # pragma: no cover
    from benchmarks.results import record  # noqa: E402


def load_documents(data: Path, num_code: int) -> list[str]:
    texts = []
    for path in sorted((data / "books/gitenberg").glob("*.txt")):
        raw = path.read_bytes()
        texts.append(raw.decode("utf-8") if path.name.endswith("-0.txt") else raw.decode("latin-1"))
    with gzip.open(data / "code/code_corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        texts += [json.loads(line)["content"] for line in itertools.islice(handle, num_code)]
    return texts


def cpu_best(run, repeats, setup=lambda: None):
    """Best CPU seconds of `run(setup())`; setup (loading a tokenizer) is not timed."""
    best, result = float("inf"), None
    for _ in range(repeats):
        prepared = setup()
        started = time.process_time()
        result = run(prepared)
        best = min(best, time.process_time() - started)
    return best, result


def datatrove_step(tokenizer_json, out_dir):
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    step = DocumentTokenizer(
        output_folder=str(out_dir), tokenizer_name_or_path=str(tokenizer_json), eos_token="<|endoftext|>",
        shuffle_documents=False, save_final_metadata=False, batch_size=1000,
    )
    assert step.tokenizer is not None  # loaded here, untimed, as our specs are loaded beforehand
    return step, out_dir


def run_datatrove(texts, prepared):
    from datatrove.data import Document

    step, out_dir = prepared
    documents = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
    step.run(documents, rank=0, world_size=1)
    files = sorted(Path(out_dir).glob("*.ds"))
    tokens = np.fromfile(files[0], dtype=np.uint16)
    ends = np.fromfile(str(files[0]) + ".index", dtype=np.uint64)
    return tokens, ends


def run_ours(texts, spec, out_path):
    table = pa.table({"id": [str(i) for i in range(len(texts))], "source": ["bench"] * len(texts),
                      "text": pa.array(texts, pa.large_string())})
    out = pa.concat_tables([encode_table(table.slice(i, 1000), spec) for i in range(0, table.num_rows, 1000)])
    pq.write_table(out, out_path)
    column = out.column("tokens").combine_chunks()
    return column.values.to_numpy(), column.offsets.to_numpy()[1:]


def demo_trained_tokenizer(out_path: Path) -> Path:
    """The demo's tokenizer settings on the demo's input text (pipelines/demo.py)."""
    from pydoc_data.topics import topics

    from pipelines.demo import STDLIB_PACKAGES

    texts = [topics[name] for name in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in STDLIB_PACKAGES:
        texts += [p.read_text(encoding="utf-8", errors="replace") for p in sorted((stdlib / package).rglob("*.py"))]
    train_tokenizer(texts, vocab_size=4096, out_path=out_path, kind="bpe", sample_docs=2000, seed=0)
    return out_path


def measure(name, tokenizer_json, texts, repeats, tmp, ranks=None) -> dict:
    """CPU seconds of datatrove and of each corpusmill back end on one tokenizer; ids checked equal."""
    hf_spec = load_tokenizer(tokenizer_json)
    derived_spec, reason = with_fast_path(hf_spec, texts[:50])
    if reason is not None:
        raise SystemExit(f"{name}: the derived tiktoken path was refused: {reason}")
    variants = {"ours/hf": hf_spec, "ours/derived": derived_spec}
    if ranks is not None:
        variants["ours/given"] = load_tokenizer(tokenizer_json, tiktoken_ranks=ranks)
    seconds = {}
    seconds["datatrove"], (dt_tokens, dt_ends) = cpu_best(
        lambda prepared: run_datatrove(texts, prepared), repeats,
        setup=lambda: datatrove_step(tokenizer_json, tempfile.mkdtemp(dir=tmp)))
    for variant, spec in variants.items():
        seconds[variant], (tokens, ends) = cpu_best(lambda _: run_ours(texts, spec, tmp / "out.parquet"), repeats)
        if not (np.array_equal(tokens, dt_tokens) and np.array_equal(ends, dt_ends)):
            raise SystemExit(f"{name}: ids differ between datatrove and corpusmill {variant}: not comparable")
    return {"seconds": seconds, "num_tokens": int(len(dt_tokens)), "num_docs": int(len(dt_ends))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "CORPUSMILL_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")))
    parser.add_argument("--quick", action="store_true", help="300 code files instead of 1,500, one repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    texts = load_documents(args.data, 300 if args.quick else 1500)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"{len(texts)} documents, {megabytes:.1f} MB, RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}")
    tokenizers = args.data / "tokenizers"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("demo-trained", demo_trained_tokenizer(tmp / "demo-tokenizer.json"), None),
                 ("gpt2", tokenizers / "whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json",
                  tokenizers / "whisper-gpt2/gpt2.tiktoken"),
                 ("neox", tokenizers / "gpt-neox-dolma-test/gpt-neo-test-tokenizer.json", None)]
        for name, tokenizer_json, ranks in cases:
            results[name] = measure(name, tokenizer_json, texts, repeats, tmp, ranks)
    print("ids identical to datatrove's for every tokenizer and back end\n")
    print(f"{'tokenizer':14s} {'back end':14s} {'CPU s':>7s} {'MB/s/core':>10s} {'Mtok/s/core':>12s} {'vs datatrove':>13s}")
    rows = []
    for name, result in results.items():
        anchor = result["seconds"]["datatrove"]
        for variant, seconds in result["seconds"].items():
            row = {"tokenizer": name, "backend": variant, "cpu_seconds": round(seconds, 3),
                   "mb_per_s_per_core": round(megabytes / seconds, 3),
                   "mtokens_per_s_per_core": round(result["num_tokens"] / seconds / 1e6, 3),
                   "vs_datatrove": round(anchor / seconds, 3), "num_tokens": result["num_tokens"]}
            rows.append(row)
            print(f"{name:14s} {variant:14s} {seconds:7.2f} {row['mb_per_s_per_core']:10.2f} "
                  f"{row['mtokens_per_s_per_core']:12.2f} {row['vs_datatrove']:12.2f}x")
            if variant != "datatrove":
                record("tokenize", f"{name} {variant}", corpusmill=row["mb_per_s_per_core"],
                       anchor=round(megabytes / anchor, 3), unit="MB/s per core",
                       anchor_name="datatrove DocumentTokenizer")
    out = {"benchmark": "tokenize", "megabytes": round(megabytes, 3), "num_docs": len(texts), "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
