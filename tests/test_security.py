"""Security rules checked over the four packages' source, and the loaders that enforce them.

- No pickle / marshal / shelve / dill / cloudpickle import, no eval / exec / compile of strings, no
  `yaml.load` except with a SafeLoader (or a subclass defined next to it), no `yaml.unsafe_load` /
  `full_load`, no `numpy.load(allow_pickle=True)`, and `torch.load` only with `weights_only=True`:
  data, recipes, manifests and checkpoints are never code. (Ray's own task transport pickles task
  payloads between our processes; that is not data from users' files.)
- A recipe that carries a Python object tag is refused, not constructed.
- Checkpoints are read with `weights_only=True`: a checkpoint holding a pickled object is refused.
  Sharded (FSDP) checkpoints are read from their metadata.json, never DCP's `.metadata` pickle,
  with every non-tensor value through `weights_only=True` too (train/sharded_checkpoint_io.py).
- The Ray dashboard, when enabled, listens on 127.0.0.1 only (every socket of its process).
"""
from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("corpora", "pipelines", "tokenization", "train")
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _safe_loader_classes(tree: ast.Module) -> set[str]:
    """Classes in the module deriving from a yaml SafeLoader (directly or through each other)."""
    safe = set(SAFE_LOADERS)
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name not in safe:
                if any(_dotted(base).split(".")[-1] in safe for base in node.bases):
                    safe.add(node.name)
                    changed = True
    return safe


