"""Headless Chromium driven over the DevTools protocol (its websocket, through aiohttp), for the
report page tests: every network request the page makes, its console messages and exceptions, DOM
queries, and a full-page screenshot.

Chromium is Debian's `chromium` package (`.ci/run` installs it); without /usr/bin/chromium the
browser tests skip and say so.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CORPUSMILL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("CORPUSMILL_TEST_ARTIFACTS", Path(__file__).resolve().parents[3] / "test-artifacts"))


@dataclass
class PageVisit:
    url: str
    requests: list[str] = field(default_factory=list)  # every Network.requestWillBeSent URL
    blocked: dict[str, str] = field(default_factory=dict)  # URL -> Network.loadingFailed blockedReason
    console: list[dict] = field(default_factory=list)  # Runtime.consoleAPICalled: {type, text}
    exceptions: list[str] = field(default_factory=list)  # Runtime.exceptionThrown
    log_entries: list[dict] = field(default_factory=list)  # Log.entryAdded: {level, source, text}
    values: dict = field(default_factory=dict)  # results of the `evaluate` expressions, by name
    screenshot: bytes | None = None

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations land here)."""
        return ([m["text"] for m in self.console if m["type"] in ("error", "assert")] + self.exceptions
                + [e["text"] for e in self.log_entries if e["level"] == "error"])


class _DevTools:
    def __init__(self, websocket):
        self.ws = websocket
        self.next_id = 0
        self.events: list[dict] = []

    async def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        while True:
            reply = json.loads((await self.ws.receive(timeout=60)).data)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    async def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads((await self.ws.receive(timeout=remaining)).data))

    async def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads((await self.ws.receive(timeout=remaining)).data))
            except asyncio.TimeoutError:
                return


