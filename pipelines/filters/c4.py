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

from pipelines.filters.text_stats import WordSplitter

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
