"""Wikipedia dump reader on the real dump excerpts in ../shared/data/wikipedia.

Expected counts come from MANIFEST.md (pages, redirects, articles per repaired dump) and from an
independent parse of the same XML with xml.etree (page order, titles, namespaces, raw wikitext).
"""
from __future__ import annotations

import ast
import bz2
import gzip
import lzma
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pydantic
import pytest
import zstandard

from corpora.schema import SkipCounter, make_doc_id
from corpora.wikipedia import Options, iter_documents
from corpora.wikipedia_dump import language_from_dbname
from corpora.wikitext import WikitextRenderer

DUMPS = ("hywiki", "mrwiki", "ukwiki", "viwiki")
# The lead's brief and MANIFEST.md agree on these (asserted below against MANIFEST itself).
EXPECTED_ARTICLES = {"hywiki": 279, "mrwiki": 949, "ukwiki": 512, "viwiki": 274}
EXPECTED_REDIRECTS = {"hywiki": 29, "mrwiki": 167, "ukwiki": 16, "viwiki": 154}


def read(path: Path, **options) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="wiki", file_key=path.name,
                               options=Options(**options), skips=skips))
    return docs, skips


def manifest_counts(shared_data: Path, dbname: str) -> dict:
    for line in (shared_data / "MANIFEST.md").read_text().splitlines():
        if line.startswith(f"| wikipedia/repaired/{dbname}-"):
            return ast.literal_eval(re.search(r"(\{'pages'.*?\})", line).group(1))
    raise AssertionError(f"{dbname} not in MANIFEST.md")


def etree_pages(xml_bytes: bytes) -> list[dict]:
    """Independent reference: every page with ns, id, redirect flag and raw wikitext."""
    pages = []
    for page in ET.fromstring(xml_bytes).iter():
        if not page.tag.endswith("}page"):
            continue
        fields = {child.tag.rsplit("}", 1)[1]: child for child in page}
        revision = {c.tag.rsplit("}", 1)[1]: c for c in fields["revision"]}
        pages.append({
            "title": fields["title"].text, "ns": int(fields["ns"].text), "id": int(fields["id"].text),
            "redirect": "redirect" in fields, "text": revision["text"].text or "",
        })
    return pages


@pytest.fixture(scope="module")
def repaired(shared_data: Path) -> dict[str, tuple[list[dict], SkipCounter, list[dict]]]:
    out = {}
    for dbname in DUMPS:
        path = shared_data / "wikipedia" / "repaired" / f"{dbname}-truncated-100k.repaired.xml.bz2"
        docs, skips = read(path)
        out[dbname] = (docs, skips, etree_pages(bz2.decompress(path.read_bytes())))
    return out


@pytest.mark.parametrize("dbname", DUMPS)
def test_repaired_dump_counts_match_manifest(repaired, shared_data, dbname):
    docs, skips, pages = repaired[dbname]
    manifest = manifest_counts(shared_data, dbname)
    assert manifest["articles"] == EXPECTED_ARTICLES[dbname]
    assert manifest["redirects"] == EXPECTED_REDIRECTS[dbname]
    # Every article is either a document or a counted empty article (templates/categories only).
    assert len(docs) + skips["wiki_empty"] == manifest["articles"]
    assert skips["wiki_redirect"] == manifest["redirects"]
    assert len(docs) + sum(skips.values()) == manifest["pages"] == len(pages)
    assert not [reason for reason in skips if reason.startswith("error:")]
    other_namespaces = sum(n for reason, n in skips.items() if reason.startswith("wiki_namespace_"))
    assert other_namespaces == sum(1 for p in pages if p["ns"] != 0 and not p["redirect"])


def test_document_count_and_empty_articles_per_dump(repaired):
    counts = {db: (len(docs), skips["wiki_empty"]) for db, (docs, skips, _) in repaired.items()}
    assert counts == {"hywiki": (278, 1), "mrwiki": (743, 206), "ukwiki": (512, 0), "viwiki": (273, 1)}


