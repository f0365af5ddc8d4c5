"""Project Gutenberg reader on the 25 real books in ../shared/data/books/gitenberg.

References: the GITenberg metadata.yaml next to each book (parsed here with its own loader), the raw
bytes of the files, and a plain marker scan written for this test.
"""
from __future__ import annotations

import gzip
import re
import unicodedata
from pathlib import Path

import pydantic
import pytest
import yaml

from corpora.books import Options, iter_documents
from corpora.books_decode import decode_book
from corpora.books_metadata import language_code
from corpora.schema import SkipCounter, make_doc_id


def read(path: Path, **options) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="books", file_key=path.name,
                               options=Options(**options), skips=skips))
    return docs, skips


class TaggedLoader(yaml.SafeLoader):
    pass


TaggedLoader.add_multi_constructor("!", lambda loader, _, node: loader.construct_scalar(node))


def catalog(book: Path) -> dict:
    number = book.name.split("_", 1)[0]
    return yaml.load((book.parent / f"{number}_metadata.yaml").read_text(encoding="utf-8"), Loader=TaggedLoader)


def catalog_languages(record: dict) -> list[str]:
    # The quirk: usually `language: en`, sometimes a list (`language:\n- fr\n- nl`).
    value = record["language"]
    return list(value) if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def books(shared_data: Path) -> dict[Path, dict]:
    out = {}
    for path in sorted((shared_data / "books" / "gitenberg").glob("*.txt")):
        docs, skips = read(path)
        assert len(docs) == 1 and dict(skips) == {}, path.name
        out[path] = docs[0]
    return out


def test_all_25_books_read(books):
    assert len(books) == 25
    for path, doc in books.items():
        assert doc["id"] == make_doc_id("books", path.name, 0)
        assert doc["path"] == path.name
        assert doc["url"] == f"https://www.gutenberg.org/ebooks/{doc['meta']['ebook_number']}"
        assert len(doc["text"]) > 40_000


BOILERPLATE = [
    "Project Gutenberg", "PROJECT GUTENBERG", "gutenberg.org", "gutenberg.net", "*** START", "***START",
    "*** END", "***END", "START: FULL LICENSE", "FULL LICENSE", "Small Print", "SMALL PRINT",
    "This file should be named", "pgdp.net", "Distributed Proofread", "Gutenberg-tm",
    "Updated editions will replace", "Produced by", "E-text prepared by",
]


def test_no_licence_boilerplate_survives_in_any_book(books):
    found = {(path.name, phrase) for path, doc in books.items() for phrase in BOILERPLATE if phrase in doc["text"]}
    assert found == set()
    # Also across line breaks ("standard Project\nGutenberg practice") and in any case.
    joined = {path.name for path, doc in books.items() if re.search(r"project\s+gutenberg", doc["text"], re.I)}
    assert joined == set()


def marker_region(raw_lines: list[str]) -> list[str]:
    """Lines between the modern start marker and the first end marker, found by a plain scan."""
    start = next(i for i, line in enumerate(raw_lines) if re.match(r"\*\*\* ?START OF TH(E|IS) PROJECT", line))
    while not raw_lines[start].rstrip().endswith("***"):  # a marker wrapped over two lines
        start += 1
    end = next(i for i in range(start, len(raw_lines))
               if re.match(r"(\*\*\* ?END OF TH(E|IS) PROJECT|End of (the )?Project Gutenberg)", raw_lines[i], re.I))
    return raw_lines[start + 1:end]


def test_body_is_the_text_between_the_markers_nearly_all_kept(books):
    for path, doc in books.items():
        raw = path.read_bytes().decode("utf-8-sig" if path.name.endswith("-0.txt") else "latin-1")
        region = [line.rstrip() for line in marker_region(raw.replace("\r\n", "\n").split("\n"))]
        kept = doc["text"].split("\n")
        # Every kept line comes from the region, in order (a subsequence): nothing from outside.
        position = 0
        for line in kept:
            while region[position] != line:
                position += 1
        region_chars = sum(len(line) for line in region if line.strip())
        kept_chars = sum(len(line) for line in kept if line.strip())
        assert kept_chars / region_chars > 0.97, path.name  # only credits and PG notes went