def _keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    safe_loaders = _safe_loader_classes(tree)
    found = []
    where = lambda node: f"{path.relative_to(REPO)}:{node.lineno}"  # noqa: E731
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{where(node)} imports {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"{where(node)} imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{where(node)} calls {name}()")
            elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
                found.append(f"{where(node)} calls {name}()")
            elif name in ("yaml.load", "yaml.load_all"):
                loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                if loader is None or _dotted(loader).split(".")[-1] not in safe_loaders:
                    found.append(f"{where(node)} calls {name}() without a SafeLoader")
            elif name == "torch.load":
                flag = _keyword(node, "weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    found.append(f"{where(node)} calls torch.load() without weights_only=True")
            elif name in ("np.load", "numpy.load"):
                flag = _keyword(node, "allow_pickle")
                if isinstance(flag, ast.Constant) and flag.value is True:
                    found.append(f"{where(node)} calls {name}(allow_pickle=True)")
    return found


def test_the_packages_never_unpickle_eval_or_unsafe_load():
    sources = _sources()
    assert len(sources) > 50  # the scan sees the real packages
    assert [v for path in sources for v in violations(path)] == []


def test_the_scan_catches_each_forbidden_form(tmp_path):
    """The checker itself, on a file holding one of each (so an empty result above means something)."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle\nfrom marshal import loads\nimport yaml, torch, numpy as np\n"
        "eval('1')\nexec('x = 1')\nyaml.load(open('r'))\nyaml.load(open('r'), Loader=yaml.FullLoader)\n"
        "yaml.unsafe_load('a')\ntorch.load('c.pt')\ntorch.load('c.pt', weights_only=False)\n"
        "np.load('a.npy', allow_pickle=True)\n"
        "class Ok(yaml.SafeLoader): pass\nyaml.load(open('r'), Loader=Ok)\n"
        "torch.load('c.pt', weights_only=True)\nyaml.safe_load('a')\n"
    )
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        found = violations(bad)
    finally:
        REPO = saved
    assert [f.split(" ", 1)[1] for f in found] == [
        "imports pickle", "imports from marshal", "calls eval()", "calls exec()",
        "calls yaml.load() without a SafeLoader", "calls yaml.load() without a SafeLoader",
        "calls yaml.unsafe_load()", "calls torch.load() without weights_only=True",
        "calls torch.load() without weights_only=True", "calls np.load(allow_pickle=True)",
    ]


def test_a_recipe_with_a_python_object_tag_is_refused(tmp_path):
    from pipelines.recipe import RecipeError, load_recipe

    marker = tmp_path / "constructed"
    path = tmp_path / "recipe.yaml"
    path.write_text(f"run_dir: !!python/object/apply:os.system ['touch {marker}']\nsources: []\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path)
    assert not marker.exists()


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    """train.checkpoint reads with weights_only=True: an object that would run code on load is not
    unpickled (torch raises), while tensors and plain containers load."""
    import torch

    from train import checkpoint

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": {"w": torch.zeros(2)}, "extra": CodeOnLoad(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        checkpoint.load_checkpoint(evil)
    assert not marker.exists()
    plain = tmp_path / "plain.pt"
    torch.save({"format": checkpoint.CHECKPOINT_FORMAT, "step": 3, "model": {"w": torch.ones(2)}}, plain)
    assert checkpoint.load_checkpoint(plain)["model"]["w"].tolist() == [1.0, 1.0]


class CodeOnLoad:
    """Unpickling this object touches a file: what a hostile checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


DASHBOARD_PROBE = """
import json, socket
import ray
import psutil  # Ray's own (ray ships it in its thirdparty_files, on the path once ray is imported)
from pipelines.runner import Runner

def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except OSError as error:
        return type(error).__name__

with Runner(num_cpus=1, show_progress=False, dashboard=True):
    url = ray._private.worker.global_worker.node.address_info["webui_url"]
    port = int(url.rsplit(":", 1)[1])
    sockets = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN]
    [pid] = {c.pid for c in sockets if c.laddr.port == port}  # the dashboard's process
    external = sorted(a.address for addresses in psutil.net_if_addrs().values() for a in addresses
                      if a.family == socket.AF_INET and not a.address.startswith("127."))
    print(json.dumps({
        "url": url,
        "cmdline": psutil.Process(pid).cmdline(),
        "listening": sorted(f"{c.laddr.ip}:{c.laddr.port}" for c in sockets if c.pid == pid),
        "loopback": connect("127.0.0.1", port),
        "external": {address: connect(address, port) for address in external},
    }), flush=True)
"""


DASHBOARD_MODULES = ("aiohttp_cors", "opencensus", "prometheus_client")  # from ray[default]


def _dashboard_probe():
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", DASHBOARD_PROBE], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.slow
def test_the_dashboard_when_enabled_listens_on_loopback_only():
    """An embedded run with `runner.dashboard: true`: every socket the dashboard's process listens
    on is 127.0.0.1 (Ray's Prometheus endpoint, which it would bind to 0.0.0.0, is not started),
    a connection to the machine's other addresses on the dashboard's port is refused, and one to
    loopback is accepted. ray[default] is in the test extra, so this runs wherever the tests do."""
    import importlib.util
    import json

    if any(importlib.util.find_spec(m) is None for m in DASHBOARD_MODULES):
        pytest.skip("Ray's dashboard needs `pip install 'ray[default]'` (the test extra has it), not installed here")
    out = _dashboard_probe()
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    port = int(probe["url"].rsplit(":", 1)[1])
    assert probe["url"] == f"127.0.0.1:{port}"
    assert any(part.endswith("ray/dashboard/dashboard.py") for part in probe["cmdline"])
    assert probe["listening"] == [f"127.0.0.1:{port}"]  # not 0.0.0.0, not ::, and no second port
    assert probe["loopback"] == "connected"
    if not probe["external"]:
        pytest.skip("this machine has no non-loopback IPv4 address to try the dashboard's port on")
    assert probe["external"] == {address: "refused" for address in probe["external"]}


def test_the_dashboard_without_its_packages_is_refused_naming_the_fix():
    import importlib.util

    if all(importlib.util.find_spec(m) is not None for m in DASHBOARD_MODULES):
        pytest.skip("ray[default] is installed: the dashboard starts (see the loopback test)")
    out = _dashboard_probe()
    assert out.returncode != 0
    assert "runner.dashboard: Ray's dashboard needs its packages: pip install 'ray[default]'" in out.stderr


def _sharded_checkpoint(tmp_path: Path):
    """A real sharded checkpoint (one process: DCP's shard files, metadata.json, trainer state) of
    a small model after one AdamW step, and a loader that fills a fresh model and optimizer."""
    import torch

    from train import checkpoint
    from train.distributed import DistEnv

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    env = DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    path = checkpoint.save_sharded_checkpoint(tmp_path, 7, model, optimizer, {"note": "x"}, env, keep=2)

    def load() -> tuple:
        fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
        fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.5)
        checkpoint.load_sharded_weights(path, fresh, fresh_optimizer)
        return fresh, fresh_optimizer

    return path, model, optimizer, load


