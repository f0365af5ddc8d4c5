"""The papers reader against RedPajama's arXiv cleaning, on the 32 shared e-prints.

    python benchmarks/papers_vs_redpajama.py [--data ../shared/data] [--excerpts]

RedPajama's cleaning is re-implemented here from its published description (RedPajama-Data,
data_prep/arxiv/README.md: "Remove everything before the first occurence of a section; remove
everything after and including the bibliography; remove all comments; inline-expand user defined
macros defined via \\newcommand and \\def that have no arguments"), with the details its cleaner
states: every `.tex` file of the archive is cleaned on its own (no \\input following) and the
results joined by newlines; a file without a section heading contributes nothing; `\\appendix`
also ends a file; an archive whose `.tex` is not UTF-8 is dropped.

Prints per paper the characters each keeps, the share of those characters that is LaTeX markup
outside math (control words, braces), and CPU seconds for both (the ratio is corpusmill's cost
over RedPajama's: a walk with a parser against a handful of regexes). `--excerpts` prints the
side-by-side passages used in the papers issue's note.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpora import SkipCounter  # noqa: E402
from benchmarks.results import record  # noqa: E402
from corpora.papers import Options, iter_documents  # noqa: E402

_HEADING = re.compile(r"\\(?:chapter|part|section|subsection|subsubsection|paragraph|subparagraph)\b\*?(?:\[[^\]]*\])?\{")
_END = re.compile(r"\\appendix|\\begin\{references\}|\\begin\{REFERENCES\}|\\begin\{thebibliography\}|\\bibliography\{")
_NEWCOMMAND = re.compile(r"\\(?:re)?newcommand\*?\s*\{?\s*(\\[A-Za-z]+)\s*\}?\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_DEF = re.compile(r"\\def\s*(\\[A-Za-z]+)\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)"
                   r"|\\begin\{(equation|align|gather|multline|eqnarray|displaymath)(\*?)\}.*?\\end\{\1\2\}", re.DOTALL)
_MARKUP = re.compile(r"\\[A-Za-z@]+\*?|[{}]")


def redpajama_clean(tex_files: list[str]) -> str:
    """RedPajama's arXiv cleaning of one archive's .tex files (in archive order)."""
    macros: dict[str, str] = {}
    for text in tex_files:  # no-argument macros only, collected from every file
        for pattern in (_NEWCOMMAND, _DEF):
            for name, value in pattern.findall(text):
                if not re.search(r"\\(?:re)?newcommand\*?\s*\{?\s*" + re.escape(name) + r"\s*\}?\s*\[", text):
                    macros[name] = value
    cleaned = []
    for text in tex_files:
        heading = _HEADING.search(text)
        if heading is None:
            cleaned.append("")
            continue
        text = text[heading.start():]
        text = re.sub(r"(?m)^%.*\n?", "", text)
        text = re.sub(r"(?m)(?<!\\)%.*$", "", text)
        end = _END.search(text)
        if end:
            text = text[: end.start()]
        for name, value in macros.items():
            text = re.sub(re.escape(name) + r"(?![A-Za-z])", lambda _m, v=value: v, text)
        cleaned.append(text)
    return "\n".join(cleaned)


def read_tex_files(path: Path) -> list[str] | None:
    with tarfile.open(path) as tar:
        members = [m for m in tar.getmembers() if m.isreg() and m.name.endswith(".tex")]
        try:
            return [tar.extractfile(m).read().decode("utf-8") for m in members]
        except UnicodeDecodeError:
            return None


def markup_share(text: str) -> float:
    outside = _MATH.sub(" ", text)
    return sum(len(m) for m in _MARKUP.findall(outside)) / max(1, len(text))


def corpusmill_text(path: Path) -> str:
    docs = list(iter_documents(str(path), source="papers", file_key=path.name, options=Options(), skips=SkipCounter()))
    return docs[0]["text"] if docs else ""


# (archive, where corpusmill's passage starts, where RedPajama's starts, characters shown): four
# where corpusmill reads better (math, macros with arguments, code, floats), one where it is worse
# (an algorithm float keeps only its caption; RedPajama keeps the pseudo-code's LaTeX).
EXCERPTS = [
    ("lh3__minimap2__minimap2.tar.gz", "An anchor is a 3-tuple", "\\emph{anchor} is a 3-tuple", 560),
    ("dfm__celerite__celerite.tar.gz", "We simulate a small", "We simulate a small", 330),
    ("Ivan-Sergeyev__seymour__seymour-matroids.tar.gz", "and it checks whether", "and it checks whether", 330),
    ("scipy__scipy-articles__scipy-1.0.tar.gz", "Figure: Major milestones", "\\begin{figure}[H]\n\\centering\n"
     "\\includegraphics[width=0.95\\textwidth]{static/scipy_timeline}", 330),
    ("tendermint__tendermint__tendermint-consensus.tar.gz", "## Tendermint consensus algorithm",
     "\\begin{algorithm}[htb!]", 420),
]


def show_excerpts(data: Path) -> None:
    for name, ours_at, theirs_at, length in EXCERPTS:
        ours = corpusmill_text(data / name)
        theirs = redpajama_clean(read_tex_files(data / name) or [])
        print(f"==== {name}")
        for label, text, anchor in (("corpusmill", ours, ours_at), ("redpajama", theirs, theirs_at)):
            where = text.find(anchor)
            shown = text[where: where + length] if where >= 0 else "(passage not found)"
            print(f"--- {label}\n{shown}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("CORPUSMILL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--excerpts", action="store_true")
    args = parser.parse_args()
    data = Path(args.data) / "papers"
    if args.excerpts:
        show_excerpts(data)
        return
    print(f"{'paper':<44} {'ours chars':>10} {'RP chars':>9} {'ours markup':>11} {'RP markup':>9}")
    totals = [0, 0, 0.0, 0.0, 0, 0]
    for path in sorted(data.glob("*.tar.gz")):
        started = time.process_time()
        ours = corpusmill_text(path)
        ours_seconds = time.process_time() - started
        started = time.process_time()
        tex_files = read_tex_files(path)
        theirs = redpajama_clean(tex_files) if tex_files is not None else ""
        theirs_seconds = time.process_time() - started
        ours_markup, theirs_markup = markup_share(ours), markup_share(theirs)
        print(f"{path.name[:44]:<44} {len(ours):>10,} {len(theirs):>9,} {ours_markup:>11.1%} {theirs_markup:>9.1%}")
        totals[0] += len(ours)
        totals[1] += len(theirs)
        totals[2] += ours_seconds
        totals[3] += theirs_seconds
        totals[4] += round(ours_markup * len(ours))
        totals[5] += round(theirs_markup * len(theirs))
    print(f"{'all 32':<44} {totals[0]:>10,} {totals[1]:>9,} {totals[4] / totals[0]:>11.1%} {totals[5] / totals[1]:>9.1%}")
    print(f"cpu seconds: corpusmill {totals[2]:.2f}, redpajama {totals[3]:.2f} "
          f"(corpusmill costs {totals[2] / totals[3]:.1f}x; timings on a shared machine are noisy)")
    num_papers = len(list(data.glob("*.tar.gz")))
    record("extract (papers)", "LaTeX e-prints to text", corpusmill=num_papers / totals[2],
           anchor=num_papers / totals[3], unit="papers/s per core",
           anchor_name="RedPajama arXiv cleaning (regexes, no parse)")


if __name__ == "__main__":
    main()
