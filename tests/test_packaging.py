"""DESIGN.md's guardrails for the four generic top-level package names."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("corpora", "pipelines", "tokenization", "train")
# Modules (not files) allowed to import ray: the runner alone.
RAY_IMPORTERS = {"pipelines/runner.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _package_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def test_every_package_has_modules():
    for package in PACKAGES:
        assert (REPO / package / "__init__.py").is_file(), package
        assert len(_package_files(package)) >= 2, f"{package} has no modules"


def test_train_imports_only_tokenization_among_project_packages():
    offenders = {
        str(f.relative_to(REPO)): sorted(_imports(f) & {"pipelines", "corpora", "ray"})
        for f in _package_files("train")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_runner_imports_ray():
    importers = {
        str(f.relative_to(REPO))
        for package in PACKAGES
        for f in _package_files(package)
        if "ray" in _imports(f)
    }
    assert importers == RAY_IMPORTERS


def test_corpora_and_tokenization_do_not_import_pipelines_or_train():
    offenders = {
        str(f.relative_to(REPO)): sorted(_imports(f) & {"pipelines", "train", "ray"})
        for package in ("corpora", "tokenization")
        for f in _package_files(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.slow
def test_wheel_installs_and_imports_all_four_packages_from_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheels = sorted(dist.glob("corpusmill-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp_path / "venv"
    # A venv of its own, seeing this test venv's installed dependencies through a .pth line (not the
    # base interpreter's, which a new machine has empty): the four packages must come from the wheel.
    # A directory added by a .pth is not a site dir, so the editable install's own .pth there is
    # never processed: the source tree stays invisible.
    venv.EnvBuilder(with_pip=True).create(env_dir)
    site_packages = Path(subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "test-venv-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    python = env_dir / "bin" / "python"
    # Without PYTHONPATH: a source tree on it (with its .egg-info) would make pip think corpusmill is
    # already installed, and the probe would import the sources instead of the wheel.
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheels[0])],
                   check=True, capture_output=True, env=clean_env)
    probe = (
        "import pyarrow, ray, torch, corpora, pipelines, tokenization, train, pipelines.cli, tokenization.shards, os; "
        "print(*[os.path.dirname(m.__file__) for m in (corpora, pipelines, tokenization, train)], sep='\\n')"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env=clean_env)  # outside the repo: the source tree is not on sys.path
    assert out.returncode == 0, out.stderr[-3000:]
    locations = out.stdout.split()
    assert len(locations) == 4
    for location, package in zip(locations, PACKAGES):
        assert location.startswith(str(env_dir)), f"{package} imported from {location}, not the wheel"
        assert location.endswith(package)


# Imported only by code that compares against the anchors (tests, benchmarks), from the test extra.
TEST_ONLY_IMPORTS = {"pipelines/filters/reference.py": {"datatrove", "tldextract", "fasttext"}}
IMPORT_TO_DISTRIBUTION = {"yaml": "pyyaml", "fasttext": "fasttext-numpy2-wheel"}


def test_every_third_party_import_is_a_declared_dependency():
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    def normalized(name: str) -> str:  # PEP 503: charset_normalizer and charset-normalizer are one
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {normalized(re.split(r"[<>=!~\[ ;]", d)[0]) for d in project["dependencies"]}
    missing = {}
    for package in PACKAGES:
        for path in _package_files(package):
            rel = str(path.relative_to(REPO))
            for name in _imports(path) - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}:
                if name in TEST_ONLY_IMPORTS.get(rel, set()):
                    continue
                if normalized(IMPORT_TO_DISTRIBUTION.get(name, name)) not in declared:
                    missing.setdefault(name, []).append(rel)
    assert missing == {}