def crude_prose(wikitext: str) -> str:
    """Independent of mwparserfromhell: wikitext minus comments, refs, tags, templates, rules and
    [[Namespace:...]] links (plain links nested in captions are unwrapped first)."""
    text = re.sub(r"<!--.*?-->", "", wikitext, flags=re.S)
    text = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    text = re.sub(r"<[^<>]+>", "", text)
    for pattern, replacement in ((r"\{\{[^{}]*\}\}", ""), (r"\[\[([^\[\]|:]*\|)?([^\[\]:]*)\]\]", r"\2")):
        while True:
            replaced = re.sub(pattern, replacement, text)
            if replaced == text:
                break
            text = replaced
    text = re.sub(r"\[\[[^\[\]|:]+:[^\[\]]*\]\]", "", text)
    text = re.sub(r"^-{4,}\s*$", "", text, flags=re.M)  # horizontal rules
    return re.sub(r"__[A-Z]+__", "", text).strip()


@pytest.mark.parametrize("dbname", DUMPS)
def test_documents_are_the_articles_in_dump_order(repaired, dbname):
    docs, skips, pages = repaired[dbname]
    articles = [p for p in pages if p["ns"] == 0 and not p["redirect"]]
    kept_ids = [doc["meta"]["page_id"] for doc in docs]
    assert kept_ids == [p["id"] for p in articles if p["id"] in set(kept_ids)]
    empty = [p for p in articles if p["id"] not in set(kept_ids)]
    assert len(empty) == skips["wiki_empty"]
    assert [crude_prose(p["text"]) for p in empty] == [""] * len(empty)


@pytest.mark.parametrize("dbname", DUMPS)
def test_meta_url_and_ids(repaired, dbname):
    docs, _, pages = repaired[dbname]
    by_id = {p["id"]: p for p in pages}
    lang = dbname.removesuffix("wiki")
    for doc in docs:
        page = by_id[doc["meta"]["page_id"]]
        assert doc["meta"]["title"] == page["title"]
        assert doc["meta"]["language"] == lang and doc["meta"]["dbname"] == dbname
        assert doc["meta"]["namespace"] == 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["meta"]["timestamp"])
        assert doc["id"] == make_doc_id("wiki", f"{dbname}-truncated-100k.repaired.xml.bz2", page["id"])
        assert doc["url"].startswith(f"https://{lang}.wikipedia.org/wiki/")
    assert len({doc["id"] for doc in docs}) == len(docs)


def test_url_is_percent_encoded_title(repaired):
    docs, _, _ = repaired["viwiki"]
    doc = next(d for d in docs if d["meta"]["title"] == "Thiên văn học")
    assert doc["url"] == "https://vi.wikipedia.org/wiki/Thi%C3%AAn_v%C4%83n_h%E1%BB%8Dc"


def test_plain_text_has_no_markup_left(repaired):
    leftovers = re.compile(r"\{\{|\}\}|\[\[|\]\]|<ref|<!--|''|^\{\||^\|[-}]?|Category:", re.MULTILINE)
    offending = {
        (db, doc["meta"]["title"], m.group())
        for db, (docs, _, _) in repaired.items() for doc in docs
        for m in [leftovers.search(doc["text"])] if m
    }
    assert offending == set()


def test_category_tags_and_files_are_gone(repaired):
    checked = 0
    for db, (docs, _, pages) in repaired.items():
        by_id = {p["id"]: p for p in pages}
        for doc in docs:
            raw = by_id[doc["meta"]["page_id"]]["text"]
            for prefix, name in re.findall(r"\[\[([^\[\]:|]+):([^\[\]|]+)(?:\|[^\[\]]*)?\]\]", raw):
                if prefix.strip().lower() in {"category", "категорія", "կատեգորիա", "वर्ग", "thể loại",
                                              "file", "image", "файл", "պատկեր", "चित्र", "tập tin", "hình"}:
                    assert f"{prefix}:{name}" not in doc["text"], (db, doc["meta"]["title"])
                    checked += 1
    assert checked > 5000  # the dumps have thousands of category/file links; all were looked at


