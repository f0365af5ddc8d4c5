"""The scaling benchmark's distinct copies (benchmarks/scaling_inputs.py): a copy keeps its records
and readable text but shares almost no word 5-gram with another copy, so dedup keeps every copy."""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scaling_inputs import _Inserter, copy_name, write_copy
from corpora import SkipCounter, reader_for
from pipelines.dedup.shingles import normalize_words, shingle_hashes
from pipelines.inputs import expand_paths


def test_a_word_after_every_fourth_word_of_text_outside_tags_scripts_and_comments():
    html = b"<p class='a b c d'>one two three four five</p><script>x = a + b;</script><!-- c d e f --><b>six seven</b>"
    assert _Inserter("also").html_bytes(html) == (
        b"<p class='a b c d'>one two three four also  five</p><script>x = a + b;</script>"
        b"<!-- c d e f --><b>six seven</b>")
    # the count runs across text pieces of one document
    assert _Inserter("also").html_bytes(b"<i>one two</i> three <b>four five</b>") == (
        b"<i>one two</i> three <b>four also  five</b>")
    assert _Inserter("also").html_bytes(b"<b>a b c d</b><i>e</i>") == b"<b>a b c d also </b><i>e</i>"
    assert _Inserter("indeed").text("a b c d e f g h i") == "a b c d indeed e f g h indeed i"


def test_copy_zero_is_the_original_and_an_arc_copy_is_a_warc(tmp_path):
    source = tmp_path / "x.arc.gz"
    source.write_bytes(b"not read for copy 0")
    write_copy(source, tmp_path / copy_name(source, 0), 0)
    assert (tmp_path / "r00-x.arc.gz").read_bytes() == b"not read for copy 0"
    assert copy_name(source, 3) == "r03-x.warc.gz"


def _documents(kind: str, path: Path, root: Path) -> dict[str, str]:
    reader = reader_for(kind)
    options = reader.Options.model_validate({})
    (input_file,) = expand_paths(kind, [str(path)], str(root), kind)
    return {doc["url"] if kind == "commoncrawl" else "book": doc["text"]  # a book file is one document
            for doc in reader.iter_documents(input_file.path, source=kind, file_key=input_file.file_key,
                                             options=options, skips=SkipCounter())}


@pytest.mark.shared_data
@pytest.mark.parametrize("kind, relative", [("commoncrawl", "web/warc-real/dolma_sample-0000.warc.gz"),
                                            ("books", "books/gitenberg/pg17997_17997-8.txt")])
def test_copies_keep_the_documents_and_share_almost_no_word_5gram(shared_data, tmp_path, kind, relative):
    source = shared_data / relative
    texts = []
    for copy in range(3):
        target = tmp_path / str(copy) / copy_name(source, copy)
        target.parent.mkdir()
        write_copy(source, target, copy)
        if kind == "books":
            meta = source.with_name("pg17997_metadata.yaml")
            (target.parent / f"r{copy:02d}-{meta.name}").write_bytes(meta.read_bytes())
        texts.append(_documents(kind, target, tmp_path / str(copy)))
    assert len(texts[0]) >= (16 if kind == "commoncrawl" else 1)  # MANIFEST.md: 22 HTML responses
    assert texts[1].keys() == texts[2].keys() == texts[0].keys()
    num_same, jaccards = 0, []
    for key in texts[0]:
        words = {copy: normalize_words(texts[copy][key]) for copy in range(3)}  # punctuation aside
        for copy, word in ((1, "indeed"), (2, "also")):  # the copy's text is the original's plus its word
            kept, original = [w for w in words[copy] if w != word], [w for w in words[0] if w != word]
            num_same += difflib.SequenceMatcher(a=original, b=kept, autojunk=False).ratio() >= 0.99
        sets = [set(shingle_hashes(texts[copy][key]).tolist()) for copy in range(3)]
        jaccards += [len(sets[a] & sets[b]) / max(len(sets[a] | sets[b]), 1) for a, b in ((0, 1), (1, 2), (0, 2))]
    # Main-content extraction sees the added words and, on a few of these 44 (page, copy) pairs,
    # keeps a different block; the book reader keeps the book but for its first line (a
    # transcriber's note it then takes for Project Gutenberg's header).
    assert num_same / (2 * len(texts[0])) >= (0.8 if kind == "commoncrawl" else 1.0)
    # Jaccard of the word 5-gram sets of two copies (measured: at most 0.057): far under what MinHash LSH
    # (14 bands x 8 rows) finds and under dedup's exact-Jaccard verification at 0.8.
    assert max(jaccards) < 0.1
    assert np.mean([len(texts[1][k]) / max(len(texts[0][k]), 1) for k in texts[0]]) > 1.1
