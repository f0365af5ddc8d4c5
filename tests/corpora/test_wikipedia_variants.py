"""The Wikipedia reader on dump variants it was not tuned on, built in tmp_path from the real
excerpts in ../shared/data/wikipedia: other containers, old schemas (no <ns>, no <redirect>),
history pages, text-less and hidden revisions, extra elements, other XML namespaces, localized
namespaces and redirects, disambiguation pages, inputs that are no dump at all.

Expected values come from an independent parse of the same XML with xml.etree (page count,
<ns>, <redirect>, revision order) or from small hand-written pages whose output is checked by eye.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from corpora.schema import SkipCounter
from corpora.wikipedia import Options, iter_documents

REPAIRED = "wikipedia/repaired/{}-truncated-100k.repaired.xml.bz2"


def read(path: Path, **options) -> tuple[list[dict], SkipCounter]:
    skips = SkipCounter()
    docs = list(iter_documents(str(path), source="wiki", file_key="dump", options=Options(**options), skips=skips))
    return docs, skips


def first_pages(shared_data: Path, dbname: str, num_pages: int) -> bytes:
    """The real dump's header, its first `num_pages` pages, and the closing tag."""
    xml = bz2.decompress((shared_data / REPAIRED.format(dbname)).read_bytes())
    starts = [m.start() for m in re.finditer(rb"<page>", xml)]
    end = starts[num_pages] if num_pages < len(starts) else xml.rindex(b"</page>") + len(b"</page>\n")
    return xml[:end] + b"</mediawiki>\n"


def etree_pages(xml: bytes) -> list[dict]:
    """Independent reference: per page its ns (None when absent), redirect element, title, texts."""
    pages = []
    for _, element in ET.iterparse(io.BytesIO(xml)):
        if element.tag.rpartition("}")[2] != "page":
            continue
        children = {c.tag.rpartition("}")[2]: c for c in element}
        revisions = [c for c in element if c.tag.rpartition("}")[2] == "revision"]
        pages.append({
            "title": children["title"].text,
            "ns": int(children["ns"].text) if "ns" in children else None,
            "redirect": "redirect" in children,
            "texts": [next(c for c in r if c.tag.endswith("text")).text or "" for r in revisions],
        })
        element.clear()
    return pages


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def accounted(docs: list[dict], skips: SkipCounter) -> int:
    """Pages the reader accounted for: documents plus every counted skip except file-level errors."""
    return len(docs) + sum(n for reason, n in skips.items() if not reason.startswith("error:"))


# -- containers -------------------------------------------------------------------------------

def multistream(xml: bytes, pages_per_stream: int) -> bytes:
    """pages-articles-multistream layout: header stream, streams of N pages, closing-tag stream."""
    first, last = xml.index(b"<page>"), xml.rindex(b"</page>") + len(b"</page>")
    pages = re.findall(rb"\s*<page>.*?</page>", xml[first - 4:last], flags=re.S)
    streams = [xml[:first]] + [b"".join(pages[i:i + pages_per_stream]) for i in range(0, len(pages), pages_per_stream)]
    return b"".join(bz2.compress(s, 1) for s in streams + [xml[last:]])


CONTAINERS = {
    "dump.xml": lambda xml: xml,
    "dump.xml.gz": lambda xml: gzip.compress(xml, 1),
    "dump.xml.xz": lambda xml: lzma.compress(xml, preset=1),
    "dump.xml.zst": lambda xml: zstandard.ZstdCompressor(level=1, write_checksum=True).compress(xml),
    "dump.xml.bz2": lambda xml: bz2.compress(xml, 1),
    "dump-multistream.xml.bz2": lambda xml: multistream(xml, 25),
    # A file named .bz2 that is really gzip: the magic bytes decide, not the name.
    "misnamed.xml.bz2": lambda xml: gzip.compress(xml, 1),
}


