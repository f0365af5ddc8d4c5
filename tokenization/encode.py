"""Batch-encode a document table into token lists (the `tokenize` stage's Table -> Table).

Semantics, identical on both back ends and checked by the tests: a document's ids are exactly
`tokenizer.encode(text, add_special_tokens=False).ids` followed by EOS. So no BOS/CLS/SEP from a
post-processor template (a BERT tokenizer gives no [CLS] prefix), no truncation or padding (a
model's max_length in tokenizer.json is switched off), and special-token strings that occur
literally in the text (e.g. "<|endoftext|>") are matched as those special tokens, as HF does.

Back ends: `tokenizers` `encode_batch_fast` (no offsets), or tiktoken when the spec carries
verified GPT-2-style ranks (`load_tokenizer(..., tiktoken_ranks=...)`) or ranks derived from the
merges and verified on documents (`derive_tiktoken`, see tiktoken_bridge.py), which measured
several times faster per core on the shared books (see benchmarks/bench_tokenize.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from tokenization.shards import token_dtype
from tokenization.tokenizer import TokenizerSpec

TOKENIZER_SHA_KEY = b"corpusmill.tokenizer_sha256"
VOCAB_SIZE_KEY = b"corpusmill.vocab_size"


def tokenized_schema(spec: TokenizerSpec) -> pa.Schema:
    """Schema of `encode_table`'s output (also the tokenize stage's parquet parts)."""
    value_type = pa.uint16() if token_dtype(spec.vocab_size) == np.uint16 else pa.uint32()
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("tokens", pa.large_list(value_type), nullable=False),
            pa.field("num_tokens", pa.int32(), nullable=False),
        ],
        metadata={TOKENIZER_SHA_KEY: spec.sha256, VOCAB_SIZE_KEY: str(spec.vocab_size)},
    )


def encode_texts(texts: Sequence[str], spec: TokenizerSpec) -> tuple[np.ndarray, np.ndarray]:
    """Encode texts; return (flat ids with EOS after each text, offsets int64 of len(texts)+1)."""
    dtype = token_dtype(spec.vocab_size)
    eos = np.array([spec.eos_id], dtype=np.uint32)
    encoder = spec.fast_encoder
    if encoder is not None:
        # One call per text straight to a numpy array (tiktoken's batch API uses a thread pool,
        # slower per core here).
        pieces = []
        for text in texts:
            pieces.append(encoder.encode(text))
            pieces.append(eos)
        lengths = np.fromiter((len(p) for p in pieces[::2]), dtype=np.int64, count=len(texts)) + 1
        flat = np.concatenate(pieces).astype(dtype, copy=False) if pieces else np.zeros(0, dtype)
    else:
        encodings = spec.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) + 1 for e in encodings), dtype=np.int64, count=len(texts))
        flat = np.empty(int(lengths.sum()), dtype=dtype)
        position = 0
        for encoding_, length in zip(encodings, lengths.tolist()):
            flat[position : position + length - 1] = encoding_.ids
            flat[position + length - 1] = spec.eos_id
            position += length
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return flat, offsets


def encode_table(table: pa.Table, spec: TokenizerSpec, *, batch_size: int = 1000) -> pa.Table:
    """DOCUMENT_SCHEMA table -> (doc_id, source, tokens, num_tokens); row order kept.

    Tokens are large_list<uint16> when the vocabulary fits, else uint32; EOS ends every list.
    """
    schema = tokenized_schema(spec)
    texts = table.column("text")
    batches = []
    for start in range(0, table.num_rows, batch_size):
        chunk = texts.slice(start, batch_size).to_pylist()
        flat, offsets = encode_texts(chunk, spec)
        tokens = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))
        batches.append((tokens, np.diff(offsets).astype(np.int32)))
    if batches:
        tokens_column = pa.chunked_array([b[0] for b in batches], type=schema.field("tokens").type)
        counts = pa.chunked_array([pa.array(b[1]) for b in batches], type=pa.int32())
    else:
        tokens_column = pa.chunked_array([], type=schema.field("tokens").type)
        counts = pa.chunked_array([], type=pa.int32())
    return pa.Table.from_arrays(
        [
            table.column("id").cast(pa.string()),
            table.column("source").cast(pa.string()),
            tokens_column,
            counts,
        ],
        schema=schema,
    )


def check_tokenized(schema: pa.Schema, spec_sha256: str, where: str) -> None:
    """Refuse tokenized parts made with another tokenizer (their schema metadata says which)."""
    found = (schema.metadata or {}).get(TOKENIZER_SHA_KEY, b"").decode()
    if found != spec_sha256:
        raise ValueError(
            f"{where}: tokenized with tokenizer {found[:12] or '(unknown)'} but the run's tokenizer is "
            f"{spec_sha256[:12]}; re-run the tokenize stage with the same tokenizer"
        )
