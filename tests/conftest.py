"""Shared fixtures. Real data comes from ../shared/data (override: CORPUSMILL_TEST_DATA);
data-bound tests skip with a clear reason when it is absent, so the core suite runs anywhere."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    configured = os.environ.get("CORPUSMILL_TEST_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if (candidate / "MANIFEST.md").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real test corpora; skips the test when it is not present."""
    root = shared_data_dir()
    if root is None:
        pytest.skip(
            "real test data not found: expected ../shared/data next to the repo "
            "(or set CORPUSMILL_TEST_DATA to its path)"
        )
    return root


@pytest.fixture(scope="session")
def hywiki_multistream(shared_data, tmp_path_factory) -> Path:
    """The real hywiki excerpt repacked the way Wikipedia's multistream dumps are: a header stream,
    then one bz2 stream per 20 pages, then the closing tag in its own stream."""
    import bz2
    import re

    xml = bz2.decompress((shared_data / "wikipedia/repaired/hywiki-truncated-100k.repaired.xml.bz2").read_bytes())
    first = xml.index(b"<page>")
    last = xml.rindex(b"</page>") + len(b"</page>")
    pages = re.findall(rb"\s*<page>.*?</page>", xml[first - 4:last], flags=re.S)
    assert b"".join(pages).strip() == xml[first:last].strip()
    streams = [xml[:first]] + [b"".join(pages[i:i + 20]) for i in range(0, len(pages), 20)] + [xml[last:]]
    path = tmp_path_factory.mktemp("multistream") / "hywiki-multistream.xml.bz2"
    path.write_bytes(b"".join(bz2.compress(s, 9) for s in streams))
    return path
