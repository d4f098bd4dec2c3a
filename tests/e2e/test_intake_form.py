"""The referral form in a real browser (Debian's headless Chromium), with JavaScript turned off.

Driven over the Chrome DevTools Protocol (a websocket, aiohttp's client): type
into the fields, click, read the page, take screenshots. No driver package,
and nothing downloaded. Without Chromium the test fails, never skips.
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
from tests.intake_helpers import FakePublisher, intake_store, served
from toex_stream.adapters.settings import Settings
from toex_stream.entry.web import build_intake_app
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

    async def screenshot(self, path: Path) -> Path:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def fill_and_submit(websocket_url: str, form_url: str, token: str, shots: Path) -> tuple[str, str]:
    async with aiohttp.ClientSession() as session, session.ws_connect(websocket_url, max_msg_size=0) as socket:
        page = Page(socket)
        await page.call("Page.enable")
        # The form must work without JavaScript: the page gets none.
        await page.call("Emulation.setScriptExecutionDisabled", value=True)
        await page.call("Emulation.setDeviceMetricsOverride", width=900, height=3200, deviceScaleFactor=1,
                        mobile=False)
        await page.loaded(page.call("Page.navigate", url=form_url))

        # First a referral with faults: an adult without consent, named, and no kind of exploitation.
        await page.type("#f-api_token", token)
        await page.type("#f-referral_id", "BROWSER-1")
        await page.click("#f-urgency-standard")
        await page.type("#f-subjects-0-given_name", "Ana")
        await page.loaded(page.click("button[type=submit]"))
        refused = await page.html()
        await page.screenshot(shots / "intake-form-errors.png")

        # Then put it right: consent recorded, a kind chosen; the token is typed again (never echoed back).
        await page.type("#f-api_token", token)
        await page.click("#f-consent_to_share")
        await page.click("#f-exploitation_types-labour")
        await page.type("#f-subjects-0-phones", "07700 900123")
        await page.type("#f-locations-0-town", "Wolverhampton")
        await page.type("#f-narrative", "Met at a hand car wash; says his passport is held by the boss.")
        await page.loaded(page.click("button[type=submit]"))
        accepted = await page.html()
        await page.call("Emulation.setDeviceMetricsOverride", width=900, height=700, deviceScaleFactor=1,
                        mobile=False)
        await page.screenshot(shots / "intake-form-receipt.png")
        return refused, accepted


def test_a_partner_fills_the_form_in_chromium_sees_errors_beside_fields_then_a_receipt(tmp_path) -> None:
    store = intake_store(tmp_path)
    _, token = store.add_partner("Browser Partner", partner_id="browser-partner")
    publisher = FakePublisher()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser, websocket_url = start_browser(tmp_path / "profile")
    try:
        with served(build_intake_app(Settings(), store, publisher)) as base:
            refused, accepted = asyncio.run(fill_and_submit(websocket_url, f"{base}/referrals/new", token, shots))
    finally:
        stop_process_group(browser)

    assert "There is a problem with this referral" in refused
    assert 'id="f-exploitation_types-error"' in refused
    assert 'id="f-subjects-0-given_name-error"' in refused and "duty to notify" in refused
    assert token not in refused

    receipt = store.receipt("browser-partner", "BROWSER-1")
    assert receipt is not None and "Referral received" in accepted and receipt.reference in accepted
    [referral] = publisher.published
    assert referral.subjects[0].given_name == "Ana" and referral.subjects[0].phones == ["07700 900123"]
    assert referral.consent_to_share and referral.exploitation_types == ["labour"]
    print(f"\nscreenshots: {shots / 'intake-form-errors.png'} {shots / 'intake-form-receipt.png'}")
    assert (shots / "intake-form-receipt.png").stat().st_size > 10_000