def outside_tables(wikitext: str) -> str:
    """The wikitext with every {| ... |} table removed (tables, and headings in them, are dropped)."""
    kept, depth = [], 0
    for line in wikitext.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("{|"):
            depth += 1
        elif depth and stripped.startswith("|}"):
            depth -= 1
        elif not depth:
            kept.append(line)
    return "\n".join(kept)


def test_headings_survive_on_their_own_line(repaired):
    heading = re.compile(r"^(={2,6})[ \t]*([^=<>{}\[\]'&|\n]+?)[ \t]*\1[ \t]*$", re.MULTILINE)
    missing, total = [], 0
    for db, (docs, _, pages) in repaired.items():
        by_id = {p["id"]: p for p in pages}
        for doc in docs:
            lines = set(doc["text"].split("\n"))
            raw = re.sub(r"<!--.*?-->", "", by_id[doc["meta"]["page_id"]]["text"], flags=re.S)
            for _, title in heading.findall(outside_tables(raw)):
                total += 1
                if " ".join(title.split()) not in lines:
                    missing.append((db, doc["meta"]["title"], title))
    assert total > 3000
    assert missing == []


def test_sample_articles_read_as_prose(repaired, shared_data):
    docs, _ = read(shared_data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2")
    anarchism = next(d for d in docs if d["meta"]["title"] == "Anarchism")
    assert anarchism["text"].startswith(
        "Anarchism is a political philosophy and movement that is against all forms of authority"
    )
    assert "\nEtymology, terminology, and definition\n" in anarchism["text"]
    uk = next(d for d in repaired["ukwiki"][0] if d["meta"]["title"] == "1944")
    assert "Дивись також Народились 1944" in uk["text"]  # [[:Категорія:Народились 1944]] as prose
    assert "\nНародились\n" in uk["text"]


def test_enwiki_schema_09_sample(shared_data):
    path = shared_data / "wikipedia" / "wikipedia2vec-enwiki-pages-articles-sample.xml.bz2"
    docs, skips = read(path)
    pages = etree_pages(bz2.decompress(path.read_bytes()))
    assert manifest_counts_en(shared_data) == {"pages": 3, "ns0": 3, "redirects": 1, "articles": 2}
    assert [d["meta"]["title"] for d in docs] == [p["title"] for p in pages if not p["redirect"]]
    assert len(docs) == 2 and dict(skips) == {"wiki_redirect": 1}
    assert docs[0]["meta"]["language"] == "en"
    assert docs[0]["url"] == "http://en.wikipedia.org/wiki/" + docs[0]["meta"]["title"].replace(" ", "_")


def manifest_counts_en(shared_data: Path) -> dict:
    line = next(l for l in (shared_data / "MANIFEST.md").read_text().splitlines()
                if l.startswith("| wikipedia/wikipedia2vec-enwiki"))
    return ast.literal_eval(re.search(r"(\{'pages'.*?\})", line).group(1))


def test_tiny_dump_schema_011_without_siteinfo(shared_data):
    # Not in MANIFEST: 70 ns-0 pages of enwiki (2025), no <siteinfo>; counts from an etree parse.
    path = shared_data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2"
    raw = bz2.decompress(path.read_bytes())
    assert b'xmlns="http://www.mediawiki.org/xml/export-0.11/"' in raw[:200] and b"<siteinfo>" not in raw
    pages = etree_pages(raw)
    docs, skips = read(path)
    assert (len(pages), sum(p["redirect"] for p in pages)) == (70, 64)
    assert [d["meta"]["title"] for d in docs] == [p["title"] for p in pages if not p["redirect"]]
    assert [d["meta"]["title"] for d in docs] == ["Anarchism", "Albedo", "A", "Alabama", "Achilles", "Abraham Lincoln"]
    assert dict(skips) == {"wiki_redirect": 64}
    # No <siteinfo>: no language, no base URL; provenance is the dump itself.
    assert {("language" in d["meta"], d.get("url"), d["path"]) for d in docs} == {(False, None, path.name)}
    docs_hy, _ = read(path, language="en")
    assert {d["meta"]["language"] for d in docs_hy} == {"en"}


@pytest.mark.parametrize("dbname", DUMPS)
def test_truncated_xz_dump_yields_complete_pages_then_one_error(repaired, shared_data, dbname):
    path = shared_data / "wikipedia" / f"{dbname}-truncated-100k.xml.xz"
    docs, skips = read(path)
    full_docs, full_skips, pages = repaired[dbname]
    # MANIFEST: the repaired copy is the same text cut after the last complete </page>.
    assert lzma.decompress(path.read_bytes()).count(b"</page>") == len(pages)
    assert [(d["meta"], d["text"], d["url"]) for d in docs] == [(d["meta"], d["text"], d["url"]) for d in full_docs]
    assert [d["id"] for d in docs] == [make_doc_id("wiki", path.name, d["meta"]["page_id"]) for d in docs]
    assert skips.pop("error:truncated_dump") == 1
    assert skips == full_skips


def cut_bytes_inside_a_character(xml: bytes, near: int) -> int:
    """An offset >= near that falls between the bytes of one multi-byte UTF-8 character."""
    position = near
    while not (0x80 <= xml[position] < 0xC0):  # a continuation byte: inside a character
        position += 1
    return position


def expected_page_ids(full_docs: list[dict], pages: list[dict], complete_pages: int) -> list[int]:
    """The documents of the full read whose page lies within the first `complete_pages` pages."""
    kept_page_ids = {p["id"] for p in pages[:complete_pages]}
    return [d["meta"]["page_id"] for d in full_docs if d["meta"]["page_id"] in kept_page_ids]


@pytest.mark.parametrize("compression", ["none", "xz"])
def test_dump_cut_mid_page_and_mid_character(repaired, shared_data, tmp_path, compression):
    source = shared_data / "wikipedia" / "repaired" / "mrwiki-truncated-100k.repaired.xml.bz2"
    xml = bz2.decompress(source.read_bytes())
    cut = cut_bytes_inside_a_character(xml, len(xml) // 6)
    with pytest.raises(UnicodeDecodeError):
        xml[:cut].decode("utf-8")  # the cut really is inside a character
    data = {"none": lambda b: b, "xz": lzma.compress}[compression](xml[:cut])
    path = tmp_path / f"mrwiki-cut.xml{'' if compression == 'none' else '.' + compression}"
    path.write_bytes(data)
    docs, skips = read(path)
    full_docs, _, pages = repaired["mrwiki"]
    expected = expected_page_ids(full_docs, pages, xml[:cut].count(b"</page>"))
    assert [d["meta"]["page_id"] for d in docs] == expected
    assert len(expected) > 50
    assert [d["text"] for d in docs] == [d["text"] for d in full_docs[: len(docs)]]
    assert skips["error:truncated_dump"] == 1
    assert [r for r in skips if r.startswith("error:")] == ["error:truncated_dump"]


@pytest.mark.parametrize("compression", ["xz", "bz2", "gz"])
def test_compressed_stream_cut_mid_block(repaired, shared_data, tmp_path, compression):
    source = shared_data / "wikipedia" / "repaired" / "mrwiki-truncated-100k.repaired.xml.bz2"
    xml = bz2.decompress(source.read_bytes())
    # The first sixth of the dump, compressed, then cut in the middle of the compressed stream.
    compressed = {"xz": lzma.compress, "bz2": bz2.compress, "gz": gzip.compress}[compression](xml[: len(xml) // 6])
    cut = compressed[: len(compressed) // 2]
    path = tmp_path / f"mrwiki-half.xml.{compression}"
    path.write_bytes(cut)
    # Independent: what a streaming decompressor recovers from the half file.
    recovered = {"xz": lambda b: lzma.LZMADecompressor().decompress(b),
                 "bz2": lambda b: bz2.BZ2Decompressor().decompress(b),
                 "gz": lambda b: __import__("zlib").decompressobj(31).decompress(b)}[compression](cut)
    docs, skips = read(path)
    full_docs, _, pages = repaired["mrwiki"]
    expected = expected_page_ids(full_docs, pages, recovered.count(b"</page>"))
    assert [d["meta"]["page_id"] for d in docs] == expected and len(expected) > 10
    assert dict((r, n) for r, n in skips.items() if r.startswith("error:")) == {"error:truncated_dump": 1}


def test_every_container_reads_the_same_documents(shared_data, tmp_path):
    path = shared_data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2"
    xml = bz2.decompress(path.read_bytes())
    reference, _ = read(path)
    split = xml.index(b"<page>", len(xml) // 2)
    variants = {
        "dump.xml": xml,
        "dump.xml.xz": lzma.compress(xml),
        "dump.xml.gz": gzip.compress(xml),
        "dump.xml.zst": zstandard.ZstdCompressor().compress(xml),
        # pages-articles-multistream: concatenated bz2 streams
        "dump-multistream.xml.bz2": bz2.compress(xml[:split]) + bz2.compress(xml[split:]),
        # UTF-16 with a BOM (the declaration must then say so)
        "dump-utf16.xml": xml.decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'").encode("utf-16"),
    }
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        docs, skips = read(tmp_path / name)
        assert [(d["meta"], d["text"]) for d in docs] == [(d["meta"], d["text"]) for d in reference], name
        assert dict(skips) == {"wiki_redirect": 64}, name
    small_chunks, _ = read(tmp_path / "dump.xml", read_chunk_bytes=4096)
    assert [d["text"] for d in small_chunks] == [d["text"] for d in reference]


def test_malformed_xml_mid_file_is_one_counted_error(shared_data, tmp_path):
    xml = bz2.decompress((shared_data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2").read_bytes())
    third_page = [m.start() for m in re.finditer(rb"<page>", xml)][2]
    broken = xml[:third_page] + b"<page><title>x</titel>" + xml[third_page:]
    (tmp_path / "broken.xml").write_bytes(broken)
    docs, skips = read(tmp_path / "broken.xml")
    assert [d["meta"]["title"] for d in docs] == ["Anarchism"]  # pages 1-2: a redirect and Anarchism
    assert dict(skips) == {"wiki_redirect": 1, "error:corrupt_dump": 1}


def test_page_whose_rendering_raises_is_counted_not_fatal(shared_data, monkeypatch):
    # No real page makes mwparserfromhell raise; simulate one failure to show it is contained.
    original = WikitextRenderer.render

    def failing_on_albedo(self, wikitext):
        if "'''Albedo'''" in wikitext[:5000]:
            raise RecursionError("simulated")
        return original(self, wikitext)

    monkeypatch.setattr(WikitextRenderer, "render", failing_on_albedo)
    docs, skips = read(shared_data / "wikipedia" / "wiki_dump_extractor-tiny_dump.xml.bz2")
    assert [d["meta"]["title"] for d in docs] == ["Anarchism", "A", "Alabama", "Achilles", "Abraham Lincoln"]
    assert dict(skips) == {"wiki_redirect": 64, "error:wikitext_parse": 1}


def test_namespaces_option(repaired, shared_data):
    path = shared_data / "wikipedia" / "repaired" / "mrwiki-truncated-100k.repaired.xml.bz2"
    docs, skips = read(path, namespaces=[14])
    _, base_skips, pages = repaired["mrwiki"]
    category_pages = [p for p in pages if p["ns"] == 14 and not p["redirect"]]
    assert base_skips["wiki_namespace_14"] == len(category_pages) == 463
    assert "wiki_namespace_14" not in skips
    assert skips["wiki_namespace_0"] == EXPECTED_ARTICLES["mrwiki"]
    assert len(docs) + skips["wiki_empty"] == len(category_pages)
    assert {d["meta"]["namespace"] for d in docs} == {14}


def test_options_are_strict_and_frozen():
    with pytest.raises(pydantic.ValidationError):
        Options(namespace=[0])  # typo of `namespaces`
    options = Options(namespaces=[0, 4])
    assert options.namespaces == (0, 4)
    with pytest.raises(pydantic.ValidationError):
        options.language = "fr"


@pytest.mark.parametrize("dbname, language", [
    ("hywiki", "hy"), ("enwiki", "en"), ("zh_min_nanwiki", "zh-min-nan"), ("frwiktionary", "fr"),
    ("commonswiki", None), ("wikidatawiki", None), ("", None),
])
def test_language_from_dbname(dbname, language):
    assert language_from_dbname(dbname) == language


def renderer(**config) -> WikitextRenderer:
    from corpora.wikitext import WikitextConfig

    return WikitextRenderer(WikitextConfig(**config))


def test_renderer_on_hand_written_wikitext():
    wikitext = (
        "{{Infobox person|name={{nowrap|A B}}|born=1900}}\n"
        "'''Ada''' was a [[mathematician|mathematical]] [[writer]]s.<ref>{{cite|x}}</ref> "
        "She said {{lang|fr|bonjour}}.<!-- hidden -->\n"
        "== Early life ==\n* First item\n# Second [[File:X.jpg|thumb|A caption]] item\n"
        "{| class=\"wikitable\"\n|-\n! H\n|-\n| cell {{flag|UK}}\n|}\n"
        "[[Category:People]] [[fr:Ada]] <math>x^2</math> __NOTOC__"
    )
    assert renderer().render(wikitext) == (
        "Ada was a mathematical writers. She said bonjour.\n\n"
        "Early life\n\nFirst item\nSecond item"
    )
    kept = renderer(keep_tables=True, keep_file_captions=True, keep_math=True).render(wikitext)
    assert "cell" in kept and "A caption" in kept and "x^2" in kept


def test_prestrip_rules():
    from corpora.wikitext_prestrip import strip_tables, strip_templates

    keep = frozenset({"lang"})
    assert strip_templates("a {{x|{{y}}|z}} b {{lang|fr|c}} d", keep) == "a  b {{lang|fr|c}} d"
    assert strip_templates("<nowiki>{{</nowiki> a {{x}}", keep) == "<nowiki>{{</nowiki> a "
    assert strip_templates("a {{unclosed b", keep) == "a {{unclosed b"
    assert strip_tables("p\n{|\n| a\n{|\n| b\n|}\n| c\n|}\nq") == "p\nq"
    # An unclosed table ends at the next heading; a later table is still removed.
    assert strip_tables("p\n{|\n| a\n== H ==\nq\n{|\n| b\n|}\nr") == "p\n== H ==\nq\nr"


def test_memory_stays_flat_as_the_dump_grows(shared_data, tmp_path):
    import tracemalloc

    xml = bz2.decompress((shared_data / "wikipedia" / "repaired" / "mrwiki-truncated-100k.repaired.xml.bz2").read_bytes())
    first, last = xml.index(b"<page>"), xml.rindex(b"</page>") + len(b"</page>")
    pages = xml[first:xml.index(b"</page>", len(xml) // 8) + len(b"</page>")]
    peaks = {}
    for copies in (1, 8):
        path = tmp_path / f"x{copies}.xml"
        path.write_bytes(xml[:first] + pages * copies + xml[last:])
        tracemalloc.start()
        count = sum(1 for _ in iter_documents(str(path), source="wiki", file_key=path.name,
                                              options=Options(), skips=SkipCounter()))
        peaks[copies] = (tracemalloc.get_traced_memory()[1], count, path.stat().st_size)
        tracemalloc.stop()
    (peak_1, count_1, size_1), (peak_8, count_8, size_8) = peaks[1], peaks[8]
    assert count_8 == 8 * count_1
    # Seven more copies (~11 MB more XML) cost almost nothing: memory is a chunk and a page.
    assert peak_8 - peak_1 < (size_8 - size_1) / 10


def test_fsspec_url_input(shared_data):
    import fsspec

    path = shared_data / "wikipedia" / "wikipedia2vec-enwiki-pages-articles-sample.xml.bz2"
    with fsspec.open("memory://dumps/enwiki.xml.bz2", "wb") as handle:
        handle.write(path.read_bytes())
    skips = SkipCounter()
    docs = list(iter_documents("memory://dumps/enwiki.xml.bz2", source="wiki", file_key="enwiki.xml.bz2",
                               options=Options(), skips=skips))
    local, _ = read(path)
    assert [d["text"] for d in docs] == [d["text"] for d in local] and len(docs) == 2
