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
                await tools.call("Runtime.evaluate", {"expression": action, "awaitPromise": True}, session)
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
            for event in tools.events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Network.requestWillBeSent":
                    visit.requests.append(params["request"]["url"])
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
            stdout=self.log, stderr=subprocess.STDOUT)
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