def test_a_sharded_checkpoint_has_json_metadata_and_loads_back(tmp_path):
    import torch

    path, model, optimizer, load = _sharded_checkpoint(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == [".metadata", "__0_0.distcp", "metadata.json", "trainer_state.pt"]
    (path / ".metadata").unlink()  # DCP's pickle, kept for torch's own tools: corpusmill does not need it
    fresh, fresh_optimizer = load()
    for saved, loaded in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(saved, loaded)
    assert fresh_optimizer.param_groups[0]["lr"] == 0.01  # a non-tensor value, read with weights_only=True
    assert torch.equal(fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_a_pickled_dcp_metadata_file_is_never_opened(tmp_path):
    """A `.metadata` pickle that touches a file when unpickled: torch's own DCP reader runs it (the
    control), corpusmill's loader never opens it, with metadata.json there or not."""
    from torch.distributed.checkpoint import FileSystemReader

    from train.sharded_checkpoint_io import CheckpointMetadataError

    path, _, _, load = _sharded_checkpoint(tmp_path)
    control, marker = tmp_path / "control-ran", tmp_path / "ran"
    (path / ".metadata").write_bytes(pickle.dumps(CodeOnLoad(control)))
    try:
        FileSystemReader(str(path)).read_metadata()
    except Exception:  # noqa: BLE001 - the payload ran before anything else could fail
        pass
    assert control.exists()  # the payload is live: DCP's reader unpickles it

    (path / ".metadata").write_bytes(pickle.dumps(CodeOnLoad(marker)))
    load()  # metadata.json is read; the pickle beside it is ignored
    assert not marker.exists()
    (path / "metadata.json").unlink()
    with pytest.raises(CheckpointMetadataError, match="no metadata.json; a sharded checkpoint whose metadata is only a pickle"):
        load()
    assert not marker.exists()


@pytest.mark.parametrize("tamper, message", [
    (lambda m: m["state_dict_metadata"]["model.0.weight"].update(dtype="load"), "dtype 'load' is not a torch dtype"),
    (lambda m: m["state_dict_metadata"]["model.0.weight"].update(dtype="__class__"), "is not a torch dtype"),
    (lambda m: m["storage_data"][0].update(relative_path="../../outside.distcp"), "is not a shard name"),
    (lambda m: m["state_dict_metadata"]["model.0.weight"].update(kind="pickle"), "is neither a tensor nor bytes"),
    (lambda m: m.update(extra={"__reduce__": "os.system"}), "the top-level keys differ"),
])
def test_a_tampered_json_metadata_is_refused_naming_the_fix(tmp_path, tamper, message):
    import json

    from train.sharded_checkpoint_io import CheckpointMetadataError

    path, _, _, load = _sharded_checkpoint(tmp_path)
    metadata = json.loads((path / "metadata.json").read_text())
    tamper(metadata)
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(CheckpointMetadataError, match=message) as refused:
        load()
    assert "save the checkpoint again" in str(refused.value)


def test_a_non_tensor_value_holding_a_pickled_object_is_refused(tmp_path):
    """DCP stores non-tensor values (the optimizer's lr, betas) as torch.save'd bytes and its
    default planner reads them with weights_only=False; ours reads them with True: an lr entry
    pointed at a payload that touches a file is refused, the file not touched."""
    import io
    import json

    import torch

    path, _, _, load = _sharded_checkpoint(tmp_path)
    marker = tmp_path / "ran"
    payload = io.BytesIO()
    torch.save(CodeOnLoad(marker), payload)
    (path / "__9_0.distcp").write_bytes(payload.getvalue())
    metadata = json.loads((path / "metadata.json").read_text())
    [entry] = [e for e in metadata["storage_data"] if e["fqn"] == "optimizer.param_groups.0.lr"]
    entry.update(relative_path="__9_0.distcp", file_offset=0, length=len(payload.getvalue()))
    (path / "metadata.json").write_text(json.dumps(metadata))
    from torch.distributed.checkpoint import CheckpointException  # DCP wraps each rank's error

    with pytest.raises(CheckpointException, match="Weights only load failed"):
        load()
    assert not marker.exists()
