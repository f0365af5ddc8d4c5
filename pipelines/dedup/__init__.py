"""Exact + MinHash LSH deduplication, worker side (no Ray here; pipelines/stages/dedup*.py runs it).

shingles.py    text normalization, word n-gram / character n-gram shingle hashes (numpy)
minhash.py     vectorized MinHash, bit-identical to datasketch's affine64 / affine32 schemes
lsh_params.py  the S-curve and the bands x rows choice of datasketch's LSH optimizer
keys.py        128-bit document keys that sort in keep-rule order; hash partitions
graph.py       candidate pairs per band bucket, one step of min-label propagation, clusters
jaccard.py     exact Jaccard of shingle sets (optional verification of candidate pairs)
config.py      the recipe's `dedup:` section
"""
