"""`corpusmill build --address` on a real two-node Ray cluster on loopback (head 127.0.0.2, worker
127.0.0.3): tasks run on both nodes and the outputs equal an embedded run's, byte for byte."""
from __future__ import annotations

import filecmp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from dataclasses import dataclass
import yaml

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PACKAGES = ["json", "email", "http", "logging", "unittest", "asyncio", "importlib", "xml", "urllib", "concurrent"]
RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


def _ray_node(args: list[str], temp_dir: Path, env: dict | None = None) -> subprocess.Popen:
    # --block keeps `ray start` in the foreground: stopping it stops exactly this node's processes
    # (never `ray stop`, which would stop every Ray on the machine).
    env = {**os.environ, "RAY_AUTH_MODE": "token", **(env or {})}
    return subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats",
                             f"--temp-dir={temp_dir}", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for_port(host: str, port: int, timeout: float = 90) -> None:
    """Until the head's GCS accepts connections (or the time runs out: the join then fails, saying so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)


@dataclass
class Cluster:
    address: str
    worker: subprocess.Popen  # `ray start --block` of the 127.0.0.3 node; its group holds the node


@pytest.fixture
def cluster(tmp_path_factory):
    temp_dir = Path("/tmp") / f"cm-ray-{os.getpid()}"  # Ray's socket paths must stay short
    port = _free_port()
    head = _ray_node(["--head", "--node-ip-address=127.0.0.2", f"--port={port}", "--include-dashboard=false"], temp_dir)
    time.sleep(1)
    worker = None
    try:
        address = f"127.0.0.2:{port}"
        wait_for_port("127.0.0.2", port)
        worker = _ray_node([f"--address={address}", "--node-ip-address=127.0.0.3"], temp_dir)
        yield Cluster(address, worker)
    finally:
        for process in (worker, head):
            if process is not None:
                _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _recipe(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / name),
        "sources": [{"name": "stdlib", "kind": "code", "paths": [str(STDLIB / p) for p in PACKAGES]}],
        "filter": {},
    }))
    return path


def _wait_for_two_nodes(address: str) -> None:
    probe = ("import ray, time; ray.init(address=%r, _node_ip_address='127.0.0.2'); t=time.time()\n"
             "while len([n for n in ray.nodes() if n['Alive']]) < 2 and time.time() - t < 90: time.sleep(0.5)\n"
             "print(len([n for n in ray.nodes() if n['Alive']]))") % address
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=150,
                         env={**os.environ, "RAY_AUTH_MODE": "token"})
    assert out.stdout.strip().splitlines()[-1] == "2", out.stderr[-2000:]


@pytest.mark.slow
def test_build_on_a_two_node_cluster_matches_the_embedded_build(tmp_path, cluster):
    _wait_for_two_nodes(cluster.address)
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    joined = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(_recipe(tmp_path, "cluster")),
                             "--address", cluster.address, "--node-ip", "127.0.0.2", "--no-progress"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert joined.returncode == 0, joined.stderr[-3000:]
    embedded = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(_recipe(tmp_path, "embedded")),
                               "--no-progress"], capture_output=True, text=True, timeout=300)
    assert embedded.returncode == 0, embedded.stderr[-3000:]

    nodes = {json.loads(p.read_text())["node_ip"] for p in (tmp_path / "cluster" / "_stats").glob("*/*.json")}
    assert nodes == {"127.0.0.2", "127.0.0.3"}
    a, b = tmp_path / "cluster", tmp_path / "embedded"
    outputs = sorted(str(p.relative_to(a)) for p in a.rglob("*.parquet"))
    assert len(outputs) >= 3 * len(PACKAGES)  # extract, annotate and filter parts at least
    assert outputs == sorted(str(p.relative_to(b)) for p in b.rglob("*.parquet"))
    assert [o for o in outputs if not filecmp.cmp(a / o, b / o, shallow=False)] == []


@pytest.mark.slow
def test_losing_a_worker_node_mid_stage_still_finishes_with_identical_outputs(tmp_path, cluster):
    _wait_for_two_nodes(cluster.address)
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    recipe = _recipe(tmp_path, "lossy")
    build = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--address", cluster.address,
                              "--node-ip", "127.0.0.2", "--no-progress"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = tmp_path / "lossy" / "_done" / "annotate"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (done.is_dir() and len(os.listdir(done)) >= 2):
        time.sleep(0.01)
    assert build.poll() is None, "the build finished before the node could be lost"
    os.killpg(cluster.worker.pid, signal.SIGKILL)  # raylet, workers and all: a machine failure
    _, stderr = build.communicate(timeout=600)
    assert build.returncode == 0, stderr[-3000:]
    nodes = [json.loads(p.read_text())["node_ip"] for p in (tmp_path / "lossy" / "_stats").glob("*/*.json")]
    assert "127.0.0.3" in nodes  # the lost node had done work before it died
    assert "127.0.0.2" in nodes

    embedded = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(_recipe(tmp_path, "embedded")),
                               "--no-progress"], capture_output=True, text=True, timeout=300)
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    a, b = tmp_path / "lossy", tmp_path / "embedded"
    outputs = sorted(str(p.relative_to(a)) for p in a.rglob("*.parquet"))
    assert outputs == sorted(str(p.relative_to(b)) for p in b.rglob("*.parquet"))
    assert [o for o in outputs if not filecmp.cmp(a / o, b / o, shallow=False)] == []
    assert list(a.rglob("*.tmp-*")) == []


@pytest.mark.slow
def test_cluster_build_into_s3_is_byte_identical_to_an_embedded_local_build(tmp_path, cluster, s3, s3_inputs,
                                                                           s3_recipe):
    # Inputs and run directory on the S3 server (no stage may rely on a disk the nodes share); the
    # endpoint and credentials reach the worker node through the runner's runtime env.
    _wait_for_two_nodes(cluster.address)
    fs, s3_env = s3
    env = {**os.environ, **s3_env, "RAY_AUTH_MODE": "token"}
    recipe = s3_recipe(tmp_path / "cluster.yaml", "s3://corpus/cluster-run", s3_inputs)
    joined = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(recipe), "--address", cluster.address,
                             "--node-ip", "127.0.0.2", "--no-progress"], capture_output=True, text=True, timeout=600,
                            env=env)
    assert joined.returncode == 0, joined.stderr[-3000:]
    local = s3_recipe(tmp_path / "embedded.yaml", str(tmp_path / "embedded"), s3_inputs)
    embedded = subprocess.run([sys.executable, "-m", "pipelines.cli", "build", str(local), "--no-progress"],
                              capture_output=True, text=True, timeout=600, env={**os.environ, **s3_env})
    assert embedded.returncode == 0, embedded.stderr[-3000:]

    stats = [json.loads(fs.cat_file(p)) for p in fs.glob("corpus/cluster-run/_stats/*/*.json")]
    assert {s["node_ip"] for s in stats} == {"127.0.0.2", "127.0.0.3"}
    # Which later stages land on the worker node is the scheduler's choice (an idle head may take
    # all of a small stage's tasks), so the test asserts only that both nodes worked, through S3.
    root = tmp_path / "embedded"
    # Every data file and the tokenizer, manifest and mixture records (not run.json, stats, locks,
    # nor the mix's plan.json, which names the parts by their absolute paths).
    outputs = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                     if p.is_file() and p.suffix in (".parquet", ".arrow", ".json")
                     and not str(p.relative_to(root)).startswith(("_stats", "_lock", "run.json", "report",
                                                                  "mix-staging/plan.json")))
    assert "shards/manifest.json" in outputs and len(outputs) >= 10
    remote = sorted(fs.unstrip_protocol(p).removeprefix("s3://corpus/cluster-run/")
                    for p in fs.glob("corpus/cluster-run/**") if fs.isfile(p))
    assert set(outputs) <= set(remote)
    assert [o for o in outputs if fs.cat_file(f"corpus/cluster-run/{o}") != (root / o).read_bytes()] == []
