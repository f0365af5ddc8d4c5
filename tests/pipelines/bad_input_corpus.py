"""Writes the bad-input corpus: 36 damaged, hostile or mislabelled inputs, made from the real files in
../shared/data where a real file fits, plus the well-formed references their expected counts come
from. Nothing here is committed: `python tests/pipelines/bad_input_corpus.py OUT_DIR` (or the test)
writes it into a temporary folder in a few seconds.

Each Case names the input (one extract task), the documents expected to come through and the
reason codes expected in that task's stats. Expected counts come from somewhere other than the
reader under test: the construction itself (N good lines written), an independent decoder run
over the damaged bytes (zlib / bz2 / lzma / zstandard counting complete lines), a regex over the
XML, or a well-formed reference file holding exactly the records that should survive, read in the
same build.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import struct
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

MB = 1_000_000


@dataclass
class Case:
    name: str
    source: str  # the recipe source holding the input
    path: Path  # the input (a file, or a directory/archive for code)
    expected_docs: int | None  # None: resolved after the build from a reference (see `reference`)
    reasons: dict[str, int] = field(default_factory=dict)  # reason codes that must be counted
    bad_input: bool = False  # not of the kind at all: listed under bad_inputs
    reference: str | None = None  # name of a reference input whose documents should come through
    texts: list[str] | None = None  # the exact texts expected (when known by construction)
    note: str = ""


def _paragraphs(shared: Path, n: int) -> list[str]:
    text = (shared / "books/gitenberg/pg11563_11563-8.txt").read_bytes().decode("latin-1")
    paras = [" ".join(p.split()) for p in text.split("\r\n\r\n") if len(p.split()) > 20]
    return paras[:n]


def _complete_lines(decompressor, data: bytes, flush=None) -> int:
    """Complete lines an independent decoder recovers from damaged compressed bytes."""
    out = b""
    try:
        out = decompressor.decompress(data)
    except Exception:  # noqa: BLE001 - damaged: whatever came out before counts
        pass
    return out.count(b"\n")


def gzip_bomb(prefix: bytes, unit: bytes, repeats: int, suffix: bytes) -> bytes:
    """One gzip member of prefix + unit * repeats + suffix, made in the time it takes to compress
    `unit` once: full flushes cut the deflate stream where no back-reference crosses, so the
    compressed unit can simply repeat; the header and trailer (CRC-32, size) are written here."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(unit) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(suffix) + deflate.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(repeats):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + len(unit) * repeats + len(suffix)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no mtime, max compression
    return header + head + body * repeats + tail + struct.pack("<II", crc, size & 0xFFFFFFFF)


