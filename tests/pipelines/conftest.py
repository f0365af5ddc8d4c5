from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """One embedded Ray instance for the whole session (starting one costs ~3 s)."""
    from pipelines.runner import Runner

    with Runner(num_cpus=2, show_progress=False) as runner:
        yield runner
