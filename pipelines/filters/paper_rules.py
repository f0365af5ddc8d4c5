"""Rules for scientific papers read from LaTeX (corpora/papers.py): a minimum length, a maximum share
of math, a maximum share of non-alphabetic characters in the prose.

The reader keeps math as LaTeX source between `$..$`, `$$..$$`, `\\[..\\]` and in math environments,
and code in fenced blocks; the shares are measured on that form. A paper's text is mostly prose
(on the 32 shared papers: math 0-46% of the characters, non-alphabetic 3-12% of the prose's
non-blank characters), so the defaults drop only what is not a paper's text any more: an equation
dump, a table of numbers, a stub left by a broken e-print. The language is checked by `lid`
against the paper's declared language (its meta), e-mail addresses by `pii`.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from corpora import Strict
from pipelines.filters.unit import PAPERS, Decider, DocumentScores, Filter, columns_named

COLUMNS = ["papers_math_fraction", "papers_non_alpha_fraction"]
_CODE = re.compile(r"```.*?```", re.DOTALL)
_MATH = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|(?<!\\)\$.+?(?<!\\)\$"
    r"|\\begin\{(equation|align|alignat|gather|multline|flalign|eqnarray|math|displaymath|dmath|subequations)"
    r"(\*?)\}.*?\\end\{\1\2\}", re.DOTALL)


def paper_features(text: str) -> dict[str, Any]:
    """Share of the text's characters in math; share of the prose's (outside math and code)
    non-blank characters that are not letters."""
    without_code = _CODE.sub(" ", text)
    math_chars = sum(len(match.group(0)) for match in _MATH.finditer(without_code))
    prose = "".join(_MATH.sub(" ", without_code).split())
    non_alpha = sum(1 for char in prose if not char.isalpha())
    return {
        "papers_math_fraction": math_chars / len(text) if text else 0.0,
        "papers_non_alpha_fraction": non_alpha / len(prose) if prose else 1.0,
    }


class PaperRulesConfig(Strict):
    """Length and composition limits for papers; a rule is off when its value is null."""

    enabled: bool = True
    min_num_chars: int | None = Field(2000, description="shorter texts are dropped (papers_too_short)")
    max_math_fraction: float | None = Field(
        0.6, ge=0, le=1, description="share of characters inside math (papers_too_much_math)")
    max_non_alpha_fraction: float | None = Field(
        0.3, ge=0, le=1, description="share of the prose's non-blank characters that are not letters "
        "(papers_too_many_non_alpha)")


def features(doc: DocumentScores, options: dict[str, Any]) -> dict[str, Any]:
    return paper_features(doc.text)


def rules(decider: Decider, options: dict[str, Any]) -> None:
    if options["min_num_chars"] is not None:
        decider.less("papers_too_short", "num_chars", options["min_num_chars"])
    if options["max_math_fraction"] is not None:
        decider.greater("papers_too_much_math", "papers_math_fraction", options["max_math_fraction"])
    if options["max_non_alpha_fraction"] is not None:
        decider.greater("papers_too_many_non_alpha", "papers_non_alpha_fraction", options["max_non_alpha_fraction"])


FILTER = Filter(
    name="papers", config=PaperRulesConfig, score_options=(), columns=lambda scores: list(COLUMNS),
    reasons=("papers_too_short", "papers_too_much_math", "papers_too_many_non_alpha"),
    features=features, rules=rules, presence_column="papers_math_fraction", decision_rank=80,
    profiles=(PAPERS,),
    deciding_columns=columns_named({"papers_too_short": "num_chars", "papers_too_much_math": "papers_math_fraction",
                                    "papers_too_many_non_alpha": "papers_non_alpha_fraction"}),
)
