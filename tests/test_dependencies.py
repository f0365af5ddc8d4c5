"""The test venv runs exactly the library versions a user's `pip install -e .` gets.

Test extras may add packages but never move a runtime dependency: a test suite that ran, say, an
older trafilatura than users get would measure an extractor nobody runs, and a break in a newer
xxhash would never show. The runtime set is corpusmill's requirements followed through the
installed metadata; the user's versions come from `CORPUSMILL_USER_FREEZE` (CI writes the `pip
freeze` of the venv that ran the README's first command) or, without it, from pip's own resolver
(`pip install --dry-run --ignore-installed --report`) for that command's requirements.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
# pip freeze leaves these out unless asked; a user's venv has whatever `venv` seeded.
INSTALLER_TOOLS = {"pip", "setuptools", "wheel"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure(root: str = "corpusmill") -> dict[str, str]:
    """{distribution: installed version} for everything `root` needs at run time (no extras)."""
    found: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = metadata.distribution(name)
        found[normalized(name)] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            wanted = extras or {""}
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in wanted):
                continue
            pending.append((normalized(requirement.name), frozenset(requirement.extras)))
    found.pop(normalized(root))
    return found


def readme_command(index: int) -> str:
    """The README's `index`-th bash block (0: the demo, 1: the tests), as .ci/run reads it."""
    blocks = re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)
    return blocks[index].strip()


def user_versions() -> tuple[dict[str, str], str]:
    """({distribution: version} a user's fresh install gets, where that figure came from)."""
    frozen = os.environ.get("CORPUSMILL_USER_FREEZE")
    if frozen:
        pins = {}
        for line in Path(frozen).read_text().splitlines():
            if "==" in line and not line.startswith(("#", "-e")):
                name, version = line.split("==", 1)
                pins[normalized(name)] = version.strip()
        return pins, f"pip freeze of the README demo venv ({frozen})"
    torch_pin = re.search(r"pip install (torch==\S+)", readme_command(0))
    report = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", "-", *([torch_pin.group(1)] if torch_pin else []), str(REPO)],
        capture_output=True, text=True, timeout=600)
    if report.returncode != 0:
        pytest.skip(f"pip could not resolve a fresh install (no package index reachable?): {report.stderr[-500:]}")
    installs = json.loads(report.stdout)["install"]
    return {normalized(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}, "pip's resolver"


def test_runtime_closure_follows_requirements_and_markers():
    closure = runtime_closure()
    # Direct requirements and ones only reached through them (pyarrow <- datatrove too; lxml only
    # through trafilatura / lxml_html_clean; pydantic-core only through pydantic).
    for name in ("pyarrow", "ray", "torch", "trafilatura", "lxml", "pydantic-core", "xxhash"):
        assert name in closure, name
    assert "pytest" not in closure and "datasketch" not in closure  # test extras are not runtime


@pytest.mark.slow
def test_test_venv_runs_the_users_versions_of_every_runtime_dependency():
    expected, origin = user_versions()
    installed = runtime_closure()
    moved = {name: f"user {expected.get(name, 'not installed')} != tests {version}"
             for name, version in installed.items()
             if expected.get(name) != version and not (name in INSTALLER_TOOLS and name not in expected)}
    assert moved == {}, f"test extras moved runtime dependencies (compared with {origin})"
