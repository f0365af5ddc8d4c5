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