@pytest.fixture(scope="module")
def viwiki_300(shared_data) -> tuple[bytes, list[dict], list[dict], SkipCounter]:
    xml = first_pages(shared_data, "viwiki", 300)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        docs, skips = read(write(Path(folder), "plain.xml", xml))
    return xml, etree_pages(xml), docs, skips


def test_viwiki_excerpt_accounts_for_every_page(viwiki_300):
    _, pages, docs, skips = viwiki_300
    assert len(pages) == 300
    assert accounted(docs, skips) == 300 and not [r for r in skips if r.startswith("error:")]
    assert skips["wiki_redirect"] == sum(p["redirect"] for p in pages)
    other = Counter(p["ns"] for p in pages if p["ns"] != 0 and not p["redirect"])
    assert {int(r.rpartition("_")[2]): n for r, n in skips.items() if r.startswith("wiki_namespace_")} == other
    articles = [p for p in pages if p["ns"] == 0 and not p["redirect"]]
    assert len(docs) + skips["wiki_empty"] == len(articles)
    titles = {d["meta"]["title"] for d in docs}
    assert [d["meta"]["title"] for d in docs] == [p["title"] for p in articles if p["title"] in titles]


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_container_of_a_real_dump_reads_the_same(viwiki_300, tmp_path, name):
    xml, _, reference, reference_skips = viwiki_300
    docs, skips = read(write(tmp_path, name, CONTAINERS[name](xml)))
    assert [(d["id"], d["meta"], d["text"]) for d in docs] == [(d["id"], d["meta"], d["text"]) for d in reference]
    assert skips == reference_skips


