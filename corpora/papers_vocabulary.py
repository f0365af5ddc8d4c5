"""What the papers text walk knows about LaTeX's vocabulary: which macros and environments are
headings, floats, citations, layout, code; the argument specs pylatexenc lacks; and the context
the walk parses with (corpora/papers_text.py renders, with these tables)."""
from __future__ import annotations


from pylatexenc.latexwalker import get_default_latex_context_db
from pylatexenc.macrospec import EnvironmentSpec, MacroSpec

PARAGRAPH, LINE, FIRST_HEADING = "\x01", "\x02", "\x03"  # markers, resolved by `finish`
HEADING_LEVELS = {"part": "#", "chapter": "#", "section": "##", "subsection": "###", "subsubsection": "####"}
RUN_IN_HEADINGS = ("paragraph", "subparagraph")
MATH_ENVIRONMENTS = frozenset("""equation equation* align align* alignat alignat* gather gather* multline
multline* flalign flalign* eqnarray eqnarray* displaymath math dmath dmath* subequations""".split())
AS_BRACKET_MATH = frozenset({"equation", "equation*", "displaymath"})
FLOATS = {"figure": "Figure", "figure*": "Figure", "wrapfigure": "Figure", "SCfigure": "Figure",
          "sidewaysfigure": "Figure", "subfigure": "Figure", "table": "Table", "table*": "Table",
          "wraptable": "Table", "sidewaystable": "Table", "longtable": "Table", "algorithm": "Algorithm",
          "algorithm*": "Algorithm", "listing": "Listing", "figurehere": "Figure", "tablehere": "Table"}
DROPPED_ENVIRONMENTS = frozenset("""tikzpicture pgfpicture axis picture tabular tabular* tabularx tabulary
array thebibliography references algorithmic algorithmic* filecontents filecontents* keywords keyword
IEEEkeywords acronym titlepage CCSXML""".split())
LISTS = frozenset("itemize enumerate description compactitem compactenum inparaenum asparaenum".split())
THEOREMS = {"theorem": "Theorem", "lemma": "Lemma", "corollary": "Corollary", "proposition": "Proposition",
            "definition": "Definition", "remark": "Remark", "example": "Example", "conjecture": "Conjecture",
            "claim": "Claim", "proof": "Proof", "assumption": "Assumption", "observation": "Observation"}
