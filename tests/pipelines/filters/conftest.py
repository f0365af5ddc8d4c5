"""Fixtures of the filter tests: the lid.176 model, the 1,033 real pages extracted once per
session, and FineWeb-order settings for a web source."""
from __future__ import annotations

from pathlib import Path

import pytest

PAGES = "web/warc-derived-realhtml/trafilatura_eval_pages.warc.gz"


@pytest.fixture(scope="session")
def lid_model_path(shared_data: Path) -> str:
    return str(shared_data / "models" / "langid" / "lid.176.ftz")


@pytest.fixture(scope="session")
def web_pages(shared_data: Path) -> list[dict]:
    """The pages as documents, extracted by corpora.commoncrawl (resiliparse), once."""
    from corpora import SkipCounter, reader_for

    reader = reader_for("commoncrawl")
    skips = SkipCounter()
    docs = list(reader.iter_documents(str(shared_data / PAGES), source="web", file_key="pages",
                                      options=reader.Options(), skips=skips))
    # MANIFEST: 1,033 responses, "empty/short 16"; the reader skips the 15 that extract to nothing
    assert len(docs) + skips["empty_text"] == 1033
    return docs


@pytest.fixture(scope="session")
def web_settings(lid_model_path: str):
    from pipelines.filters import FilterConfig, settings_for

    config = FilterConfig.model_validate({"defaults": {"lid": {"model_path": lid_model_path}}})
    return settings_for(config, "web", "commoncrawl")


@pytest.fixture(scope="session")
def web_annotated(web_pages, web_settings):
    from corpora import documents_to_table
    from pipelines.filters import annotate

    return annotate(documents_to_table(web_pages, "web"), web_settings)
