"""Project Gutenberg reader on variants of real books it has not seen as such.

Each variant is built in tmp_path from a real book of ../shared/data/books/gitenberg: its text between
the markers (found here by a plain scan) wrapped in the header/footer layouts PG used over the decades
(1993 "Small Print" etexts, 2000 etexts with fields, 2003 EBooks, 2007 no-space markers, 2023 eBooks,
copyrighted etexts, German footers, no start marker, no markers), re-encoded (UTF-8, Latin-1,
cp1252, UTF-8 with a broken byte), with other line endings, and zipped as PG distributes them.
The layouts follow real PG files (and the marker lists of the c-w/gutenberg cleaner); the expected
body is the one read from the real file, whose first and last lines are pinned here from the file.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from corpora.books import Options, iter_documents
from corpora.schema import SkipCounter, make_doc_id

DEVIL = "pg972_972.txt"  # ASCII, English
ONTBOEZEMINGEN = "pg24675_24675-8.txt"  # ISO-8859-1, Dutch
ENTRE_NOUS = "pg44157_44157-0.txt"  # UTF-8 with a BOM, French


def read(path: Path, **options) -> tuple[list[dict], dict]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="books", file_key=path.name,
                               options=Options(**{"catalog_metadata": False, **options}), skips=skips))
    return docs, dict(skips)


def raw_text(path: Path) -> str:
    """The file as MANIFEST.md describes it: -0 UTF-8 (BOM), -8 ISO-8859-1, plain ASCII; CRLF."""
    encoding = "utf-8-sig" if path.name.endswith("-0.txt") else "latin-1"
    return path.read_bytes().decode(encoding).replace("\r\n", "\n")


def region(path: Path) -> list[str]:
    """The lines between the modern start marker and the first "End of ... Project Gutenberg"."""
    lines = raw_text(path).split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("*** START OF THIS PROJECT GUTENBERG"))
    end = next(i for i in range(start, len(lines)) if re.match(r"End of (the )?Project Gutenberg", lines[i]))
    return lines[start + 1:end]


@pytest.fixture(scope="module")
def real(shared_data: Path) -> dict[str, dict]:
    """Per book: the lines between its markers and the body the reader gives for the real file."""
    out = {}
    for name in (DEVIL, ONTBOEZEMINGEN, ENTRE_NOUS):
        path = shared_data / "books" / "gitenberg" / name
        docs, skips = read(path)
        assert skips == {}
        out[name] = {"region": region(path), "body": docs[0]["text"], "path": path}
    return out


def test_reference_bodies_start_and_end_where_the_files_say(real):
    devil = real[DEVIL]["body"].split("\n")
    assert devil[0] == "THE DEVIL'S DICTIONARY" and devil[2] == "by Ambrose Bierce"
    assert devil[-1] == "Nature_) that the domestic cow sheds its horn every two years."
    dutch = real[ONTBOEZEMINGEN]["body"].split("\n")
    assert dutch[0] == "ELK DEEL IS AFZONDERLIJK VERKRIJGBAAR"
    # The closing "Transcriber's Notes" section (about the scans and PG practice) is gone.
    assert dutch[-1] == " » 73.--=Célestine.= Rob's moeder."  # the file's line 6826
    french = real[ENTRE_NOUS]["body"].split("\n")
    assert french[0] == "  Au lecteur."
    assert french[-1] == "               vensterbank.)"


# -- header/footer layouts of other decades ------------------------------------------------------

SMALL_PRINT_1993 = """\
   ***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN ETEXTS**START***
   Why is this "Small Print!" statement here?  You know: lawyers.
   They tell us you might sue us if there is something wrong with
   your copy of this etext, even if you got it for free from
   someone other than us, and even if what's wrong is not our
   fault.

   This "Small Print!" by Charles B. Kramer, Attorney
   Internet (72600.2026@compuserve.com); TEL: (212-254-5093)
   *END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*"""

LICENCE_2003 = """\
*** START: FULL LICENSE ***

THE FULL PROJECT GUTENBERG LICENSE
PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK

