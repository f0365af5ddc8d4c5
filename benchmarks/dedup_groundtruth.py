"""A near-duplicate ground-truth set built from the real shared data, and its exact truth.

Real documents (each read by corpusmill's own readers): web pages extracted from every WARC in
web/, Wikipedia articles of the five dumps (split at paragraphs into chunks of about
`chunk_chars`), the 25 Gutenberg books split the same way, and the 3,147 code files. Then, for a
seeded sample of them, near-duplicates with known edits: boilerplate header and footer, paragraph
drops, paragraph reorders, typos, OCR noise, truncation, re-wrapping, encoding changes; and hard
negatives: two different documents wrapped in the same template (header + footer). Other hard
negatives are there already: chunks of one book (same author), pages of one site, code files of
one package.

Truth: the exact Jaccard of the documents' word 5-gram sets for every pair with Jaccard >= 0.5,
found by prefix filtering (if J(A, B) >= t then A and B share one of the |A| - ceil(t|A|) + 1
rarest shingles of A, so the candidates are complete) and then measured exactly. The shingles are
corpusmill's normalized words joined by spaces and hashed with xxh3-64 of that string, a different
hash path from the one under test.

    python benchmarks/dedup_groundtruth.py [--out set.parquet]   # builds and prints its counts
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from corpora import SkipCounter, reader_for  # noqa: E402
from pipelines.dedup.shingles import normalize_words  # noqa: E402

EDITS = ("header_footer", "paragraph_drop", "paragraph_reorder", "typos", "ocr_noise", "truncation",
         "rewrap", "encoding")
_OCR = [("rn", "m"), ("m", "rn"), ("l", "1"), ("O", "0"), ("e", "c"), ("h", "b"), ("cl", "d"), ("i", "l")]


def data_root() -> Path:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    return Path(configured) if configured else ROOT.parent / "shared" / "data"


def _read(kind: str, path: Path, source: str, **options) -> list[dict]:
    reader = reader_for(kind)
    return list(reader.iter_documents(str(path), source=source, file_key=path.name,
                                      options=reader.Options(**options), skips=SkipCounter()))


def chunks(text: str, chunk_chars: int) -> list[str]:
    """Paragraph-aligned pieces of about chunk_chars (a paragraph longer than that stays whole)."""
    out, current = [], []
    size = 0
    for paragraph in re.split(r"\n\s*\n", text):
        if not paragraph.strip():
            continue
        current.append(paragraph)
        size += len(paragraph)
        if size >= chunk_chars:
            out.append("\n\n".join(current))
            current, size = [], 0
    if current:
        out.append("\n\n".join(current))
    return out


def real_documents(root: Path, chunk_chars: int = 900) -> list[dict]:
    docs: list[dict] = []

    def add(source: str, group: str, text: str) -> None:
        if len(normalize_words(text)) >= 20:
            docs.append({"id": f"{source}-{len(docs):06d}", "source": source, "group": group, "text": text,
                         "edit": "original", "base": None})

    for path in sorted((root / "web").rglob("*.warc.gz")):
        for doc in _read("commoncrawl", path, "web"):
            host = re.sub(r"^https?://([^/]+).*$", r"\1", doc.get("url") or "")
            add("web", f"web:{host}", doc["text"])
    for path in sorted((root / "wikipedia").rglob("*.xml.bz2")):
        for doc in _read("wikipedia", path, "wiki"):
            for piece in chunks(doc["text"], 2 * chunk_chars):
                add("wiki", f"wiki:{path.name}:{doc['id']}", piece)
    for path in sorted((root / "books/gitenberg").glob("*.txt")):
        for doc in _read("books", path, "books"):
            for piece in chunks(doc["text"], chunk_chars):
                add("books", f"book:{path.name}", piece)
    with gzip.open(root / "code/code_corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            add("code", f"code:{record['package']}", record["content"])
    return docs


def _paragraphs(text: str) -> list[str]:
    parts = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return parts if len(parts) >= 4 else [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def edit(text: str, kind: str, rng: random.Random, template: tuple[str, str]) -> str:
    """One known edit, its strength drawn from rng so the set spans Jaccard 0.3-1."""
    if kind == "header_footer":
        return f"{template[0]}\n\n{text}\n\n{template[1]}"
    if kind in ("paragraph_drop", "paragraph_reorder"):
        parts = _paragraphs(text)
        if kind == "paragraph_drop":
            num_drop = max(1, round(len(parts) * rng.uniform(0.03, 0.3)))
            dropped = set(rng.sample(range(len(parts)), min(num_drop, len(parts) - 1)))
            parts = [p for i, p in enumerate(parts) if i not in dropped]
        else:
            i, j = sorted(rng.sample(range(len(parts)), 2)) if len(parts) > 1 else (0, 0)
            parts[i], parts[j] = parts[j], parts[i]
        return "\n\n".join(parts)
    if kind == "typos":
        words = text.split(" ")
        rate = rng.uniform(0.005, 0.06)
        for i in range(len(words)):
            if words[i] and rng.random() < rate:
                k = rng.randrange(len(words[i]))
                words[i] = words[i][:k] + rng.choice("abcdefghijklmnopqrstuvwxyz") + words[i][k + 1:]
        return " ".join(words)
    if kind == "ocr_noise":
        rate = rng.uniform(0.01, 0.08)
        out = text
        for source, target in _OCR:
            out = re.sub(re.escape(source), lambda m: target if rng.random() < rate else m.group(0), out)
        return out
    if kind == "truncation":
        return text[: max(1, int(len(text) * rng.uniform(0.6, 0.97)))]
    if kind == "rewrap":
        width = rng.choice([50, 60, 72, 100])
        words, lines, line = text.split(), [], ""
        for word in words:
            if line and len(line) + len(word) + 1 > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        return "\n".join(lines + [line])
    if kind == "encoding":
        swapped = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"').replace("--", "\u2014")
        if not swapped.isascii() and rng.random() < 0.5:
            return swapped.encode("utf-8").decode("cp1252", errors="replace")  # mojibake
        return unicodedata.normalize("NFD", swapped)
    raise ValueError(kind)


def build_set(root: Path | None = None, *, seed: int = 0, num_bases: int = 2500,
              num_hard_negatives: int = 300) -> list[dict]:
    root = root or data_root()
    rng = random.Random(seed)
    docs = real_documents(root)
    prose = [d for d in docs if d["source"] != "code" and len(normalize_words(d["text"])) >= 60]
    bases = rng.sample(prose, min(num_bases, len(prose))) + rng.sample(
        [d for d in docs if d["source"] == "code"], min(num_bases // 10, len(docs)))
    templates = []
    for _ in range(20):
        donor = rng.choice(prose)["text"].split()
        templates.append((" ".join(donor[:rng.randint(15, 60)]), " ".join(donor[-rng.randint(15, 60):])))
    variants = []
    for base in bases:
        for kind in rng.sample(EDITS, rng.choice([1, 1, 2])):
            variants.append({"id": f"{base['id']}~{kind}", "source": base["source"], "group": base["group"],
                             "text": edit(base["text"], kind, rng, rng.choice(templates)), "edit": kind,
                             "base": base["id"]})
    for i in range(num_hard_negatives):  # different texts in one template: similar, not duplicates
        first, second = rng.sample(prose, 2)
        template = rng.choice(templates)
        for doc in (first, second):
            variants.append({"id": f"{doc['id']}~template{i}", "source": doc["source"], "group": f"template{i}",
                             "text": edit(doc["text"], "header_footer", rng, template), "edit": "same_template",
                             "base": doc["id"]})
    return docs + variants


def truth_shingle_sets(texts: list[str], ngram: int = 5) -> list[np.ndarray]:
    """Sorted unique xxh3-64 hashes of each text's space-joined normalized word n-grams."""
    import xxhash

    sets = []
    for text in texts:
        words = normalize_words(text)
        width = min(ngram, len(words))
        grams = {" ".join(words[i:i + width]) for i in range(len(words) - width + 1)} if words else set()
        sets.append(np.array(sorted(xxhash.xxh3_64_intdigest(g.encode("utf-8", "surrogatepass")) for g in grams),
                             dtype=np.uint64))
    return sets