def jsonl_gzip_bomb(shared: Path, bomb_bytes: int = 1 << 30) -> tuple[bytes, int]:
    """(a .jsonl.gz, records before the bomb): the real CC JSONL member dolma_cc_en_head-0091 as it
    is, then one gzip member holding a single `bomb_bytes` JSON line (a real paragraph repeated;
    ~250:1), then the real member dolma_cc_en_head-0174."""
    folder = shared / "web/cc-text-jsonl"
    before = (folder / "dolma_cc_en_head-0091.jsonl.gz").read_bytes()
    after = (folder / "dolma_cc_en_head-0174.jsonl.gz").read_bytes()
    paragraph = json.dumps(_paragraphs(shared, 1)[0] + " ")[1:-1].encode()
    unit = paragraph * ((64 << 20) // len(paragraph))
    bomb = gzip_bomb(b'{"text": "', unit, bomb_bytes // len(unit), b'"}\n')
    return before + bomb + after, gzip.decompress(before).count(b"\n")


def _jsonl_cases(shared: Path, root: Path) -> list[Case]:
    folder = root / "jl"
    folder.mkdir()
    good = _paragraphs(shared, 6)
    cases = []
    lines = [json.dumps({"text": t}) for t in good[:3]] + ['{"text": "unterminated'] + [json.dumps({"text": t}) for t in good[3:]]
    (folder / "invalid-line.jsonl").write_text("\n".join(lines) + "\n")
    cases.append(Case("JSONL line of invalid JSON between good ones", "jl", folder / "invalid-line.jsonl", 6,
                      {"error:bad_json": 1}, texts=good))

    plain = b"".join(gzip.decompress((shared / "web/cc-text-jsonl" / name).read_bytes())
                     for name in ("dolma_cc_en_head-0091.jsonl.gz", "dolma_cc_en_head-0174.jsonl.gz"))
    codecs = {
        "gz": (lambda b: gzip.compress(b, 6), lambda: zlib.decompressobj(wbits=47)),
        "bz2": (lambda b: bz2.compress(b, 1), bz2.BZ2Decompressor),
        "xz": (lambda b: lzma.compress(b), lzma.LZMADecompressor),
        "zst": (lambda b: zstandard.ZstdCompressor(level=3).compress(b),
                lambda: zstandard.ZstdDecompressor().decompressobj()),
    }
    for suffix, (compress, decompressor) in codecs.items():
        packed = compress(plain)
        cut = packed[: len(packed) * 6 // 10]
        path = folder / f"truncated.jsonl.{suffix}"
        path.write_bytes(cut)
        cases.append(Case(f"truncated {suffix} (real CC JSONL cut at 60%)", "jl", path,
                          _complete_lines(decompressor(), cut), {"error:truncated": 1}))

    bad_utf8 = [json.dumps({"text": t}, ensure_ascii=False).encode() for t in ["café au lait " * 5, good[0], good[1]]]
    bad_utf8[0] = bad_utf8[0].replace("é".encode(), b"\xe9", 1)  # a Latin-1 byte in a UTF-8 file
    (folder / "non-utf8.jsonl").write_bytes(b"\n".join(bad_utf8) + b"\n")
    cases.append(Case("non-UTF-8 byte inside a UTF-8 JSONL record", "jl", folder / "non-utf8.jsonl", 3,
                      note="the bad byte becomes U+FFFD; the record and its neighbours are kept"))

    (folder / "zero.jsonl").write_bytes(b"")
    cases.append(Case("zero-length JSONL file", "jl", folder / "zero.jsonl", 0, {"empty_file": 1}))
    (folder / "blank.jsonl").write_bytes(b"\n \n\t\n")
    cases.append(Case("empty JSONL file (blank lines only)", "jl", folder / "blank.jsonl", 0))

    with open(folder / "huge-line.jsonl", "w") as handle:
        handle.write(json.dumps({"text": good[0]}) + "\n")
        handle.write('{"text": "' + ("word " * (100 * MB // 5)) + '"}\n')
        handle.write(json.dumps({"text": good[1]}) + "\n")
    cases.append(Case("100 MB single-line document between two good ones", "jl", folder / "huge-line.jsonl", 2,
                      {"record_too_large": 1}, texts=[good[0], good[1]]))

    bomb, num_before = jsonl_gzip_bomb(shared)
    (folder / "gzip-bomb.jsonl.gz").write_bytes(bomb)
    cases.append(Case(f"gzip bomb in JSONL (a 1 GiB line in {len(bomb) // 1000:,} kB, between real CC members)", "jl",
                      folder / "gzip-bomb.jsonl.gz", num_before, {"error:decompression_bomb": 1},
                      note="reading stops past 100 plain bytes per compressed byte: the records before "
                      "the bomb are kept, the member after it is the counted loss"))
    return cases


def _warc_bytes(records: list[tuple[str, str, bytes]]) -> bytes:
    """An uncompressed WARC of response records (uri, content type, payload), written by warcio."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    for uri, content_type, payload in records:
        headers = StatusAndHeaders("200 OK", [("Content-Type", content_type),
                                              ("Content-Length", str(len(payload)))], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(uri, "response", payload=io.BytesIO(payload),
                                                      http_headers=headers))
    return out.getvalue()


def _gzip_members(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each gzip member, found with zlib (not the reader's WARC library)."""
    members, start = [], 0
    while start < len(data):
        decompressor = zlib.decompressobj(wbits=31)
        decompressor.decompress(data[start:])
        end = len(data) - len(decompressor.unused_data)
        members.append((start, end))
        start = end
    return members


def _web_cases(shared: Path, root: Path) -> list[Case]:
    folder, refs = root / "web", root / "webref"
    folder.mkdir()
    refs.mkdir()
    cases = []
    real = (shared / "web/warc-real/dolma_sample-0000.warc.gz").read_bytes()
    members = _gzip_members(real)
    cut = real[: len(real) // 2]
    (folder / "truncated-gzip.warc.gz").write_bytes(cut)
    complete = [start for start, end in members if end <= len(cut)]
    (refs / "truncated-gzip-reference.warc.gz").write_bytes(real)
    cases.append(Case("truncated gzip WARC (real wget crawl cut at 50%)", "web", folder / "truncated-gzip.warc.gz",
                      None, {"error:clipped_record": 1}, reference="truncated-gzip-reference.warc.gz",
                      note=f"documents of the {len(complete)} gzip members before the cut (zlib walk)"))
    # Expected: reference documents whose record starts at one of those members.
    cases[-1].reference_offsets = complete  # type: ignore[attr-defined]

    clipped = shared / "web/warc-real/resiliparse_clipped.warc.gz"
    (folder / "clipped.warc.gz").write_bytes(clipped.read_bytes())
    cases.append(Case("clipped WARC record (real, Content-Length 88,275, less data)", "web",
                      folder / "clipped.warc.gz", 0, {"error:clipped_record": 1}))

    page = gzip.decompress((shared / "web/cc-whirlwind/cc-whirlwind.warc.gz").read_bytes())
    html = page[page.index(b"<!DOCTYPE"):page.rindex(b"</html>") + 7] if b"<!DOCTYPE" in page else page[page.index(b"<html"):page.rindex(b"</html>") + 7]
    ok1 = ("http://one.invalid/", "text/html", html)
    ok2 = ("http://two.invalid/", "text/html", html.replace(b"Escopete", b"Escopeta"))
    data = _warc_bytes([ok1, ("http://liar.invalid/", "text/html", html), ok2])
    marker = b"WARC-Target-URI: http://liar.invalid/"
    at = data.index(marker)
    length = re.compile(rb"Content-Length: (\d+)\r\n")
    match = length.search(data, at)
    lie = str(int(match.group(1)) + 4096).encode()  # says 4 KiB more than the record holds
    data = data[:match.start(1)] + lie + data[match.end(1):]
    (folder / "lying-length.warc").write_bytes(data)
    cases.append(Case("WARC record whose Content-Length lies (4 KiB too long)", "web", folder / "lying-length.warc",
                      3, {"error:corrupt_stream": 1},
                      note="the liar's document carries 4 KiB of the next record's bytes, counted "
                      "error:corrupt_stream; both honest neighbours come through intact"))

    png = (b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    (folder / "not-html.warc").write_bytes(_warc_bytes([("http://png.invalid/", "text/html", png), ok1,
                                                        ("http://pdf.invalid/", "text/html; charset=utf-8", pdf)]))
    cases.append(Case("non-HTML payloads (PNG, PDF) labelled text/html", "web", folder / "not-html.warc", 1,
                      {"content_not_html": 2}))

    deep = b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"
    (folder / "deep.warc").write_bytes(_warc_bytes([ok1, ("http://deep.invalid/", "text/html", deep)]))
    cases.append(Case("HTML nested 100,000 levels deep", "web", folder / "deep.warc", 1, {"html_too_deep": 1}))

    big = b"<html><body><p>" + b"word " * (100 * MB // 5) + b"</p></body></html>"
    (folder / "huge-page.warc").write_bytes(_warc_bytes([ok1, ("http://huge.invalid/", "text/html", big)]))
    cases.append(Case("100 MB single-line HTML page", "web", folder / "huge-page.warc", 1, {"payload_too_large": 1}))

    book = (shared / "books/gitenberg/pg11563_11563-8.txt").read_bytes()
    (folder / "b-plain-text.warc.gz").write_bytes(book[:20_000])
    cases.append(Case("plain text named .warc.gz (wrong kind)", "web", folder / "b-plain-text.warc.gz", 0,
                      bad_input=True))
    (folder / "zero.warc.gz").write_bytes(b"")
    cases.append(Case("zero-length .warc.gz", "web", folder / "zero.warc.gz", 0, {"error:empty_file": 1}))
    (folder / "empty-member.warc.gz").write_bytes(gzip.compress(b""))
    cases.append(Case("gzip member of nothing (.warc.gz)", "web", folder / "empty-member.warc.gz", 0,
                      {"error:empty_file": 1}))
    return cases


def _wiki_cases(shared: Path, root: Path) -> list[Case]:
    folder, refs = root / "wiki", root / "wikiref"
    folder.mkdir()
    refs.mkdir()
    xml = bz2.decompress((shared / "wikipedia/repaired/hywiki-truncated-100k.repaired.xml.bz2").read_bytes())
    # The siteinfo, then real pages 300-359 (articles; the dump's first pages are MediaWiki: ones).
    siteinfo = xml[: xml.index(b"<page>")]
    all_ends = [m.end() for m in re.finditer(rb"</page>", xml)]
    xml = siteinfo + xml[all_ends[299]:all_ends[359]]
    ends = [m.end() for m in re.finditer(rb"</page>", xml)]
    head = xml
    cases = []

    def articles(prefix: bytes) -> int:  # complete main-namespace, non-redirect pages (regex count)
        pages = re.findall(rb"<page>.*?</page>", prefix, flags=re.S)
        return sum(1 for p in pages if b"<ns>0</ns>" in p and b"<redirect" not in p)

    # Cut inside a page's text, in the middle of a two-byte Armenian character; and mid-page.
    text_start = xml.index(b"<text", ends[39])
    mid_char = next(i for i in range(text_start, ends[59]) if xml[i] >= 0xC0) + 1
    mid_page = xml.index(b"<revision>", ends[39]) + 5
    for name, cut_at, what in (("cut-mid-character.xml", mid_char, "mid-character"),
                               ("cut-mid-page.xml", mid_page, "mid-page")):
        complete = [end for end in ends if end <= cut_at]
        reference = xml[: complete[-1]] + b"\n</mediawiki>\n"
        ref_name = f"{name[:-4]}-reference.xml"
        (refs / ref_name).write_bytes(reference)
        (folder / name).write_bytes(xml[:cut_at])
        cases.append(Case(f"dump cut {what} (real hywiki)", "wiki", folder / name, None,
                          {"error:truncated_dump": 1}, reference=ref_name,
                          note=f"{articles(reference)} articles in the {len(complete)} complete pages (regex)"))

    packed = bz2.compress(head + b"\n</mediawiki>\n", 1)  # 100 kB blocks: several streams' worth
    cut = packed[: len(packed) * 7 // 10]
    recovered = b""
    try:
        recovered = bz2.BZ2Decompressor().decompress(cut)
    except (OSError, EOFError):
        pass
    (folder / "truncated.xml.bz2").write_bytes(cut)
    complete_pages = recovered.count(b"</page>")
    (refs / "bz2-complete-pages.xml").write_bytes(head[: ends[complete_pages - 1]] + b"\n</mediawiki>\n")
    cases.append(Case("truncated bz2 dump (real hywiki, cut at 70%)", "wiki", folder / "truncated.xml.bz2", None,
                      {}, reference="bz2-complete-pages.xml",
                      note=f"{complete_pages} pages recovered by an independent bz2 decoder"))
    (folder / "b-notes.xml").write_bytes(b'{"this": "is JSON, not a MediaWiki dump"}\n')
    cases.append(Case("non-XML file among the dumps (wrong kind)", "wiki", folder / "b-notes.xml", 0, bad_input=True))
    return cases


def _py_files(n: int) -> dict[str, bytes]:
    """Real source files from the Python standard library."""
    import email

    folder = Path(email.__file__).parent
    files = sorted(p for p in folder.glob("*.py") if 2_000 < p.stat().st_size < 50_000)[:n]
    return {p.name: p.read_bytes() for p in files}


def _code_cases(root: Path) -> list[Case]:
    cases = []
    good = _py_files(3)

    def tree(name: str) -> Path:
        path = root / "code" / name
        path.mkdir(parents=True)
        for file_name, data in good.items():
            (path / file_name).write_bytes(data)
        return path

    binary = tree("binary-in-tree")
    (binary / "blob.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + os.urandom(4000))
    (binary / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    cases.append(Case("binary file in a code tree (.py holding PNG bytes, and a .png)", "code", binary, 3))

    members = {**good, "../escape.py": b"print('outside')\n", "/etc/absolute.py": b"print('abs')\n"}
    tar_path = root / "code" / "traversal.tar"
    with tarfile.open(tar_path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    cases.append(Case("tar with ../ and absolute member paths", "code", tar_path, 3, {"code_unsafe_path": 2}))
    zip_path = root / "code" / "traversal.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    cases.append(Case("zip with ../ and absolute member paths", "code", zip_path, 3, {"code_unsafe_path": 2}))

    bomb = root / "code" / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in good.items():
            archive.writestr(name, data)
        archive.writestr("bomb.py", b"#" * (200 * MB))  # ~200 kB compressed: ratio ~1000:1
    cases.append(Case("zip bomb (200 MB member at ~1000:1)", "code", bomb, 3, {"code_too_large": 1}))

    loop = tree("symlink-loop")
    os.symlink("b.py", loop / "a.py")
    os.symlink("a.py", loop / "b.py")
    os.symlink(".", loop / "self")
    cases.append(Case("symlink loop in a code tree", "code", loop, 3, {"code_link": 3}))
    outside = tree("symlink-outside")
    os.symlink("/etc/passwd", outside / "passwd.py")
    os.symlink("/etc", outside / "etc")
    cases.append(Case("symlinks pointing outside the input tree", "code", outside, 3, {"code_unsafe_path": 2}))

    long_line = tree("huge-line")
    with open(long_line / "generated.py", "w") as handle:
        handle.write("x = '" + "a" * (100 * MB) + "'\n")
    cases.append(Case("100 MB single-line source file", "code", long_line, 3, {"code_too_large": 1}))
    return cases


def _book_cases(shared: Path, root: Path) -> list[Case]:
    folder = root / "books"
    folder.mkdir()
    cases = []
    real = shared / "books/gitenberg/pg11563_11563-8.txt"
    (folder / "real.txt").write_bytes(real.read_bytes())
    cases.append(Case("a real book next to the damaged ones (control)", "books", folder / "real.txt", 1))
    utf8 = real.read_bytes().decode("latin-1").encode("utf-8")
    broken = utf8[:5000] + b"\xff\xfe" + utf8[5000:]
    (folder / "non-utf8.txt").write_bytes(broken)
    cases.append(Case("non-UTF-8 bytes in a UTF-8 book", "books", folder / "non-utf8.txt", 1,
                      note="kept with U+FFFD, meta num_replaced_bytes"))
    with open(folder / "huge-line.txt", "w") as handle:
        handle.write("word " * (100 * MB // 5))
    cases.append(Case("100 MB single-line book", "books", folder / "huge-line.txt", 0, {"books_too_large": 1}))
    # (A 60 MB one-line book under a 10 s extraction timeout was a case here; whether it times out or
    # finishes as books_empty depends on the machine's speed, so the timeout is tested where the
    # work is fixed: tests/pipelines/test_document_limits.py.)
    bomb = folder / "99999-8.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("99999-8.txt", b"a " * (100 * MB))
    cases.append(Case("zip bomb book (200 MB member)", "books", bomb, 0, {"books_too_large": 1}))
    (folder / "zero.txt").write_bytes(b"")
    cases.append(Case("zero-length book", "books", folder / "zero.txt", 0, {"books_empty": 1}))
    outside = root / "outside-the-tree.txt"
    outside.write_bytes(real.read_bytes())
    os.symlink(outside, folder / "link-out.txt")
    os.symlink(".", folder / "loop")
    cases.append(Case("symlink out of a books folder, and a loop", "books", folder / "link-out.txt", None,
                      note="not an input at all: the folder lists no file through a link out of it"))
    return cases


def make_corpus(shared: Path, root: Path) -> tuple[dict, list[Case]]:
    """Write every case under `root`; return the recipe (a dict) that reads them all, and the cases."""
    root.mkdir(parents=True, exist_ok=True)
    cases = (_jsonl_cases(shared, root) + _web_cases(shared, root) + _wiki_cases(shared, root)
             + _code_cases(root) + _book_cases(shared, root))
    code_paths = sorted(str(c.path) for c in cases if c.source == "code")
    recipe = {
        "run_dir": str(root / "run"),
        "sources": [
            {"name": "jl", "kind": "jsonl", "paths": [str(root / "jl")]},
            {"name": "web", "kind": "commoncrawl", "paths": [str(root / "web")]},
            {"name": "webref", "kind": "commoncrawl", "paths": [str(root / "webref")]},
            {"name": "wiki", "kind": "wikipedia", "paths": [str(root / "wiki")]},
            {"name": "wikiref", "kind": "wikipedia", "paths": [str(root / "wikiref")]},
            {"name": "code", "kind": "code", "paths": code_paths},
            {"name": "books", "kind": "books", "paths": [str(root / "books")]},
        ],
        # One wrong-kind file per source is skipped and listed; the slow book is cut at 10 s.
        "runner": {"num_cpus": 2, "max_bad_inputs": 1, "extract_timeout_seconds": 10, "batch_size": 200},
    }
    return recipe, cases


if __name__ == "__main__":
    out = Path(sys.argv[1])
    recipe, made = make_corpus(Path(os.environ.get("CORPUSMILL_TEST_DATA", "../shared/data")), out)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2))
    for case in made:
        print(f"{case.source:6} {case.name}: {case.path}")