async def _visit(port: int, browser_path: str, url: str, evaluate: dict[str, str], width: int,
                 screenshot: bool, actions: list[str]) -> PageVisit:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"ws://127.0.0.1:{port}{browser_path}", max_msg_size=0) as websocket:
            tools = _DevTools(websocket)
            target = (await tools.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
            session = (await tools.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
            for domain in ("Network", "Runtime", "Log", "Page"):
                await tools.call(f"{domain}.enable", session=session)
            await tools.call("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            await tools.call("Page.navigate", {"url": url}, session)
            await tools.wait_for("Page.loadEventFired")
            for action in actions:  # e.g. typing into a form: run, then let the page react
                result = await tools.call("Runtime.evaluate", {"expression": action, "awaitPromise": True}, session)
                if "exceptionDetails" in result:
                    raise AssertionError(f"{action}: {result['exceptionDetails']}")
            await tools.drain(1.0)  # anything the page would fetch late
            visit = PageVisit(url=url)
            for name, expression in evaluate.items():
                result = await tools.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
                if "exceptionDetails" in result:
                    raise AssertionError(f"{name}: {result['exceptionDetails']}")
                visit.values[name] = result["result"].get("value")
            if screenshot:
                metrics = await tools.call("Page.getLayoutMetrics", session=session)
                size = metrics["cssContentSize"]
                shot = await tools.call("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session)
                visit.screenshot = base64.b64decode(shot["data"])
            urls = {}
            for event in tools.events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Network.requestWillBeSent":
                    visit.requests.append(params["request"]["url"])
                    urls[params["requestId"]] = params["request"]["url"]
                elif method == "Network.loadingFailed" and params.get("blockedReason"):
                    visit.blocked[urls.get(params["requestId"], "?")] = params["blockedReason"]
                elif method == "Runtime.consoleAPICalled":
                    text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                    visit.console.append({"type": params["type"], "text": text})
                elif method == "Runtime.exceptionThrown":
                    details = params["exceptionDetails"]
                    visit.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
                elif method == "Log.entryAdded":
                    entry = params["entry"]
                    visit.log_entries.append({"level": entry["level"], "source": entry["source"], "text": entry["text"]})
            await tools.call("Target.closeTarget", {"targetId": target})
            return visit


class Chromium:
    """One headless Chromium for the session; `visit(url, ...)` opens a fresh tab per call."""

    def __init__(self, binary: str):
        self.profile = tempfile.mkdtemp(prefix="corpusmill-chromium-")
        self.log = open(Path(self.profile) / "chromium.log", "wb")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": self.profile})  # its own temporary files go with the profile
        active = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.is_file() and len(active.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start; see {self.log.name}")
            time.sleep(0.1)
        port, path = active.read_text().splitlines()[:2]
        self.port, self.browser_path = int(port), path

    def visit(self, url: str, evaluate: dict[str, str] | None = None, width: int = 1280,
              screenshot: bool = False, actions: list[str] = ()) -> PageVisit:
        return asyncio.run(_visit(self.port, self.browser_path, url, evaluate or {}, width, screenshot, list(actions)))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"headless Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
                    "(.ci/run does: apt-get install chromium) or set CORPUSMILL_CHROMIUM")
    browser = Chromium(CHROMIUM)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where browser tests keep screenshots (CORPUSMILL_TEST_ARTIFACTS, default ./test-artifacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ------------------------------------------------------------------------------------------ a small real build

HOSTILE_KEPT = (
    "The report shows documents as text, and this note checks it. A page may quote markup such as "
    "<script>alert('kept')</script> or a closing </div> tag in the middle of a sentence, and the reader "
    "should see those characters exactly as they were written. The rest of this paragraph is ordinary "
    "English prose, so that the quality rules keep it. It talks about the weather, about the river that "
    "runs through the old town, and about the people who walk along it in the evening. They stop at the "
    "bridge and look at the water. Some of them have done this for many years, and they know every stone "
    "of the path. Nothing in the text should ever run as code in the page."
)
# Passes the Gopher rules, then fails C4's lorem-ipsum rule (a reason no other document has, so its
# sample group is this document).
HOSTILE_REMOVED = (
    "This second note is removed by the filter, and its sample must still show its markup as text. It "
    "holds <script>alert('removed')</script></div><b>bold</b> in the middle of a line, which a careless "
    "page would run or render. The rest is plain English about a garden: the roses grow along the wall, "
    "the apple tree gives fruit in the autumn, and the children play on the grass after school. Their "
    "parents sit on the bench and talk about the week. Placeholder text such as lorem ipsum dolor sit "
    "amet is what removes it, because the C4 rules drop any page that contains it."
)


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def small_recipe(root: Path) -> Path:
    """Three real-text sources: Python's reference manual topics (one reposted), two stdlib packages' source, and a
    few hand-written notes (two of them carry markup); LID off (the model may be absent), a 2,000-token
    BPE trained on the kept text, and a mixture that upsamples the notes and cuts several shards."""
    import sysconfig

    import yaml
    from pydoc_data.topics import topics

    inputs = root / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    names = sorted(topics)  # 79 topics in Python 3.11
    # The last line reposts the 'class' page (one the filters keep): dedup (on by default) removes it
    # as an exact duplicate, so the report's dedup rows and samples have something to show.
    _write_jsonl(inputs / "topics.jsonl", [{"id": n, "text": topics[n]} for n in names[:60]]
                 + [{"id": "~repost-class", "text": topics["class"]}])
    notes = [{"id": "kept-markup", "text": HOSTILE_KEPT}, {"id": "removed-markup", "text": HOSTILE_REMOVED}]
    notes += [{"id": f"topic-{n}", "text": topics[n]} for n in names[60:]]
    _write_jsonl(inputs / "notes.jsonl", notes)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    recipe = {
        "run_dir": str(root / "run"), "seed": 3,
        "sources": [
            {"name": "docs", "kind": "jsonl", "paths": [str(inputs / "topics.jsonl")],
             "options": {"text_field": "text", "id_field": "id"}},
            {"name": "notes", "kind": "jsonl", "paths": [str(inputs / "notes.jsonl")],
             "options": {"text_field": "text", "id_field": "id"}},
            {"name": "code", "kind": "code", "paths": [str(stdlib / "json"), str(stdlib / "email")],
             "options": {"repo": "cpython-stdlib"}},
        ],
        "runner": {"num_cpus": 2},
        "filter": {"defaults": {"lid": {"enabled": False}},
                   "sources": {"docs": {"gopher_quality": {"enabled": False}}}},
        "tokenize": {"train": {"vocab_size": 2000, "kind": "bpe", "sample_docs": 400}},
        "mix": {"weights": {"docs": 0.5, "notes": 0.2, "code": 0.3}, "max_epochs": {"notes": 8.0, "docs": 2.0},
                "val_fraction": 0.05, "shard_tokens": 40_000},
    }
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def report_run(tmp_path_factory) -> Path:
    """A finished build of `small_recipe` (its report written by the build itself)."""
    from rich.console import Console

    from pipelines.build import build
    from pipelines.recipe import load_recipe

    root = tmp_path_factory.mktemp("report")
    resolved = load_recipe(small_recipe(root))
    build(resolved, console=Console(file=open(os.devnull, "w")), show_progress=False)
    return Path(resolved.run_dir)


@pytest.fixture(scope="session")
def write_small_recipe():
    """`small_recipe(root) -> recipe path`, for tests that build it their own way."""
    return small_recipe
