"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket, aiohttp's client), for the browser
tests: type into fields, click, run a script, read the page, take screenshots. No driver package and nothing
downloaded: Debian's chromium. Without Chromium a browser test fails, never skips.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import free_port
from toex_stream.tools.processes import stop_process_group

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"]
START_TIMEOUT_S = 60


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is needed for the form test: apt-get install -y chromium", pytrace=False)
    return found


def start_browser(profile: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start headless Chromium; return it and the websocket URL of its first page."""
    port = free_port()
    process = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--remote-debugging-port={port}",
                                f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                pages = [t for t in json.loads(answer.read()) if t["type"] == "page"]
            if pages:
                return process, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process_group(process)
            pytest.fail("headless Chromium did not open its DevTools port", pytrace=False)
        time.sleep(0.2)


class Page:
    """Just enough of the DevTools Protocol to use a page as a person would."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        await self._socket.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = json.loads((await self._socket.receive(timeout=30)).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]
            self._events.append(message)

    async def loaded(self, action: Any) -> None:
        """Do ``action`` (a coroutine) and wait until the page it leads to has loaded."""
        self._events.clear()
        await action
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            self._events.append(json.loads((await self._socket.receive(timeout=30)).data))

    async def node(self, selector: str) -> int:
        root = (await self.call("DOM.getDocument"))["root"]["nodeId"]
        node = (await self.call("DOM.querySelector", nodeId=root, selector=selector))["nodeId"]
        assert node, f"no {selector} on the page"
        return node

    async def type(self, selector: str, text: str) -> None:
        await self.call("DOM.focus", nodeId=await self.node(selector))
        await self.call("Input.insertText", text=text)

    async def click(self, selector: str) -> None:
        quad = (await self.call("DOM.getContentQuads", nodeId=await self.node(selector)))["quads"][0]
        x, y = sum(quad[0::2]) / 4, sum(quad[1::2]) / 4
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def html(self) -> str:
        return (await self.call("DOM.getOuterHTML", nodeId=await self.node("html")))["outerHTML"]

    async def evaluate(self, expression: str, *, promise: bool = False) -> Any:
        """Run ``expression`` in the page (a promise awaited when ``promise``); its value, as JSON gives it."""
        answer = await self.call("Runtime.evaluate", expression=expression, awaitPromise=promise,
                                 returnByValue=True)
        if "exceptionDetails" in answer:
            raise AssertionError(f"the page's script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> None:
        """Wait until ``expression`` is true in the page (without reloading it)."""
        deadline = time.monotonic() + timeout
        while not await self.evaluate(f"Boolean({expression})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:.0f} s in vain for {what or expression}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> Path:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


AXE = Path(__file__).resolve().parent / "e2e" / "vendor" / "axe-core-4.14.1" / "axe.min.js"


async def serious_accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands (our pinned copy, injected over the
    DevTools protocol, which the page's Content-Security-Policy does not govern)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})"
                                  ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                                  " nodes: v.nodes.map(n => n.target.join(' '))})))", promise=True)
    return [v for v in results if v["impact"] in ("serious", "critical")]