PARENTHETICAL_CITES = frozenset("""cite cite* citep citep* citealp citealp* parencite autocite footcite
supercite nocite citepalias Cite Citep""".split())
TEXTUAL_CITES = frozenset("citet citet* citeauthor citeauthor* citeyear citeyearpar textcite Textcite Citet citealt".split())
REFS = frozenset("ref ref* eqref cref Cref cref* Cref* autoref autoref* pageref nameref vref Vref cpageref".split())
# Macros whose arguments are layout, metadata or pointers, not text.
DROPPED_MACROS = frozenset("""label includegraphics vspace vspace* hspace hspace* setlength addtolength
setcounter addtocounter bibliography bibliographystyle printbibliography maketitle tableofcontents
listoffigures listoftables newtheorem theoremstyle affiliation affil email orcid keywords thanks
graphicspath color pagestyle thispagestyle linenumbers newpage clearpage cleardoublepage pagebreak
footnotemark noindent centering raggedright raggedleft small footnotesize scriptsize tiny large Large LARGE huge
normalsize bigskip medskip smallskip vfill hfill newline linebreak acknowledgments institute address
Plaintitle Plainauthor Shorttitle Keywords Plainkeywords Address date received accepted journal
submitted shorttitle shortauthors setcopyright copyrightyear acmYear acmDOI acmConference
acmBooktitle acmPrice acmISBN ccsdesc settopmatter IEEEoverridecommandlockouts IEEEpeerreviewmaketitle
correspondingauthor altaffiliation collaboration nocollaboration AddToShipoutPictureBG resizebox
definecolor hypersetup captionsetup lstset setminted usetikzlibrary pgfplotsset tikzset
numberwithin renewenvironment newenvironment newacronym newglossaryentry makeglossaries""".split())
AUTHOR_NOISE = frozenset("""thanks footnote inst affiliation affil email orcid IEEEauthorblockA institute
address textsuperscript altaffiliation footnotemark altaffilmark inits corref orcidlink ead fnref
affiliationmark""".split())
ACRONYM_SHORT = {"gls": "", "Gls": "", "glspl": "s", "Glspl": "s", "acrshort": "", "acs": "", "acsp": "s"}
ACRONYM_LONG = {"acrlong": "", "acl": "", "aclp": "s"}
ACRONYM_FULL = {"acrfull": "", "acf": "", "acfp": "s"}
ACRONYM_FIRST_USE = {"ac": "", "Ac": "", "acp": "s"}  # `long (SHORT)` the first time, then `SHORT`
ACCENTS = frozenset("'`^\"~=.uvHcdbrkt")
EXTRA_MACRO_SPECS = {
    "citet": "*[[{", "citealt": "*[[{", "citeauthor": "*[[{", "citeyear": "*[[{", "parencite": "*[[{",
    "textcite": "*[[{", "autocite": "*[[{", "footcite": "*[[{", "nocite": "{", "cref": "*{", "Cref": "*{",
    "autoref": "*{", "pageref": "*{", "nameref": "*{", "vref": "*{", "href": "{{", "caption": "*[{",
    "captionof": "*{[{", "subcaption": "[{", "thanks": "{", "affiliation": "[{", "affil": "[{",
    "email": "[{", "orcid": "{", "keywords": "{", "Keywords": "{", "Plainkeywords": "{", "Plaintitle": "{",
    "Plainauthor": "{", "Shorttitle": "{", "Address": "{", "abstract": "{", "Abstract": "{",
    "texorpdfstring": "{{", "SI": "[{{", "si": "[{", "num": "[{", "qty": "[{{", "unit": "[{",
    "textsuperscript": "{", "textsubscript": "{", "newtheorem": "*{[{[", "theoremstyle": "{",
    "graphicspath": "{", "color": "[{", "definecolor": "{{{", "title": "[{", "author": "[{",
    "date": "{", "institute": "{", "inst": "{", "cmverbatimblock": "{", "paragraph": "*[{",
    "subparagraph": "*[{", "resizebox": "*{{", "scalebox": "{", "acmConference": "[{{{",
    "ccsdesc": "[{", "setcopyright": "{", "hypersetup": "{", "captionsetup": "[{", "lstset": "{",
    "usetikzlibrary": "{", "IEEEauthorblockN": "{", "IEEEauthorblockA": "{", "mintinline": "[{{", "lstinline": "[{",
    "newacronym": "[{{{", "gls": "{", "Gls": "{", "glspl": "{", "acrshort": "{", "acrlong": "{",
    "acrfull": "{", "ac": "{", "acp": "{", "correspondingauthor": "{", "altaffiliation": "{",
    "altaffilmark": "{", "inits": "{", "corref": "{", "orcidlink": "{", "ead": "[{", "fnref": "{",
    "affiliationmark": "{", "addtocounter": "{{", "addtolength": "{{", "stepcounter": "{", "refstepcounter": "{", "address": "{",
    "collaboration": "[{", "shorttitle": "{", "footnotemark": "[", "footnotetext": "[{", "linebreak": "[",
    "Glspl": "{", "acs": "{", "acl": "{", "acf": "{", "acsp": "{", "aclp": "{", "acfp": "{", "Ac": "{",
    "bibliographystyle": "{", "pagestyle": "{", "thispagestyle": "{", "numberwithin": "{{",
    "acmYear": "{", "acmDOI": "{", "acmBooktitle": "{", "acmPrice": "{", "acmISBN": "{", "copyrightyear": "{",
    "settopmatter": "{", "newenvironment": "{[[{{", "renewenvironment": "{[[{{", "newglossaryentry": "{{",
    "setminted": "[{", "pgfplotsset": "{", "tikzset": "{", "shortauthors": "{", "AddToShipoutPictureBG": "*{",
    "received": "{", "accepted": "{", "journal": "{", "submitted": "{", "shortauthors": "{",
}
EXTRA_ENVIRONMENT_SPECS = {"minipage": "[[[{", "wrapfigure": "[{[{", "wraptable": "[{[{", "multicols": "{",
                           "subfigure": "[{", "tabularx": "{{", "tabular*": "{[{", "longtable": "[{",
                           "adjustbox": "{", "algorithm": "[", "algorithm*": "[", "thebibliography": "{"}
LOGOS = {"LaTeX": "LaTeX", "TeX": "TeX", "LaTeXe": "LaTeX2e", "BibTeX": "BibTeX", "XeLaTeX": "XeLaTeX",
         "XeTeX": "XeTeX", "LuaLaTeX": "LuaLaTeX", "AmS": "AMS", "today": ""}  # \\today: not reproducible
# pandoc's escapes inside Highlighting; a backslash is held as \x05 until the markup is gone
PANDOC_ESCAPES = {"\\textbackslash{}": "\x05", "\\textdollar{}": "$", "\\textdollar": "$",
                  "\\textasciitilde{}": "~", "\\textasciicircum{}": "^", "\\textquotesingle{}": "'",
                  "\\textquotedbl{}": '"', "\\textless{}": "<", "\\textgreater{}": ">", "\\NormalTok{}": ""}
SPECIALS = {"~": " ", "--": "\u2013", "---": "\u2014", "``": "\u201c", "''": "\u201d", "&": " ",
            "!`": "\u00a1", "?`": "\u00bf"}


def latex_context(theorem_names: dict[str, str]):
    """pylatexenc's default context, plus the argument specs of macros it does not know."""
    db = get_default_latex_context_db()
    known_envs = {**EXTRA_ENVIRONMENT_SPECS, **{name: "[" for name in theorem_names}}
    db.add_context_category(
        "corpusmill-papers", prepend=True,
        macros=[MacroSpec(name, spec) for name, spec in EXTRA_MACRO_SPECS.items()],
        environments=[EnvironmentSpec(name, spec) for name, spec in known_envs.items()])
    # pylatexenc tests every character for every specials string (a third of the parse time on
    # real papers); only a few characters can start one.
    first_chars = frozenset(spec.specials_chars[0] for spec in db.iter_specials_specs())
    test_all = db.test_for_specials
    db.test_for_specials = lambda s, pos, parsing_state=None: (
        test_all(s, pos, parsing_state) if pos < len(s) and s[pos] in first_chars else None)
    return db