def test_title_author_language_equal_the_catalogue_yaml(books):
    for path, doc in books.items():
        record = catalog(path)
        creator = record["creator"]
        agents = creator.get("authors") or [creator["author"]]
        assert doc["meta"]["title"] == " ".join(record["title"].split()), path.name
        assert doc["meta"]["author"] == "; ".join(agent["agent_name"] for agent in agents), path.name
        assert doc["meta"]["language"] == catalog_languages(record)[0], path.name
        assert doc["meta"]["languages"] == catalog_languages(record)
        assert doc["meta"]["ebook_number"] == int(record["identifiers"]["gutenberg"])
        assert doc["meta"]["metadata_source"] == "gitenberg_yaml"
    entre_nous = next(doc for path, doc in books.items() if path.name.startswith("pg44157_"))
    assert (entre_nous["meta"]["language"], entre_nous["meta"]["languages"]) == ("fr", ["fr", "nl"])


def simplified(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", text.casefold()))


def name_tokens(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", unicodedata.normalize("NFKD", name.casefold()).encode("ascii", "ignore").decode()))


def test_header_fields_agree_with_the_catalogue_where_the_header_says_the_same(books):
    """The header is all a bare PG file has; here it is checked against the catalogue."""
    title_mismatch, author_mismatch = set(), set()
    for path, doc in books.items():
        meta, record = doc["meta"], catalog(path)
        number = path.name.split("_", 1)[0]
        assert meta["header_language"] == catalog_languages(record)[0], path.name
        header_title, title = simplified(meta["header_title"]), simplified(record["title"])
        if not (title.startswith(header_title) or header_title.startswith(title)):
            title_mismatch.add(number)
        agents = record["creator"].get("authors") or [record["creator"]["author"]]
        catalogue_names = set().union(*(name_tokens(a["agent_name"]) for a in agents))
        if not name_tokens(meta["header_author"]) <= catalogue_names:
            author_mismatch.add(number)
    # Read off the files: "Vol. 2" vs "Volume 2"; "Critical & Historical" vs "Critical and Historical".
    assert title_mismatch == {"pg13272", "pg16351"}
    # "Various" (12200, 20170), the translator "Lady Wallace" (13272), "J. Walter" vs "Jesse Walter"
    # (17997), "Isaak" vs "Izaak" Walton (9198), the pen name "Gabriël (AKA Carel van Nievelt)" (24675).
    assert author_mismatch == {"pg12200", "pg20170", "pg13272", "pg17997", "pg9198", "pg24675"}


def test_header_only_metadata_without_the_catalogue(shared_data):
    path = shared_data / "books" / "gitenberg" / "pg21937_21937-8.txt"
    assert b"Author: J\xf3hann Sigurj\xf3nsson" in path.read_bytes()  # ISO-8859-1 bytes
    docs, _ = read(path, catalog_metadata=False)
    meta = docs[0]["meta"]
    assert meta == {
        "title": "Modern Icelandic Plays Eyvind of the Hills; The Hraun Farm",
        "author": "Jóhann Sigurjónsson", "language": "en", "ebook_number": 21937,
        "release_date": "June 25, 2007", "encoding": "latin-1", "boilerplate": "stripped",
        "metadata_source": "header",
    }


def test_encodings_and_line_endings(books):
    by_number = {path.name.split("_", 1)[0]: doc for path, doc in books.items()}
    for path, doc in books.items():
        assert "\r" not in doc["text"] and "\ufffd" not in doc["text"], path.name
        assert not re.search("Ã[\x80-\xbf©¨§ª«¼]", doc["text"]), path.name  # no UTF-8 read as Latin-1
        assert not doc["text"].startswith("\ufeff")
    # -8.txt: ISO-8859-1 bytes decoded as Latin-1 ("GABRI\xcbL" in the file).
    raw = (books_dir(books) / "pg24675_24675-8.txt").read_bytes()
    assert b"GABRI\xcbL." in raw and "GABRIËL." in by_number["pg24675"]["text"]
    assert by_number["pg24675"]["meta"]["encoding"] == "latin-1"
    # -0.txt: UTF-8 with a BOM; .txt: ASCII.
    assert "The Complete Work of L'Abbé Delaumosne" in by_number["pg12200"]["text"]
    assert by_number["pg12200"]["meta"]["encoding"] == "utf-8"
    assert "Āā Ēē Īī Ōō Ūū ȳ" in by_number["pg31894"]["text"]
    assert by_number["pg972"]["meta"]["encoding"] == "ascii"
    encodings = sorted(doc["meta"]["encoding"] for doc in books.values())
    assert encodings == ["ascii"] * 2 + ["latin-1"] * 19 + ["utf-8"] * 4


def books_dir(books: dict[Path, dict]) -> Path:
    return next(iter(books)).parent


def test_same_book_in_other_encodings_and_line_endings(books, tmp_path):
    source = books_dir(books) / "pg24675_24675-8.txt"
    reference = books[source]["text"]
    text = source.read_bytes().decode("latin-1")
    variants = {
        "lf-latin1.txt": text.replace("\r\n", "\n").encode("latin-1"),
        "crlf-utf8.txt": text.encode("utf-8"),
        "bom-utf8.txt": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "utf16.txt": text.encode("utf-16"),
        "cr-only.txt": text.replace("\r\n", "\r").encode("latin-1"),
        "compressed.txt.gz": gzip.compress(text.encode("latin-1")),
    }
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        docs, _ = read(tmp_path / name, catalog_metadata=False)
        assert docs[0]["text"] == reference, name
        assert docs[0]["meta"]["title"] == "Ontboezemingen", name


def test_declared_encoding_and_fallbacks():
    latin1_with_curly_quotes = b"Character set encoding: ISO-8859-1\r\n\r\n\x93Caf\xe9\x94\r\n"
    assert decode_book(latin1_with_curly_quotes) == ("Character set encoding: ISO-8859-1\r\n\r\n“Café”\r\n", "cp1252")
    ascii_declared_but_latin1 = b"Character set encoding: ISO-646-US (US-ASCII)\n\nna\xefve\n"
    assert decode_book(ascii_declared_but_latin1) == ("Character set encoding: ISO-646-US (US-ASCII)\n\nnaïve\n", "latin-1")
    koi8 = "Character set encoding: KOI8-R\n\nПривет\n".encode("koi8_r")
    assert decode_book(koi8) == ("Character set encoding: KOI8-R\n\nПривет\n", "koi8-r")
    assert decode_book("Ünïcode".encode("utf-8")) == ("Ünïcode", "utf-8")


@pytest.mark.parametrize("name, code", [
    ("English", "en"), ("Dutch", "nl"), ("French", "fr"), ("Latin", "la"), ("English and French", "en"),
    ("German, Latin", "de"), ("fr", "fr"), ("Klingon", None),
])
def test_language_code(name, code):
    assert language_code(name) == code


# A 1994 file laid out like the real alice30.txt (Etext #11): the licence ("Small Print") comes
# first, ended by *END*THE SMALL PRINT!..., and there is no footer at all.
OLD_STYLE = """***This is the Project Gutenberg Etext of Alice in Wonderland***
*This 30th edition should be labeled alice30.txt or alice30.zip.

Alice's Adventures in Wonderland

March, 1994  [Etext #11]

***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***
Why is this "Small Print!" statement here?  You know: lawyers.
*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*




                   ALICE'S ADVENTURES IN WONDERLAND

                             Lewis Carroll

     Alice was beginning to get very tired of sitting by her sister
   on the bank.

                                THE END
"""

# The current layout (2020s), with its licence after the end marker.
MODERN_STYLE = """The Project Gutenberg eBook of Alice's Adventures in Wonderland

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever.

Title: Alice's Adventures in Wonderland

Author: Lewis Carroll

Release date: June 27, 2008 [eBook #11]
                Most recently updated: October 12, 2020

Language: English

Credits: Arthur DiBianca and David Widger


*** START OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***
[Illustration]




Alice's Adventures in Wonderland

by Lewis Carroll

THE END

*** END OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***



Updating editions will replace the previous one--the old editions will
be renamed.

START: FULL LICENSE

THE FULL PROJECT GUTENBERG LICENSE
"""

# Older footers: "The end of the Project Gutenberg e-text of" and credits after the start marker.
ETEXT_FOOTER = """The Project Gutenberg Etext of Some Essays, by A. Writer

Title: Some Essays

Author: A. Writer

Language: German

*** START OF THIS PROJECT GUTENBERG EBOOK SOME ESSAYS ***

This etext was prepared by A. Volunteer, and the Project Gutenberg
Online Distributed Proofreading Team.

ESSAY ONE

Die Sprache ist gut.

The end of the Project Gutenberg e-text of Some Essays
"""


@pytest.mark.parametrize("content, text, meta", [
    (OLD_STYLE, "ALICE'S ADVENTURES IN WONDERLAND\n\n                             Lewis Carroll\n\n"
                "     Alice was beginning to get very tired of sitting by her sister\n   on the bank.\n\n"
                "                                THE END",
     {"title": "Alice in Wonderland", "ebook_number": 11}),
    (MODERN_STYLE, "[Illustration]\n\n\n\n\nAlice's Adventures in Wonderland\n\nby Lewis Carroll\n\nTHE END",
     {"title": "Alice's Adventures in Wonderland", "author": "Lewis Carroll", "language": "en",
      "ebook_number": 11, "release_date": "June 27, 2008"}),
    (ETEXT_FOOTER, "ESSAY ONE\n\nDie Sprache ist gut.",
     {"title": "Some Essays", "author": "A. Writer", "language": "de"}),
])
def test_marker_variants(tmp_path, content, text, meta):
    path = tmp_path / "book.txt"
    path.write_bytes(content.replace("\n", "\r\n").encode("ascii"))
    docs, skips = read(path)
    assert dict(skips) == {}
    assert docs[0]["text"].strip() == text.strip()
    assert {key: docs[0]["meta"].get(key) for key in meta} == meta
    assert docs[0]["meta"]["boilerplate"] == "stripped"


def test_file_without_markers_is_kept_whole_and_flagged(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("CHAPTER I\n\nA book that was already cleaned.\n", encoding="utf-8")
    docs, _ = read(path)
    assert docs[0]["text"] == "CHAPTER I\n\nA book that was already cleaned."
    assert docs[0]["meta"]["boilerplate"] == "no_markers"
    assert "url" not in docs[0]


def test_non_txt_inputs_are_counted_not_read(shared_data, tmp_path):
    docs, skips = read(shared_data / "books" / "gitenberg" / "pg972_metadata.yaml")
    assert docs == [] and dict(skips) == {"books_not_txt": 1}
    empty = tmp_path / "empty.txt"
    empty.write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n")
    docs, skips = read(empty)
    assert docs == [] and dict(skips) == {"books_empty": 1}


def test_a_metadata_yaml_of_another_book_is_ignored(shared_data, tmp_path):
    source = shared_data / "books" / "gitenberg" / "pg972_972.txt"
    (tmp_path / "972.txt").write_bytes(source.read_bytes())
    (tmp_path / "metadata.yaml").write_bytes((source.parent / "pg3261_metadata.yaml").read_bytes())
    docs, _ = read(tmp_path / "972.txt")
    assert docs[0]["meta"]["metadata_source"] == "header"
    assert docs[0]["meta"]["title"] == "The Devil's Dictionary"
    (tmp_path / "metadata.yaml").write_bytes((source.parent / "pg972_metadata.yaml").read_bytes())
    docs, _ = read(tmp_path / "972.txt")
    assert (docs[0]["meta"]["metadata_source"], docs[0]["meta"]["author"]) == ("gitenberg_yaml", "Bierce, Ambrose")


def test_options_are_strict_and_frozen():
    with pytest.raises(pydantic.ValidationError):
        Options(strip_boilerplates=False)
    options = Options()
    with pytest.raises(pydantic.ValidationError):
        options.encoding = "latin-1"


def test_fsspec_url_input_with_catalogue_sidecar(shared_data):
    import fsspec

    source = shared_data / "books" / "gitenberg"
    for name in ("pg972_972.txt", "pg972_metadata.yaml"):
        with fsspec.open(f"memory://library/{name}", "wb") as handle:
            handle.write((source / name).read_bytes())
    skips = SkipCounter()
    docs = list(iter_documents("memory://library/pg972_972.txt", source="books", file_key="pg972_972.txt",
                               options=Options(), skips=skips))
    local, _ = read(source / "pg972_972.txt")
    assert docs[0]["text"] == local[0]["text"]
    assert docs[0]["meta"] == local[0]["meta"] and docs[0]["meta"]["metadata_source"] == "gitenberg_yaml"
