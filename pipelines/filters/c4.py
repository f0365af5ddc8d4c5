"""C4 quality rules (Raffel et al. 2020) as datatrove's C4QualityFilter runs them, line mode.

Line rules (too long word, citation removal, terminal punctuation, too few words, "javascript",
policy phrases) decide which lines are kept and are score options; the document rules (lorem ipsum,
curly bracket, too few sentences) are decisions on stored scores. datatrove returns at the first
line with "lorem ipsum" or "{", so we store the index of the first such kept-candidate line of each
kind and `decide` picks the earlier one (lorem first on the same line), which gives datatrove's
reason for any combination of the two switches.

Constants: datatrove's defaults (min 3 words per line, min 5 sentences) as FineWeb uses them, with
`filter_no_terminal_punct: false` (FineWeb's setting); TFDS's c4_utils uses min 5 words per line,
min 3 sentences and drops lines without terminal punctuation. All are options.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field

from corpora import Strict
from pipelines.filters.word_splitting import WordSplitter
from pipelines.filters.unit import WEB, Decider, DocumentScores, Filter, columns_named

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")

COLUMNS = ["c4_num_lines", "c4_num_kept_lines", "c4_num_sentences", "c4_lorem_ipsum_line", "c4_curly_bracket_line"]


def c4_features(text: str, splitter: WordSplitter, options: dict[str, Any]) -> tuple[dict[str, Any], str, int]:
    """(scores, the text of the kept lines as datatrove leaves it, number of words in it)."""
    max_word_length = options["max_word_length"]
    remove_citations = options["remove_citations"]
    no_terminal_punct = options["filter_no_terminal_punct"]
    min_words = options["min_words_per_line"]
    javascript = options["filter_javascript"]
    policy = options["filter_policy"]
    lines = text.splitlines()
    kept: list[str] = []
    num_sentences = num_words = 0
    lorem_line = curly_line = -1
    for index, line in enumerate(lines):
        line = line.strip()
        words = line.split()
        # (a line no longer than the limit cannot hold a longer word)
        if max_word_length != -1 and len(line) > max_word_length and max(map(len, words)) > max_word_length:
            continue
        if remove_citations and "[" in line:
            line = CITATION.sub("", line)
        if no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
            continue
        if len(words) < min_words:
            continue
        lowered = line.lower()
        if lorem_line < 0 and "lorem ipsum" in lowered:
            lorem_line = index
        if javascript and "javascript" in lowered:
            continue
        if curly_line < 0 and "{" in line:
            curly_line = index
        if policy and any(phrase in lowered for phrase in POLICY_SUBSTRINGS):
            continue
        sentences, line_words = splitter.sentences_and_words(line)
        num_sentences += sentences
        num_words += line_words
        kept.append(line)
    scores = {"c4_num_lines": len(lines), "c4_num_kept_lines": len(kept), "c4_num_sentences": num_sentences,
              "c4_lorem_ipsum_line": lorem_line, "c4_curly_bracket_line": curly_line}
    return scores, "\n".join(kept).strip(), num_words


class C4Config(Strict):
    """C4 line rules. Defaults = datatrove's C4QualityFilter as FineWeb runs it
    (`filter_no_terminal_punct=False`, min 3 words per line, min 5 sentences). The TFDS C4 code
    uses the other constants: `min_words_per_line: 5`, `min_num_sentences: 3`,
    `filter_no_terminal_punct: true`."""

    enabled: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_javascript: bool = True
    filter_policy: bool = True
    min_num_sentences: int = 5
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    replace_text: bool = Field(
        False, description="write the C4-cleaned text (kept lines only) into `text`, as FineWeb's output")


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    doc.scored_text = None  # stays None if C4 raises: FineWeb then has nothing to score
    scores, kept_text, kept_words = c4_features(doc.text, doc.words, options)
    if options["replace_text"]:
        doc.out_text = kept_text
    if doc.steps.get("fineweb", {}).get("after_c4"):
        doc.scored_text, doc.scored_num_words = kept_text, kept_words
    else:
        doc.scored_text, doc.scored_num_words = doc.text, len(doc.word_ids)
    return scores


def rules(decider: Decider, options: dict[str, Any]) -> None:
    lorem = decider.column("c4_lorem_ipsum_line", -1)
    curly = decider.column("c4_curly_bracket_line", -1)
    big = np.iinfo(np.int64).max
    lorem_at = np.where(lorem >= 0, lorem, big) if options["filter_lorem_ipsum"] else np.full(len(lorem), big)
    curly_at = np.where(curly >= 0, curly, big) if options["filter_curly_bracket"] else np.full(len(curly), big)
    # datatrove stops at the first such line; on one line, lorem ipsum is checked first
    decider.fail("c4_lorem_ipsum", (lorem_at < big) & (lorem_at <= curly_at))
    decider.fail("c4_curly_bracket", (curly_at < big) & (curly_at < lorem_at))
    if options["min_num_sentences"] != -1:
        decider.less("c4_too_few_sentences", "c4_num_sentences", options["min_num_sentences"])


FILTER = Filter(
    name="c4", config=C4Config,
    score_options=("remove_citations", "filter_no_terminal_punct", "min_words_per_line", "max_word_length",
                   "filter_javascript", "filter_policy", "replace_text"),
    columns=lambda scores: list(COLUMNS), reasons=("c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences"),
    features=features, rules=rules, presence_column="c4_num_sentences", decision_rank=50,
    column_types={name: pa.int64() for name in COLUMNS}, profiles=(WEB,), needs_words=True,
    deciding_columns=columns_named({"c4_lorem_ipsum": "c4_lorem_ipsum_line",
                                    "c4_curly_bracket": "c4_curly_bracket_line",
                                    "c4_too_few_sentences": "c4_num_sentences"}),
)
