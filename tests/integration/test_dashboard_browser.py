"""The regional team's dashboard in headless Chromium (JavaScript on) over the real broker and worker.

A team member signs in and watches the queue; a partner's referral about a
child and a controller's advert reach the worker, which raises a critical
alert, and the queue shows it without a reload. They open it (saying why),
see the match waterfalls, the advert's indicator terms and the network,
acknowledge, assign and close it with an outcome, and the outcome is on
toex.feedback. Another region's user gets a 404; signed out, a page
redirects; a form without its CSRF token is refused. axe-core (the pinned
copy in tests/e2e/vendor) finds no serious or critical violation on the
sign-in, queue and alert pages; every look at the alert is in the s.62 log
with who, when and why. Screenshots are kept in test-artefacts/dashboard.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import aiohttp
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser import Page, serious_accessibility_violations, start_browser
from tests.conftest import ROOT, example
from tests.figures import figures
from tests.intake_helpers import served
from tests.integration.conftest import send
from toex_stream.adapters.kafka_io import TopicReader, durable_producer
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import AuditChainRow
from toex_stream.adapters.sql.outbox_models import AlertRow
from toex_stream.adapters.sql.store import build_engine, migrate
from toex_stream.adapters.sql.users import Users
from toex_stream.domain import contract
from toex_stream.domain.access import parse_scope
from toex_stream.entry.dashboard_cli import build_app
from toex_stream.tools.processes import stop_process_group

PASSWORD = "correct horse battery staple"
SHOTS = ROOT / "test-artefacts" / "dashboard"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def events(tag: str, phone: str) -> tuple[dict, dict]:
    """A referral naming a controller and a child beside him in Nottingham, and his advert on the same phone."""
    referral = example("referral") | {
        "referral_id": f"DASH-{tag}", "exploitation_types": ["sexual"], "subject_is_child": True,
        "locations": [{"text": "Nottingham", "postcode": None, "town": "Nottingham"}],
        "narrative": "She is 15 and he keeps her phone.",
        "subjects": [
            {"given_name": "Bogdan", "family_name": f"Dashtest{tag[:6]}", "role": "suspect", "phones": [phone],
             "gender": "male", "date_of_birth": "1984-02-03"},
            {"given_name": "Ilinca", "family_name": f"Dashvictim{tag[:6]}", "role": "potential_victim", "age": 15,
             "gender": "female"},
        ]}
    advert = example("advert") | {
        "advert_id": f"dash-{tag}", "phones": [phone], "title": "New in town - Nottingham",
        "body": "Just arrived, young and fresh. Outcalls only, my friend drives.",
        "location": {"text": "Nottingham", "postcode": None, "town": "Nottingham"}}
    return referral, advert


def alert_carrying(settings: Settings, event_key: str, timeout: float = 60.0) -> str:
    engine = build_engine(settings)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                for row in session.scalars(select(AlertRow).where(AlertRow.status == "open")):
                    if any(f"{r['topic']}:{r['key']}" == event_key for r in row.event_refs):
                        return row.alert_id
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise AssertionError(f"no alert carried {event_key} within {timeout:.0f} s")


async def sign_in(page: Page, base: str, name: str) -> None:
    await page.loaded(page.call("Page.navigate", url=f"{base}/signin"))
    await page.type("#name", name)
    await page.type("#password", PASSWORD)
    await page.loaded(page.click("button[type=submit]"))


async def journey(websocket_url: str, base: str, settings: Settings, tag: str, shots: Path) -> dict:
    seen: dict = {"axe": {}}
    async with aiohttp.ClientSession() as session, session.ws_connect(websocket_url, max_msg_size=0) as socket:
        page = Page(socket)
        await page.call("Page.enable")
        await page.call("Emulation.setDeviceMetricsOverride", width=1200, height=2400, deviceScaleFactor=1,
                        mobile=False)
        await page.loaded(page.call("Page.navigate", url=f"{base}/"))
        seen["signed_out_lands_on"] = await page.evaluate("location.pathname")
        seen["axe"]["signin"] = await serious_accessibility_violations(page)
        await page.screenshot(shots / "1-signin.png")
        await sign_in(page, base, "dash-em")
        seen["axe"]["queue"] = await serious_accessibility_violations(page)

        # A new critical alert arrives while the queue is open: it appears without the page reloading.
        await page.evaluate("window.stillTheSamePage = true")
        referral, advert = events(tag, f"+4477009{int(uuid.uuid4().hex[:5], 16) % 100000:05d}")
        producer = durable_producer(settings.kafka_bootstrap)
        send(producer, contract.TOPIC_ADVERTS, advert)
        send(producer, contract.TOPIC_REFERRALS, referral)
        alert_id = await asyncio.to_thread(alert_carrying, settings,
                                           f"{contract.TOPIC_REFERRALS}:{referral['partner_id']}:{referral['referral_id']}")
        try:
            await page.wait_for(f"document.querySelector('#queue a[href=\"/alerts/{alert_id}\"]')", 30,
                                "the new alert in the live queue")
        except AssertionError:
            await page.screenshot(shots / "2-queue-live-failed.png")
            status = await page.evaluate("document.querySelector('#live-status').textContent")
            queue = await page.evaluate("document.querySelector('#queue').textContent")
            raise AssertionError(f"{alert_id} not in the live queue; live status {status!r}; queue {queue!r}") from None
        seen["alert_id"] = alert_id
        seen["no_reload"] = await page.evaluate("window.stillTheSamePage === true")
        await page.screenshot(shots / "2-queue-live.png")

        # Open it: not assigned to them, so they say why first.
        await page.loaded(page.click(f"#queue a[href=\"/alerts/{alert_id}\"]"))
        seen["asked_why"] = "Why do you open" in await page.html()
        await page.type("#reason", "triage of a new critical alert")
        await page.loaded(page.click("main button[type=submit]"))
        try:
            await page.wait_for("document.querySelector('mark.term')", 20, "the advert's indicator terms")
        except AssertionError:
            await page.screenshot(shots / "3-alert-failed.png")
            shown = await page.evaluate("document.querySelector('.timeline').innerText")
            raise AssertionError(f"no indicator terms on the alert page; its events: {shown!r}") from None
        seen["alert_page"] = await page.html()
        seen["axe"]["alert"] = await serious_accessibility_violations(page)
        await page.screenshot(shots / "3-alert.png")

        for action, fill in (("acknowledge", {"#ack-reason": "taking it"}),
                             ("assign", {"#assign-reason": "lead to own it"}),
                             ("close", {"#close-reason": "child safeguarded", "#close-note": "placed with carers"})):
            for selector, text in fill.items():
                await page.type(selector, text)
            if action == "assign":
                await page.evaluate("document.querySelector('#assign-to').value = 'dash-lead'")
            if action == "close":
                await page.evaluate("document.querySelector('#close-outcome').value = 'safeguarded'")
            await page.loaded(page.click(f"form[action$='/{action}'] button[type=submit]"))
            seen[action] = await page.evaluate("(document.querySelector('.done') || {}).textContent || ''")
        await page.screenshot(shots / "4-closed.png")
    return seen


async def outside_checks(base: str, alert_id: str) -> dict:
    # unsafe: keep cookies from an IP address (the dashboard listens on 127.0.0.1), as a browser does.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        out = {"signed_out": (await client.get(f"{base}/alerts/{alert_id}", allow_redirects=False)).status}
        form = await (await client.get(f"{base}/signin")).text()
        queue = await client.post(f"{base}/signin", data={"name": "dash-ldn", "password": PASSWORD,
                                                          "csrf_token": CSRF.search(form)[1]})
        out["signed_in_as_london"] = "dash-ldn (analyst, LONDON)" in await queue.text()
        out["other_region"] = (await client.get(f"{base}/alerts/{alert_id}")).status
        out["without_csrf"] = (await client.post(f"{base}/alerts/{alert_id}/comment", data={"text": "x"})).status
    return out


def test_a_team_member_reviews_a_live_alert_in_chromium_and_its_outcome_reaches_feedback(worker, kafka, tmp_path):
    settings: Settings = kafka
    engine = build_engine(settings)
    migrate(engine)
    users = Users(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    for name, role, scope in (("dash-em", "analyst", "EMSOU"), ("dash-lead", "supervisor", "EMSOU"),
                              ("dash-ldn", "analyst", "LONDON")):
        if users.get(name) is None:
            users.add(name, role, parse_scope(scope), password=PASSWORD)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:10]
    browser, websocket_url = start_browser(tmp_path / "profile")
    feedback = TopicReader(settings.kafka_bootstrap, [contract.TOPIC_FEEDBACK], start="end")
    try:
        with served(build_app(settings)) as base:
            seen = asyncio.run(journey(websocket_url, base, settings, tag, SHOTS))
            outside = asyncio.run(outside_checks(base, seen["alert_id"]))
        outcomes = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not outcomes:
            outcomes = [json.loads(m.value()) for m in feedback.poll(1.0) if m.error() is None]
            outcomes = [o for o in outcomes if o["alert_id"] == seen["alert_id"]]
    finally:
        feedback.close()
        stop_process_group(browser)

    alert_id = seen["alert_id"]
    assert seen["signed_out_lands_on"] == "/signin"
    assert seen["no_reload"], "the queue reloaded instead of updating live"
    assert seen["asked_why"]
    page = seen["alert_page"]
    assert 'class="plus"' in page and "phone: a number in common" in page  # a match waterfall
    assert '<mark class="term' in page and "newness_touring" in page  # indicator terms, with their category
    assert re.search(r'<g class="node role-suspected_controller">', page) and "<line " in page  # the network
    assert "Ilinca" in page  # the people, on a page that is a consultation
    assert [seen["acknowledge"], seen["assign"], seen["close"]] == [
        "Done: acknowledged.", "Done: assigned.", "Done: closed."]
    assert {o["outcome"] for o in outcomes} == {"safeguarded"} and {o["analyst_id"] for o in outcomes} == {"dash-em"}
    assert outside == {"signed_out": 303, "signed_in_as_london": True, "other_region": 404, "without_csrf": 403}
    for name, violations in seen["axe"].items():
        assert violations == [], f"axe-core on the {name} page: {violations}"
    with Session(engine) as session:
        looks = list(session.scalars(select(AuditChainRow).where(AuditChainRow.subject == alert_id,
                                                                 AuditChainRow.category == "consultation")))
    # The page after the reason, and after each of the three decisions: four looks, each with who and why
    # (while the alert was theirs, after acknowledging it, the reason is that it was assigned to them).
    why = "triage of a new critical alert"
    assert [(r.actor, r.action, r.why) for r in looks] == [
        ("dash-em", "alert.read", reason) for reason in (why, "assigned to me", why, why)]
    assert all(r.at is not None for r in looks)
    engine.dispose()
    figures.info("screenshots: %s", SHOTS)