def similar_pairs(sets: list[np.ndarray], threshold: float = 0.5) -> dict[tuple[int, int], float]:
    """Every pair (i < j) with exact Jaccard >= threshold, with its Jaccard (prefix filtering)."""
    all_hashes = np.concatenate(sets)
    values, counts = np.unique(all_hashes, return_counts=True)
    tokens, docs = [], []
    for index, shingles in enumerate(sets):
        if len(shingles) == 0:
            continue
        df = counts[np.searchsorted(values, shingles)]
        prefix = len(shingles) - math.ceil(threshold * len(shingles)) + 1
        rarest = shingles[np.lexsort((shingles, df))[:prefix]]
        tokens.append(rarest)
        docs.append(np.full(len(rarest), index, dtype=np.int64))
    tokens, docs = np.concatenate(tokens), np.concatenate(docs)
    order = np.lexsort((docs, tokens))
    tokens, docs = tokens[order], docs[order]
    starts = np.flatnonzero(np.concatenate([[True], tokens[1:] != tokens[:-1]]))
    ends = np.concatenate([starts[1:], [len(tokens)]])
    shared = (ends - starts) > 1
    candidates = set()
    for start, end in zip(starts[shared], ends[shared]):
        members = docs[start:end]
        i, j = np.triu_indices(len(members), k=1)
        candidates.update(zip(members[i].tolist(), members[j].tolist()))
    return {pair: value for pair in candidates
            if (value := exact_jaccard(sets[pair[0]], sets[pair[1]])) >= threshold}


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 and len(b) == 0:
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also write the set as Parquet here")
    args = parser.parse_args()
    docs = build_set()
    from collections import Counter

    print(f"{len(docs)} documents: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(d['edit'] for d in docs).items())))
    print("real by source: " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(d['source'] for d in docs if d['edit'] == 'original').items())))
    if args.out:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(docs), args.out)


if __name__ == "__main__":
    main()