To protect the Project Gutenberg-tm mission of promoting the free
distribution of electronic works, by using or distributing this work"""


def layout_1993(body: str, title: str, author: str, number: int, **_) -> str:
    # No fields: title and author only on the first line; the licence comes before the text.
    return (f"**The Project Gutenberg Etext of {title}, by {author}**\n"
            "*This should be labeled dict10.txt or dict10.zip.\n\n"
            f"{title}\n\nMarch, 1994  [Etext #{number}]\n\n\n"
            "Information about Project Gutenberg (one page)\n\nWe produce about two million dollars\n"
            "for each hour we work.\n\n\n"
            f"{SMALL_PRINT_1993}\n\n{body}\n\nEnd of The Project Gutenberg Etext of {title}\n")


def layout_2000(body: str, title: str, author: str, number: int, language: str, **_) -> str:
    # "This file should be named" sits in the header, before the Small Print ends it.
    return (f"The Project Gutenberg Etext of {title}, by {author}\n#3 in our series by {author}\n\n"
            "Copyright laws are changing all over the world, be sure to check\n"
            "the copyright laws for your country before posting these files!!\n\n"
            "**Welcome To The World of Free Plain Vanilla Electronic Texts**\n\n"
            "*****These Etexts Were Prepared By Thousands of Volunteers!*****\n\n"
            f"Title: {title}\n\nAuthor: {author}\n\n"
            f"Release Date: May, 1997  [Etext #{number}]\n"
            "[Yes, we are about one year ahead of schedule]\n"
            "[The actual date this file first posted = 05/23/96]\n\nEdition: 10\n\n"
            f"Language: {language}\n\n"
            f"The Project Gutenberg Etext of {title}, by {author}\n"
            "******This file should be named dvldc10.txt or dvldc10.zip*******\n\n"
            "Corrected EDITIONS of our etexts get a new NUMBER, dvldc11.txt\n\n"
            f"{SMALL_PRINT_1993.replace('Ver.04.29.93', 'Ver.12.12.00')}\n\n{body}\n\n"
            f"End of the Project Gutenberg Etext of {title}, by {author}\n")


def layout_2003(body: str, title: str, author: str, number: int, language: str, **_) -> str:
    # The 2002 small print's closing line comes after the end marker: it must not restart the body.
    return (f"The Project Gutenberg EBook of {title}, by {author}\n\n"
            "This eBook is for the use of anyone anywhere at no cost and with\n"
            "almost no restrictions whatsoever.\n\n\n"
            f"Title: {title}\n\nAuthor: {author}\n\n"
            f"Release Date: March, 2004  [EBook #{number}]\n[Date last updated: May 5, 2005]\n\n"
            f"Edition: 10\n\nLanguage: {language}\n\nCharacter set encoding: ASCII\n\n"
            f"*** START OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n{body}\n\n"
            f"End of the Project Gutenberg EBook of {title}, by {author}\n\n"
            f"*** END OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n"
            f"******* This file should be named {number}.txt or {number}.zip *******\n\n"
            "*END THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*Ver.02/11/02*END*\n\n"
            f"{LICENCE_2003}\n")


def layout_2007(body: str, title: str, author: str, number: int, **_) -> str:
    # No Title:/Author: fields (the first line names them); no spaces inside the stars; a
    # "Posting Date" and a "Release Date", the latter the release date.
    return (f"Project Gutenberg's {title}, by {author}\n\n"
            "This eBook is for the use of anyone anywhere at no cost.\n\n"
            f"Posting Date: August 8, 2008 [EBook #{number}]\nRelease Date: June, 1997\n\n"
            f"***START OF THE PROJECT GUTENBERG EBOOK {title.upper()}***\n{body}\n"
            f"***END OF THE PROJECT GUTENBERG EBOOK {title.upper()}***\n\n{LICENCE_2003}\n")


def layout_2023(body: str, title: str, author: str, number: int, language: str, **_) -> str:
    return (f"The Project Gutenberg eBook of {title}\n\n"
            "This ebook is for the use of anyone anywhere in the United States and\n"
            "most other parts of the world at no cost and with almost no restrictions\n"
            "whatsoever.\n\n"
            f"Title: {title}\n\nAuthor: {author}\n\n"
            f"Release date: June 27, 2008 [eBook #{number}]\n"
            "                Most recently updated: October 12, 2020\n\n"
            f"Language: {language}\n\nCredits: A. Volunteer and Distributed Proofreaders\n\n\n"
            f"*** START OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n{body}\n"
            f"*** END OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n\n\n"
            "Updated editions will replace the previous one--the old editions will\n"
            f"be renamed.\n\n{LICENCE_2003}\n")


def layout_copyrighted(body: str, title: str, author: str, number: int, **_) -> str:
    return ("**This is a COPYRIGHTED Project Gutenberg Etext, Details Below**\n"
            f"Title: {title}\nAuthor: {author}\n[Etext #{number}]\n\n"
            f"*** START OF THE COPYRIGHTED PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n{body}\n\n"
            "**This is a COPYRIGHTED Project Gutenberg Etext, Details Above**\n\n"
            "This etext is copyrighted by the author; the details above apply.\n")


def layout_german_footer(body: str, title: str, author: str, number: int, **_) -> str:
    return (f"The Project Gutenberg EBook of {title}, by {author}\n\n"
            f"Title: {title}\nAuthor: {author}\nRelease Date: May 5, 2005 [EBook #{number}]\n\n"
            f"*** START OF THIS PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n{body}\n\n"
            f"Ende dieses Project Gutenberg Etextes \"{title}\".\n\n{LICENCE_2003}\n")


def layout_no_start_marker(body: str, title: str, author: str, number: int, **_) -> str:
    # A header (naming the file, which old footers also do) but no start marker; an old footer.
    return (f"The Project Gutenberg EBook of {title}, by {author}\n\n"
            "This eBook is for the use of anyone anywhere at no cost and with\n"
            "almost no restrictions whatsoever.\n\n"
            f"Title: {title}\n\nAuthor: {author}\n\nRelease Date: July, 2004 [EBook #{number}]\n\n"
            f"***** This file should be named {number}.txt or {number}.zip *****\n\n\n"
            f"{body}\n\nEnd of Project Gutenberg's {title}, by {author}\n\n{LICENCE_2003}\n")


def layout_no_markers(body: str, **_) -> str:
    return body + "\n"


BOOK_FACTS = {"title": "The Devil's Dictionary", "author": "Ambrose Bierce", "number": 972,
              "language": "English"}


@pytest.mark.parametrize("layout, boilerplate, meta", [
    (layout_1993, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                               "ebook_number": 972}),
    (layout_2000, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                               "ebook_number": 972, "language": "en", "release_date": "May, 1997"}),
    (layout_2003, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                               "ebook_number": 972, "language": "en", "release_date": "March, 2004"}),
    (layout_2007, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                               "ebook_number": 972, "release_date": "June, 1997"}),
    (layout_2023, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                               "ebook_number": 972, "language": "en", "release_date": "June 27, 2008"}),
    (layout_copyrighted, "stripped", {"title": "The Devil's Dictionary", "author": "Ambrose Bierce",
                                      "ebook_number": 972}),
    (layout_german_footer, "stripped", {"title": "The Devil's Dictionary", "ebook_number": 972,
                                        "release_date": "May 5, 2005"}),
    (layout_no_start_marker, "end_marker_only", {"title": "The Devil's Dictionary", "ebook_number": 972,
                                                 "release_date": "July, 2004"}),
    (layout_no_markers, "no_markers", {}),
], ids=lambda value: getattr(value, "__name__", None))
def test_every_layout_gives_the_same_body_and_its_metadata(real, tmp_path, layout, boilerplate, meta):
    content = layout("\n".join(real[DEVIL]["region"]), **BOOK_FACTS)
    path = tmp_path / "972.txt"
    path.write_bytes(content.replace("\n", "\r\n").encode("ascii"))
    docs, skips = read(path)
    assert skips == {} and len(docs) == 1
    assert docs[0]["text"] == real[DEVIL]["body"]
    assert docs[0]["meta"]["boilerplate"] == boilerplate
    assert {key: docs[0]["meta"].get(key) for key in meta} == meta
    if not meta:  # nothing in the text names the book
        assert set(docs[0]["meta"]) == {"encoding", "boilerplate", "metadata_source"} and "url" not in docs[0]
    else:
        assert docs[0]["url"] == "https://www.gutenberg.org/ebooks/972"


def test_header_without_any_marker_is_dropped_and_read(real, tmp_path):
    header = ("The Project Gutenberg EBook of Ontboezemingen, by Gabriël\n\n"
              "Title: Ontboezemingen\n\nAuthor: Gabriël\n\nRelease Date: February 23, 2008 [EBook #24675]\n\n"
              "Language: Dutch\n\nCharacter set encoding: ISO-8859-1\n\n\n")
    path = tmp_path / "24675-8.txt"
    path.write_bytes((header + "\n".join(real[ONTBOEZEMINGEN]["region"])).encode("latin-1"))
    docs, skips = read(path)
    assert skips == {}
    assert docs[0]["text"] == real[ONTBOEZEMINGEN]["body"]
    assert {key: docs[0]["meta"][key] for key in ("title", "author", "language", "ebook_number", "boilerplate")} == {
        "title": "Ontboezemingen", "author": "Gabriël", "language": "nl", "ebook_number": 24675,
        "boilerplate": "no_markers"}


def test_1990s_shakespeare_notice_is_dropped_wherever_it_sits(real, tmp_path):
    notice = ("<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS OF WILLIAM\nSHAKESPEARE IS COPYRIGHT 1990-1993 "
              "BY WORLD LIBRARY, INC., AND IS\nPROVIDED BY PROJECT GUTENBERG ETEXT OF ILLINOIS BENEDICTINE COLLEGE\n"
              "WITH PERMISSION.  ... SERVICE THAT CHARGES FOR DOWNLOAD\nTIME OR FOR MEMBERSHIP.>>")
    lines = list(real[DEVIL]["region"])
    middle = lines.index("ZOOLOGY, n.  The science and history of the animal kingdom, including")
    lines[middle:middle] = [notice, ""]
    path = tmp_path / "972.txt"
    path.write_text(layout_2003("\n".join(lines), **BOOK_FACTS), encoding="ascii")
    docs, _ = read(path)
    assert docs[0]["text"] == real[DEVIL]["body"]


# -- encodings, line endings, containers ---------------------------------------------------------

def test_encodings_the_file_name_does_not_tell(real, tmp_path):
    text = raw_text(real[ONTBOEZEMINGEN]["path"])
    reference = real[ONTBOEZEMINGEN]["body"]
    assert "GABRIËL." in reference
    cases = {  # name -> (bytes, encoding reported)
        "as-utf8-named-8.txt": (text.encode("utf-8"), "utf-8"),
        "as-latin1-named-0.txt": (text.encode("latin-1"), "latin-1"),
        "bom-lf.txt": (b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8"),
        "cr-only.txt": (text.replace("\n", "\r").encode("latin-1"), "latin-1"),
        "crlf.txt.utf-8": (text.replace("\n", "\r\n").encode("utf-8"), "utf-8"),
    }
    for name, (data, encoding) in cases.items():
        (tmp_path / name).write_bytes(data)
        docs, skips = read(tmp_path / name)
        assert (skips, docs[0]["text"], docs[0]["meta"]["encoding"]) == ({}, reference, encoding), name


def test_cp1252_curly_quotes_in_a_file_declaring_latin1(real, tmp_path):
    text = raw_text(real[ONTBOEZEMINGEN]["path"]).replace("--", "\u2014")
    (tmp_path / "curly.txt").write_bytes(text.encode("cp1252"))
    docs, _ = read(tmp_path / "curly.txt")
    assert docs[0]["meta"]["encoding"] == "cp1252"
    assert docs[0]["text"] == real[ONTBOEZEMINGEN]["body"].replace("--", "\u2014")
    assert docs[0]["text"].count("\u2014") == real[ONTBOEZEMINGEN]["body"].count("--") > 100


def test_utf8_book_with_one_broken_byte_stays_utf8(real, tmp_path):
    data = real[ENTRE_NOUS]["path"].read_bytes()
    target = "Le texte en italiques dans l’original".encode("utf-8")
    assert data.count(target) == 1
    broken = data.replace(target, target.replace(b"texte", b"t\xe9xte"))  # a lone Latin-1 byte
    (tmp_path / "44157-0.txt").write_bytes(broken)
    docs, _ = read(tmp_path / "44157-0.txt")
    assert docs[0]["meta"]["encoding"] == "utf-8" and docs[0]["meta"]["num_replaced_bytes"] == 1
    assert docs[0]["text"] == real[ENTRE_NOUS]["body"].replace("Le texte en", "Le t\ufffdxte en")
    # The same bytes without the header's "Character set encoding: UTF-8" read the same way.
    undeclared = broken.replace(b"Character set encoding: UTF-8", b"")
    (tmp_path / "44157.txt").write_bytes(undeclared)
    assert read(tmp_path / "44157.txt")[0][0]["text"] == docs[0]["text"]


def test_latin1_book_is_not_taken_for_broken_utf8(real, tmp_path):
    data = raw_text(real[ONTBOEZEMINGEN]["path"]).encode("latin-1")
    (tmp_path / "x.txt").write_bytes(data.replace(b"ISO-8859-1", b"UTF-8"))  # a wrong declaration
    docs, _ = read(tmp_path / "x.txt")
    assert docs[0]["meta"]["encoding"] == "latin-1" and docs[0]["text"] == real[ONTBOEZEMINGEN]["body"]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_pg_zip_archives(real, tmp_path):
    data = real[ONTBOEZEMINGEN]["path"].read_bytes()
    reference = real[ONTBOEZEMINGEN]["body"]
    (tmp_path / "24675-8.zip").write_bytes(zip_bytes({"24675-8.txt": data}))
    (tmp_path / "folder.zip").write_bytes(zip_bytes({"24675-8/": b"", "24675-8/24675-8.txt": data}))
    for name, member in (("24675-8.zip", "24675-8.txt"), ("folder.zip", "24675-8/24675-8.txt")):
        docs, skips = read(tmp_path / name)
        assert skips == {} and len(docs) == 1
        assert docs[0]["text"] == reference and docs[0]["meta"]["ebook_number"] == 24675
        assert docs[0]["id"] == make_doc_id("books", name, member)
        assert docs[0]["path"] == f"{name}/{member}"
    # Two books in one archive: two documents, two ids.
    (tmp_path / "two.zip").write_bytes(zip_bytes({"a.txt": data, "b.txt": real[DEVIL]["path"].read_bytes()}))
    docs, _ = read(tmp_path / "two.zip")
    assert [doc["meta"]["ebook_number"] for doc in docs] == [24675, 972]
    assert len({doc["id"] for doc in docs}) == 2 and docs[1]["text"] == real[DEVIL]["body"]


def test_zips_without_a_book_are_counted(tmp_path):
    (tmp_path / "24675-h.zip").write_bytes(zip_bytes({"24675-h/24675-h.htm": b"<html></html>",
                                                      "24675-h/images/cover.png": b"\x89PNG"}))
    assert read(tmp_path / "24675-h.zip") == ([], {"books_no_txt_in_zip": 1})
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    assert read(tmp_path / "broken.zip") == ([], {"error:bad_zip": 1})


# -- transcriber's notes in the real books -------------------------------------------------------

@pytest.fixture(scope="module")
def all_books(shared_data: Path) -> dict[str, str]:
    folder = shared_data / "books" / "gitenberg"
    return {name: read(folder / name)[0][0]["text"]
            for name in ("pg15141_15141-8.txt", "pg16215_16215-8.txt", "pg17074_17074-8.txt",
                         "pg21849_21849-8.txt", "pg25063_25063-8.txt", "pg17997_17997-8.txt")}


def test_transcriber_notes(all_books):
    # A leading note and its numbered items (the file's lines 40-45) are gone; the title follows.
    assert all_books["pg15141_15141-8.txt"].startswith("BEETHOVEN\n\nA Character Study")
    # A one-paragraph note ("Transcribers Note: Obvious typesetter errors ...") is gone.
    assert all_books["pg16215_16215-8.txt"].startswith("Throughout this text you will see words")
    # Bracketed notes on lines of their own, also multi-paragraph ones, are gone...
    assert all_books["pg21849_21849-8.txt"].startswith("  THE\n")
    assert all_books["pg25063_25063-8.txt"].startswith("THE BEGGAR'S OPERA")
    sonata = all_books["pg17074_17074-8.txt"]
    assert ('"La Chrantreuse"\nare introduced.' in sonata
            and "So in original, perhaps" not in sonata)
    # ...an inline one inside a sentence stays, and so does a bare heading whose extent is unknown.
    assert "_libro prezioso_ mentioned on p. 71 [Transcriber's Note: p. 73], that" in sonata
    assert "Transcriber's note:\n\n      The symbol [=] followed by a vowel" in all_books["pg17997_17997-8.txt"]
    # What stays, read off the files: a "[Music: Transcribers note ...]" placeholder, the inline note,
    # the bare heading, and an errata section followed by more than EDGE_PARAGRAPHS other paragraphs.
    survivors = {name: text.count("Transcriber") for name, text in all_books.items() if "Transcriber" in text}
    assert survivors == {"pg16215_16215-8.txt": 1, "pg17074_17074-8.txt": 1, "pg17997_17997-8.txt": 1,
                         "pg25063_25063-8.txt": 1}
    assert "\n\n[Music: Transcribers note See HTML version for music]\n\n" in all_books["pg16215_16215-8.txt"]


# -- non-Latin books in legacy codecs (real UDHR texts, ../shared/data/langid-eval) ----------------

def udhr(shared_data: Path, code: str) -> str:
    with zipfile.ZipFile(shared_data / "langid-eval" / "nltk_data_udhr2.zip") as archive:
        text = archive.read(f"udhr2/{code}.txt").decode("utf-8")
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def pg_book(text: str, language: str, declared: str | None) -> str:
    charset = f"Character set encoding: {declared}\n\n" if declared else ""
    return (f"The Project Gutenberg EBook of Declaration, by Nations\n\nTitle: Declaration\n\n"
            f"Language: {language}\n\n{charset}*** START OF THIS PROJECT GUTENBERG EBOOK DECLARATION ***\n\n"
            f"{text}\n\n*** END OF THIS PROJECT GUTENBERG EBOOK DECLARATION ***\n")


@pytest.mark.parametrize("code, language, codec, declared, encoding", [
    ("cmn_hant", "Chinese", "big5", "BIG5", "big5"),
    ("cmn_hant", "Chinese", "big5", None, "big5"),
    ("cmn_hans", "Chinese", "gb2312", "GB2312", "gb2312"),
    ("jpn", "Japanese", "shift_jis", "SHIFT_JIS", "shift_jis"),
    ("rus", "Russian", "koi8_r", "KOI8-R", "koi8-r"),
    ("rus", "Russian", "cp1251", None, "cp1251"),
    ("rus", "Russian", "utf-8", None, "utf-8"),
])
def test_non_latin_books_in_legacy_codecs(shared_data, tmp_path, code, language, codec, declared, encoding):
    text = udhr(shared_data, code)
    try:
        data = pg_book(text, language, declared).replace("\n", "\r\n").encode(codec)
    except UnicodeEncodeError:  # keep the characters the legacy codec has
        text = text.encode(codec, errors="ignore").decode(codec)
        data = pg_book(text, language, declared).replace("\n", "\r\n").encode(codec)
    assert len(text) > 1500
    (tmp_path / "book.txt").write_bytes(data)
    docs, skips = read(tmp_path / "book.txt")
    assert skips == {}
    assert docs[0]["text"] == text
    assert (docs[0]["meta"]["encoding"], docs[0]["meta"]["language"], docs[0]["meta"]["title"]) == (
        encoding, {"Chinese": "zh", "Japanese": "ja", "Russian": "ru"}[language], "Declaration")
