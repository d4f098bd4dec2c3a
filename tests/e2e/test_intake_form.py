"""The referral form in a real browser (Debian's headless Chromium), with JavaScript turned off.

Driven over the Chrome DevTools Protocol (a websocket, aiohttp's client): type
into the fields, click, read the page, take screenshots. No driver package,
and nothing downloaded. Without Chromium the test fails, never skips.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.browser import Page, start_browser
from tests.figures import figures
from tests.intake_helpers import FakePublisher, intake_store, served
from toex_stream.adapters.settings import Settings
from toex_stream.entry.web import build_intake_app
from toex_stream.tools.processes import stop_process_group


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
    figures.info("screenshots: %s %s", shots / "intake-form-errors.png", shots / "intake-form-receipt.png")
    assert (shots / "intake-form-receipt.png").stat().st_size > 10_000