@pytest.mark.parametrize("compression", ["gz", "zst", "bz2-multistream"])
def test_truncated_original_recompressed_yields_complete_pages_then_one_error(shared_data, tmp_path, compression):
    # The real ukwiki original is cut inside a UTF-8 character mid-page; the compression is intact.
    xml = lzma.decompress((shared_data / "wikipedia/ukwiki-truncated-100k.xml.xz").read_bytes())
    xml = xml[: xml.index(b"<page>", len(xml) // 3) + 2000]  # a third is enough; still cut mid-page
    with pytest.raises(ET.ParseError):
        ET.fromstring(xml)
    complete = xml.count(b"</page>")  # independent count of complete pages
    data = {"gz": lambda b: gzip.compress(b, 1), "zst": lambda b: zstandard.ZstdCompressor(level=1).compress(b),
            "bz2-multistream": lambda b: b"".join(bz2.compress(b[i:i + 300_000], 1) for i in range(0, len(b), 300_000)),
            }[compression](xml)
    docs, skips = read(write(tmp_path, f"uk.xml.{compression}", data))
    assert accounted(docs, skips) == complete
    assert {r: n for r, n in skips.items() if r.startswith("error:")} == {"error:truncated_dump": 1}


def test_corrupt_zstd_frame_is_counted_not_raised(viwiki_300, tmp_path):
    xml, _, reference, _ = viwiki_300
    data = bytearray(zstandard.ZstdCompressor(level=1, write_checksum=True).compress(xml))
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    docs, skips = read(write(tmp_path, "corrupt.xml.zst", bytes(data)))
    assert [d["id"] for d in docs] == [d["id"] for d in reference[: len(docs)]]
    assert 0 < len(docs) < len(reference)
    assert skips["error:corrupt_dump"] == 1


# -- old schemas: no <ns>, no <redirect> -------------------------------------------------------

def as_schema_03(xml: bytes) -> bytes:
    """What export-0.3 (MediaWiki 1.5-era) dumps look like: no <ns>, no <redirect>, no <dbname>."""
    xml = re.sub(rb"export-0\.10", b"export-0.3", xml)
    xml = re.sub(rb'version="0\.10"', b'version="0.3"', xml)
    xml = re.sub(rb"\s*<ns>-?\d+</ns>", b"", xml)
    xml = re.sub(rb"\s*<redirect[^>]*/>", b"", xml)
    return xml


@pytest.mark.parametrize("dbname, num_pages", [("mrwiki", 400), ("viwiki", 300), ("ukwiki", 60)])
def test_schema_03_namespaces_from_siteinfo_prefixes_and_localized_redirect_words(
        shared_data, tmp_path, dbname, num_pages):
    modern = first_pages(shared_data, dbname, num_pages)
    old = as_schema_03(modern)
    old_pages, modern_pages = etree_pages(old), etree_pages(modern)
    assert {p["ns"] for p in old_pages} == {None} and not any(p["redirect"] for p in old_pages)
    docs, skips = read(write(tmp_path, "old.xml", old))
    # Same outcome as the modern dump, whose <ns> and <redirect> say what each page is.
    assert skips["wiki_redirect"] == sum(p["redirect"] for p in modern_pages)
    other = Counter(p["ns"] for p in modern_pages if p["ns"] != 0 and not p["redirect"])
    assert {int(r.rpartition("_")[2]): n for r, n in skips.items() if r.startswith("wiki_namespace_")} == other
    modern_docs, modern_skips = read(write(tmp_path, "modern.xml", modern))
    assert [(d["meta"], d["text"]) for d in docs] == [(d["meta"], d["text"]) for d in modern_docs]
    assert skips == modern_skips


def test_real_redirects_use_localized_magic_words(shared_data):
    # Independent of the reader: the first word of each <redirect> page's text, per wiki.
    words = {}
    for dbname, num_pages in (("mrwiki", 400), ("viwiki", 300), ("ukwiki", 60)):
        pages = etree_pages(first_pages(shared_data, dbname, num_pages))
        words[dbname] = {re.match(r"\s*(#\S+)", p["texts"][-1]).group(1).upper() for p in pages if p["redirect"]}
    assert "#पुनर्निर्देशन" in words["mrwiki"] and "#ĐỔI" in words["viwiki"]
    assert "#ПЕРЕНАПРАВЛЕННЯ" in words["ukwiki"]


def hand_dump(pages: str, *, siteinfo: str = "", version: str = "0.11") -> bytes:
    return (f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-{version}/" version="{version}" '
            f'xml:lang="en">{siteinfo}{pages}</mediawiki>').encode()


def page(title: str, text: str, *, ns: int | None = 0, extra: str = "", page_id: int = 1) -> str:
    ns_tag = f"<ns>{ns}</ns>" if ns is not None else ""
    return (f"<page><title>{title}</title>{ns_tag}<id>{page_id}</id>{extra}<revision><id>{page_id}0</id>"
            f"<timestamp>2024-01-01T00:00:00Z</timestamp><model>wikitext</model><format>text/x-wiki</format>"
            f'<text xml:space="preserve">{text}</text></revision></page>')


def test_redirect_words_without_redirect_element_and_lists_that_are_not_redirects(tmp_path):
    pages = "".join([
        page("Paris (ville)", "#REDIRECTION [[Paris]]", page_id=1),
        page("Kyiv", "#ПЕРЕНАПРАВЛЕННЯ [[Київ]]\n{{R from move}}", page_id=2),
        page("Berlín", "#REDIRECCIÓN:[[Berlin]]", page_id=3),
        page("Lists", "# [[Paris]] is first.\n#Second item", page_id=4),
        page("Broken", "#REDIRECT", page_id=5),
    ])
    docs, skips = read(write(tmp_path, "r.xml", hand_dump(pages, version="0.3")))
    assert [(d["meta"]["title"], d["text"]) for d in docs] == [("Lists", "Paris is first.\nSecond item")]
    assert dict(skips) == {"wiki_redirect": 4}


def test_title_prefix_namespaces_without_siteinfo_use_canonical_names(tmp_path):
    pages = "".join([page("Category:Physics", "Physics.", ns=None, page_id=1),
                     page("Talk:Physics", "Talk.", ns=None, page_id=2),
                     page("Star Wars: A New Hope", "A film.", ns=None, page_id=3)])
    docs, skips = read(write(tmp_path, "n.xml", hand_dump(pages, version="0.3")))
    assert [(d["meta"]["title"], d["meta"]["namespace"]) for d in docs] == [("Star Wars: A New Hope", 0)]
    assert dict(skips) == {"wiki_namespace_14": 1, "wiki_namespace_1": 1}


# -- revisions and text states -----------------------------------------------------------------

def revision(rev_id: int, timestamp: str, text: str | None, *, text_attrs: str = "") -> str:
    body = f"<text{text_attrs} />" if text is None else f'<text xml:space="preserve"{text_attrs}>{text}</text>'
    return (f"<revision><id>{rev_id}</id><parentid>{rev_id - 1}</parentid><timestamp>{timestamp}</timestamp>"
            f"<contributor><username>X</username><id>99</id></contributor><comment>c</comment>"
            f"<model>wikitext</model><format>text/x-wiki</format>{body}<sha1>x</sha1></revision>")


def history_page(title: str, page_id: int, revisions: list[str]) -> str:
    return f"<page><title>{title}</title><ns>0</ns><id>{page_id}</id>{''.join(revisions)}</page>"


def test_history_pages_take_the_newest_revision_in_either_order(tmp_path):
    old = revision(11, "2020-01-01T00:00:00Z", "Old '''text'''.")
    middle = revision(12, "2021-06-01T00:00:00Z", "Middle text.")
    new = revision(13, "2023-03-03T12:00:00Z", "New text with a [[link|Link]].")
    hidden = revision(14, "2024-01-01T00:00:00Z", None, text_attrs=' deleted="deleted"')
    pages = (history_page("Ascending", 1, [old, middle, new])
             + history_page("Descending", 2, [new, middle, old])  # Special:Export dir=desc
             + history_page("Hidden newest", 3, [old, new, hidden]))
    docs, skips = read(write(tmp_path, "history.xml", hand_dump(pages)))
    assert [(d["meta"]["title"], d["text"], d["meta"]["revision_id"], d["meta"]["timestamp"]) for d in docs] == [
        ("Ascending", "New text with a Link.", 13, "2023-03-03T12:00:00Z"),
        ("Descending", "New text with a Link.", 13, "2023-03-03T12:00:00Z"),
    ]
    # The newest text is hidden: counted, never replaced by an older, superseded text.
    assert dict(skips) == {"wiki_text_deleted": 1}


def test_real_page_as_history_page_with_older_revisions_of_other_pages(shared_data, tmp_path):
    xml = first_pages(shared_data, "ukwiki", 40)
    pages = etree_pages(xml)
    reference, _ = read(write(tmp_path, "ref.xml", xml))
    target = reference[3]  # a real article; its real text becomes the newest of three revisions
    texts = [p["texts"][-1] for p in pages if p["title"] == target["meta"]["title"]]
    assert len(texts) == 1
    olders = [reference[1]["meta"]["title"], reference[2]["meta"]["title"]]
    older_texts = [next(p["texts"][-1] for p in pages if p["title"] == t) for t in olders]
    escape = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    revisions = [revision(1, "2010-01-01T00:00:00Z", escape(older_texts[0])),
                 revision(2, "2015-01-01T00:00:00Z", escape(older_texts[1])),
                 revision(3, "2022-01-01T00:00:00Z", escape(texts[0]))]
    head = xml[: xml.index(b"<page>")].decode()
    dump = (head + history_page(target["meta"]["title"], target["meta"]["page_id"], revisions) + "</mediawiki>").encode()
    docs, skips = read(write(tmp_path, "h.xml", dump))
    assert [d["text"] for d in docs] == [target["text"]] and dict(skips) == {}


def test_text_states_are_counted_with_their_own_reasons(tmp_path):
    pages = "".join([
        history_page("Deleted", 1, [revision(1, "2020-01-01T00:00:00Z", None, text_attrs=' deleted="deleted"')]),
        history_page("Empty self-closing", 2, [revision(2, "2020-01-01T00:00:00Z", None, text_attrs=' bytes="0"')]),
        history_page("Empty", 3, [revision(3, "2020-01-01T00:00:00Z", "")]),
        history_page("Stub", 4, [revision(4, "2020-01-01T00:00:00Z", None, text_attrs=' bytes="5120" id="77"')]),
        history_page("No revision", 5, []),
        history_page("Real", 6, [revision(6, "2020-01-01T00:00:00Z", "Text.", text_attrs=' bytes="5"')]),
    ])
    docs, skips = read(write(tmp_path, "states.xml", hand_dump(pages)))
    assert [d["text"] for d in docs] == ["Text."]
    assert dict(skips) == {"wiki_text_deleted": 1, "wiki_empty": 2, "wiki_text_not_in_dump": 1,
                           "wiki_no_revision": 1}


def test_a_stub_dump_is_refused_with_the_fix(shared_data, tmp_path):
    xml = first_pages(shared_data, "hywiki", 60).decode()
    # stub-articles: the same pages with <text bytes="N" id="M" /> and no content.
    stub = re.sub(r'<text bytes="(\d+)"[^>]*?(?:/>|>.*?</text>)', r'<text bytes="\1" id="5" />', xml, flags=re.S)
    assert stub.count('id="5" />') == 60
    with pytest.raises(ValueError, match="stub dump.*pages-articles"):
        read(write(tmp_path, "hywiki-stub-articles.xml", stub.encode()))


def test_extra_elements_are_ignored_and_other_slots_never_read(tmp_path):
    extra = ("<restrictions>edit=sysop:move=sysop</restrictions>"
             "<foo><text>not the page</text><title>Not the title</title></foo>")
    rev = ("<revision><id>5</id><timestamp>2020-01-01T00:00:00Z</timestamp><contributor deleted=\"deleted\" />"
           "<comment deleted=\"deleted\" /><origin>5</origin><model>wikitext</model><format>text/x-wiki</format>"
           '<text bytes="11" sha1="x" xml:space="preserve">Main slot.</text><sha1>x</sha1>'
           "<content><role>mediainfo</role><origin>5</origin><model>wikibase-mediainfo</model>"
           "<format>application/json</format><text bytes=\"2\">{}</text></content></revision>")
    upload = ("<upload><timestamp>2030-01-01T00:00:00Z</timestamp><contributor><ip>1.2.3.4</ip></contributor>"
              "<filename>X.png</filename><src>x</src><size>3</size></upload>")
    logitem = ("<logitem><id>1</id><timestamp>2031-01-01T00:00:00Z</timestamp><type>t</type><action>a</action>"
               "<text>log text</text></logitem>")
    threading = ("<discussionthreadinginfo><ThreadSubject>S</ThreadSubject><ThreadParent>1</ThreadParent>"
                 "<ThreadAncestor>1</ThreadAncestor><ThreadPage>P</ThreadPage><ThreadID>1</ThreadID>"
                 "<ThreadAuthor>A</ThreadAuthor><ThreadEditStatus>x</ThreadEditStatus><ThreadType>n</ThreadType>"
                 "</discussionthreadinginfo>")
    dump = hand_dump(f"<page><title>Slots</title><ns>0</ns><id>9</id>{extra}{rev}{upload}{logitem}"
                     f"<unknown attr=\"1\"><revision><text>nested</text></revision></unknown>{threading}</page>")
    docs, skips = read(write(tmp_path, "extra.xml", dump))
    assert [(d["meta"]["title"], d["text"], d["meta"]["revision_id"], d["meta"]["timestamp"]) for d in docs] == [
        ("Slots", "Main slot.", 5, "2020-01-01T00:00:00Z")]
    assert dict(skips) == {}


# -- XML namespaces ---------------------------------------------------------------------------

def prefixed(xml: bytes) -> bytes:
    """Every element written with an `mw:` prefix: a namespace-aware writer's output."""
    xml = xml.replace(b'xmlns="http://www.mediawiki.org/xml/export-0.10/"', b'xmlns:mw="http://www.mediawiki.org/xml/export-0.10/"')
    return re.sub(rb"<(/?)([A-Za-z][\w.-]*)(?=[\s/>])", rb"<\1mw:\2", xml)


@pytest.mark.parametrize("variant", ["0.11", "0.8", "0.4", "prefixed"])
def test_other_export_namespaces(shared_data, tmp_path, variant):
    xml = first_pages(shared_data, "hywiki", 80)
    if variant == "prefixed":
        other = prefixed(xml)
        assert other.count(b"<mw:page>") == 80
    else:
        other = xml.replace(b"export-0.10", f"export-{variant}".encode()).replace(b'version="0.10"', f'version="{variant}"'.encode())
    assert len(etree_pages(other)) == 80
    reference, reference_skips = read(write(tmp_path, "ref.xml", xml))
    docs, skips = read(write(tmp_path, "other.xml", other))
    assert [(d["meta"], d["text"]) for d in docs] == [(d["meta"], d["text"]) for d in reference]
    assert skips == reference_skips and accounted(docs, skips) == 80


# -- localized namespaces in links --------------------------------------------------------------

GERMAN_SITEINFO = ("<siteinfo><sitename>Wikipedia</sitename><dbname>dewiki</dbname>"
                   "<base>https://de.wikipedia.org/wiki/Wikipedia:Hauptseite</base><namespaces>"
                   '<namespace key="-2" case="first-letter">Medium</namespace>'
                   '<namespace key="0" case="first-letter" />'
                   '<namespace key="6" case="first-letter">Datei</namespace>'
                   '<namespace key="10" case="first-letter">Vorlage</namespace>'
                   '<namespace key="14" case="first-letter">Kategorie</namespace>'
                   "</namespaces></siteinfo>")


def test_localized_category_and_file_links_are_stripped(tmp_path):
    text = ("'''Physik''' ist eine [[Naturwissenschaft]].\n"
            "[[Datei:Aufbau|mini|Ein Bildtext]]\n"
            "Siehe [[:Kategorie:Physiker|alle Physiker]].\n"
            "[[Kategorie:Physik| ]]\n[[kategorie:Wissenschaft]]\n[[Kategorie_:Fach]]\n[[Category:Physics]]\n"
            "[[Medium:Klang]] [[en:Physics]]")
    docs, skips = read(write(tmp_path, "de.xml", hand_dump(page("Physik", text), siteinfo=GERMAN_SITEINFO)))
    assert [d["text"] for d in docs] == ["Physik ist eine Naturwissenschaft.\n\nSiehe alle Physiker."]
    assert docs[0]["url"] == "https://de.wikipedia.org/wiki/Physik" and docs[0]["meta"]["language"] == "de"
    # The same page in a dump without <siteinfo>: only the canonical names are known.
    docs_bare, _ = read(write(tmp_path, "bare.xml", hand_dump(page("Physik", text))))
    assert "kategorie:Wissenschaft" in docs_bare[0]["text"] and "Medium:Klang" in docs_bare[0]["text"]


def test_namespace_aliases_option(tmp_path):
    # "Зображення" is an alias of ukwiki's File namespace; a dump's <siteinfo> lists only "Файл".
    text = "Text.\n[[Зображення:Мапа|thumb|Підпис]]\n[[Зображення:Мапа]]\n[[Категорія:Фізика]]"
    siteinfo = GERMAN_SITEINFO.replace("Datei", "Файл").replace("Kategorie", "Категорія").replace("dewiki", "ukwiki")
    path = write(tmp_path, "uk.xml", hand_dump(page("Фізика", text), siteinfo=siteinfo))
    docs, _ = read(path)
    # Its "thumb" option gives the first away; the bare one reads as a link to a page "Зображення:Мапа".
    assert docs[0]["text"] == "Text.\n\nЗображення:Мапа"
    docs, _ = read(path, namespace_aliases={"Зображення": 6})
    assert docs[0]["text"] == "Text."
    # An old dump without <ns>: a page titled with the alias is in namespace 6.
    page_in_alias = page("Зображення:Мапа", "Опис.", ns=None, page_id=2)
    docs, skips = read(write(tmp_path, "uk-old.xml", hand_dump(page_in_alias, siteinfo=siteinfo, version="0.5")),
                       namespace_aliases={"Зображення": 6})
    assert docs == [] and dict(skips) == {"wiki_namespace_6": 1}


# -- disambiguation -----------------------------------------------------------------------------

def test_disambiguation_pages_are_flagged_and_optionally_skipped(tmp_path):
    pages = "".join([
        page("Mercury", "'''Mercury''' may refer to:\n* [[Mercury (planet)]]\n{{disambiguation}}", page_id=1),
        page("Merkur", "'''Merkur''' steht für:\n* [[Merkur (Planet)]]\n__DISAMBIG__", page_id=2),
        page("Sao Thủy", "'''Sao Thủy''' có thể là:\n* [[Sao Thủy (hành tinh)]]\n{{Trang_định hướng}}", page_id=3),
        page("Planet", "A planet orbits a star. {{Disambiguation needed}}", page_id=4),
    ])
    path = write(tmp_path, "d.xml", hand_dump(pages))
    docs, _ = read(path)
    assert [(d["meta"]["title"], d["meta"].get("disambiguation", False)) for d in docs] == [
        ("Mercury", True), ("Merkur", True), ("Sao Thủy", False), ("Planet", False)]
    assert docs[0]["text"] == "Mercury may refer to:\nMercury (planet)"
    docs, skips = read(path, skip_disambiguation=True,
                       disambiguation_templates=("disambiguation", "trang định hướng"))
    assert [d["meta"]["title"] for d in docs] == ["Planet"] and dict(skips) == {"wiki_disambiguation": 3}


def test_disambiguation_count_on_real_ukwiki(shared_data, tmp_path):
    xml = first_pages(shared_data, "ukwiki", 150)
    pages = etree_pages(xml)
    # Independent: articles whose text has a {{dab}}/{{disambig...}} template or __DISAMBIG__.
    marker = re.compile(r"\{\{\s*(?:dab|disambig\w*|disamb)\s*[|}]|__DISAMBIG__", re.IGNORECASE)
    expected = [p["title"] for p in pages if p["ns"] == 0 and not p["redirect"] and marker.search(p["texts"][-1])]
    assert expected == ["Ядро", "Морфологія", "Oracle"]
    path = write(tmp_path, "uk.xml", xml)
    docs, skips = read(path)
    assert [d["meta"]["title"] for d in docs if d["meta"].get("disambiguation")] == expected
    kept, kept_skips = read(path, skip_disambiguation=True)
    assert len(kept) == len(docs) - 3 and kept_skips["wiki_disambiguation"] == 3


# -- inputs that are not dumps ------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("page.xml.bz2", bz2.compress(b"<!DOCTYPE html><html><body>404 Not Found</body></html>"), "root element is <html>"),
    ("junk.xml", b"\x00\x01binary junk that is no XML", "not a MediaWiki XML dump"),
    ("dump.xml.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 64, r"7z x -so"),
    ("dump.zip", b"PK\x03\x04" + b"\x00" * 64, r"\.zip archive"),
], ids=["html-error-page", "binary-junk", "7z", "zip"])
def test_inputs_that_are_no_dump_raise_naming_the_fix(tmp_path, name, data, message):
    with pytest.raises(ValueError, match=message):
        read(write(tmp_path, name, data))


def test_empty_file_is_one_truncated_dump(tmp_path):
    docs, skips = read(write(tmp_path, "empty.xml.bz2", b""))
    assert docs == [] and dict(skips) == {"error:truncated_dump": 1}
