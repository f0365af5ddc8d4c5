"""Tokenization throughput per core: corpusmill's encode_table vs datatrove's DocumentTokenizer.

    python benchmarks/bench_tokenize.py [--quick] [--data ../shared/data] [--repeats 2]

Same tokenizer (the shared GPT-2 tokenizer.json), same documents, same run, one thread
(RAYON_NUM_THREADS=1 is set before `tokenizers` loads, so HF's batch encode cannot use a second
core). Documents: the 25 shared books and the first 1,500 (--quick: 300) code files, as they are.
MB = UTF-8 bytes of the texts; per core = CPU seconds of this process (best of the repeats).

  datatrove   DocumentTokenizer(eos_token=<|endoftext|>, shuffle_documents=False): encode_batch
              + its .ds/.index writer (no shuffle pass, the lighter configuration)
  ours/hf     tokenization.encode.encode_table (tokenizers encode_batch_fast) + parquet write
  ours/tt     the same with the verified tiktoken path (gpt2.tiktoken ranks)
The ids of all three are compared token for token before any figure is printed.
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
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tokenization.encode import encode_table  # noqa: E402
from tokenization.tokenizer import load_tokenizer  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="300 code files instead of 1,500, one repeat")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    tokenizer_json = args.data / "tokenizers/whisper-gpt2/gpt2-from-whisper-tiktoken.tokenizer.json"
    ranks = args.data / "tokenizers/whisper-gpt2/gpt2.tiktoken"
    texts = load_documents(args.data, 300 if args.quick else 1500)
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    hf_spec = load_tokenizer(tokenizer_json)
    tt_spec = load_tokenizer(tokenizer_json, tiktoken_ranks=ranks)
    print(f"{len(texts)} documents, {megabytes:.1f} MB, RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {}
        dt_seconds, (dt_tokens, dt_ends) = cpu_best(
            lambda prepared: run_datatrove(texts, prepared), repeats,
            setup=lambda: datatrove_step(tokenizer_json, tempfile.mkdtemp(dir=tmp)))
        results["datatrove DocumentTokenizer"] = dt_seconds
        hf_seconds, (hf_tokens, hf_ends) = cpu_best(lambda _: run_ours(texts, hf_spec, tmp / "hf.parquet"), repeats)
        results["corpusmill encode_table (tokenizers)"] = hf_seconds
        tt_seconds, (tt_tokens, tt_ends) = cpu_best(lambda _: run_ours(texts, tt_spec, tmp / "tt.parquet"), repeats)
        results["corpusmill encode_table (tiktoken)"] = tt_seconds

    for name, tokens, ends in (("tokenizers", hf_tokens, hf_ends), ("tiktoken", tt_tokens, tt_ends)):
        if not (np.array_equal(tokens, dt_tokens) and np.array_equal(ends, dt_ends)):
            raise SystemExit(f"ids differ between datatrove and corpusmill ({name}): not comparable")
    num_tokens = len(dt_tokens)
    print(f"ids identical across all three: {num_tokens:,} tokens, {len(dt_ends):,} documents\n")
    print(f"{'':40s} {'CPU s':>7s} {'MB/s/core':>10s} {'Mtok/s/core':>12s} {'vs datatrove':>13s}")
    for name, seconds in results.items():
        print(f"{name:40s} {seconds:7.2f} {megabytes / seconds:10.2f} {num_tokens / seconds / 1e6:12.2f} "
              f"{dt_seconds / seconds:12.2f}x")
    best = min(hf_seconds, tt_seconds)
    print(f"\ntarget >= 2x datatrove: {'met' if dt_seconds / best >= 2 else 'NOT met'} "
          f"({dt_seconds / best:.2f}x with the tiktoken path; {dt_seconds / hf_seconds:.2f}x without)")


if __name__ == "__main__":
    main()
