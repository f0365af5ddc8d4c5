"""The architecture doc stays true, and the packages import without cycles.

* docs/architecture.md names every registered stage, filter, source kind and training objective.
* The import graph of the four packages (read from the source: every import, lazy ones inside
  functions too, `if TYPE_CHECKING:` blocks left out) has no cycle; `from package import
  submodule` counts as an edge to the submodule.
* Every module imports on its own in a fresh interpreter (a forked child of a bare one per module),
  which is where an import cycle shows up as an ImportError.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("corpora", "pipelines", "tokenization", "train")
DOC = REPO / "docs" / "architecture.md"


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, inside functions too (a lazy import is still a dependency), but not
    those under `if TYPE_CHECKING:` (annotations only, never executed)."""
    found, stack = [], list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack += node.orelse
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack += list(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 100  # every module of the four packages was read
    assert graph["pipelines.build"] >= {"pipelines.stages", "pipelines.runner"}
    assert "pipelines.build" not in set().union(*(graph[m] for m in graph if m.startswith("pipelines.stages")))
    assert _cycles(graph) == []


def test_a_cycle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


CHILD = r"""
import importlib, json, os, sys, traceback
failures = {}
for name in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:  # a child with no corpusmill module imported yet
        try:
            importlib.import_module(name)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status:
        failures[name] = status
print(json.dumps(failures))
"""


@pytest.mark.slow  # ~2 min: the train modules import torch, once per module
def test_every_module_imports_first_in_a_fresh_interpreter():
    names = [n for n in _modules() if not n.endswith("__main__")]
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(names)], cwd=REPO, capture_output=True,
                          text=True, timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}, done.stderr[-3000:]


def test_the_architecture_doc_lists_every_registered_unit():
    from corpora import READER_MODULES
    from pipelines.filters.registry import FILTERS
    from pipelines.stages import STAGES
    from train.objectives import OBJECTIVES

    text = DOC.read_text()
    names = {"stage": [s.name for s in STAGES], "filter": [f.name for f in FILTERS],
             "source kind": list(READER_MODULES), "objective": list(OBJECTIVES)}
    missing = {kind: [n for n in listed if f"`{n}`" not in text] for kind, listed in names.items()}
    assert missing == {kind: [] for kind in names}, "add them to docs/architecture.md"
    for heading in ("### A new source kind", "### A new filter", "### A new stage", "### A new training objective"):
        assert heading in text
