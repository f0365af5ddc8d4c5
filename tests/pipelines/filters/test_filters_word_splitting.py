"""Our cached word splitting gives exactly datatrove's words and C4 sentence counts."""
from __future__ import annotations

import itertools

import pytest

from pipelines.filters.word_splitting import PUNCTUATION, SENTENCE_PUNCT_CHARS, WordSplitter, terminal_punctuation


def test_copied_character_lists_equal_datatrove_and_spacy():
    from datatrove.utils.text import PUNCTUATION as DATATROVE_PUNCTUATION
    from datatrove.utils.text import TERMINAL_PUNCTUATION
    from spacy.pipeline.sentencizer import Sentencizer

    assert PUNCTUATION == DATATROVE_PUNCTUATION
    assert terminal_punctuation() == frozenset(TERMINAL_PUNCTUATION)
    assert SENTENCE_PUNCT_CHARS == frozenset(Sentencizer.default_punct_chars)
    # the letter fast path relies on no letter being punctuation
    assert not [c for c in PUNCTUATION + "".join(terminal_punctuation()) if c.isalpha()]


@pytest.mark.shared_data
def test_words_equal_datatrove_split_into_words(web_pages, shared_data):
    from datatrove.utils.text import split_into_words

    from corpora import SkipCounter, reader_for

    reader = reader_for("wikipedia")
    wiki = [d["text"] for d in itertools.islice(reader.iter_documents(
        str(shared_data / "wikipedia/repaired/ukwiki-truncated-100k.repaired.xml.bz2"), source="w",
        file_key="uk", options=reader.Options(), skips=SkipCounter()), 40)]
    texts = [d["text"] for d in web_pages[::5]] + wiki
    splitter = WordSplitter("spacy_en")  # a fresh cache
    mismatches = [i for i, text in enumerate(texts) if splitter.words(text) != split_into_words(text)]
    assert mismatches == []
    assert len(texts) == 244


@pytest.mark.shared_data
def test_fast_paths_equal_spacy_on_every_distinct_chunk(web_pages):
    import spacy

    tokenizer = spacy.blank("en").tokenizer
    splitter = WordSplitter("spacy_en")
    chunks = {chunk for page in web_pages[::2] for chunk in page["text"].split()}
    fast = {chunk: splitter._fast_tokens(chunk) for chunk in chunks}
    checked = {chunk: tokens for chunk, tokens in fast.items() if tokens is not None}
    wrong = [(c, t) for c, t in checked.items() if t != tuple(tok.text for tok in tokenizer(c))]
    assert wrong == []
    assert len(checked) > 0.8 * len(chunks)  # most distinct chunks never reach spaCy


@pytest.mark.shared_data
def test_sentence_counts_equal_datatrove_per_line(web_pages):
    from datatrove.utils.text import split_into_sentences

    splitter = WordSplitter("spacy_en")
    lines = [line.strip() for page in web_pages[::10] for line in page["text"].splitlines()
             if len(line.split()) >= 3]
    lines += ["End.  [1]  ", "a. \u00a0 b", "Hi!! You? ok. (yes)", "x.  y"]  # whitespace tokens
    mismatches = [line for line in lines
                  if splitter.sentences_and_words(line)[0] != len(split_into_sentences(line))]
    assert mismatches == []
    assert len(lines) > 1000
