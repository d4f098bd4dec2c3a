"""The dashboard over HTTP (aiohttp's test client, a real SQLite database): sign-in, CSRF, scope, the case file,
decisions and the s.62 log. The browser test drives the same pages in Chromium over the real broker."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.dashboard_helpers import PASSWORD, Desk, desk, seed_alert
from toex_stream.entry.dashboard import SESSION_COOKIE, SIGNIN_CSRF_COOKIE, build_dashboard_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def run(work: Callable[[TestClient, Desk], Awaitable[Any]], tmp_path: Path, public_url: str | None = None) -> Any:
    office = desk(tmp_path, public_url)
    office.add_user("ana-em", scope="EMSOU")
    office.add_user("lon-1", scope="LONDON")
    office.add_user("sup-em", role="supervisor", scope="EMSOU")

    async def main() -> Any:
        app = build_dashboard_app(office.settings, office.casework, office.users)
        async with TestClient(TestServer(app)) as client:
            return await work(client, office)

    return asyncio.run(main())


async def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in as ``name``; the CSRF token of the session's forms."""
    page = await (await client.get("/signin")).text()
    answer = await client.post("/signin", data={"name": name, "password": password,
                                                "csrf_token": CSRF.search(page)[1]}, allow_redirects=False)
    assert answer.status == 303, await answer.text()
    queue = await (await client.get("/")).text()
    return CSRF.search(queue)[1]


def test_signed_out_pages_redirect_to_the_sign_in_and_the_rest_is_refused(tmp_path):
    async def work(client: TestClient, _: Desk) -> None:
        for path in ("/", "/alerts/A-1"):
            answer = await client.get(path, allow_redirects=False)
            assert (answer.status, answer.headers["Location"]) == (303, "/signin")
        assert (await client.get("/live", allow_redirects=False)).status == 401
        assert (await client.get("/fragments/queue", allow_redirects=False)).status == 401
        assert (await client.post("/alerts/A-1/acknowledge", data={}, allow_redirects=False)).status == 401

    run(work, tmp_path)


def test_the_session_cookie_is_http_only_strict_and_secure_behind_tls(tmp_path):
    async def work(client: TestClient, _: Desk) -> None:
        form = await client.get("/signin")
        signin_cookie = form.cookies[SIGNIN_CSRF_COOKIE]
        assert signin_cookie["httponly"] and signin_cookie["samesite"] == "Strict" and signin_cookie["secure"]
        # The test client is plain http, so it keeps no Secure cookie: send it as a browser on https would.
        answer = await client.post("/signin", data={"name": "ana-em", "password": PASSWORD,
                                                    "csrf_token": CSRF.search(await form.text())[1]},
                                   headers={"Cookie": f"{SIGNIN_CSRF_COOKIE}={signin_cookie.value}"},
                                   allow_redirects=False)
        cookie = answer.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["secure"]
        assert cookie.value not in answer.headers.get("Location", "")
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]

    run(work, tmp_path, public_url="https://toex.example.police.uk")


def test_a_wrong_password_is_refused_without_saying_which_and_locks_after_five(tmp_path):
    async def work(client: TestClient, _: Desk) -> None:
        for _ in range(5):
            page = await (await client.get("/signin")).text()
            answer = await client.post("/signin", data={"name": "ana-em", "password": "wrong password here",
                                                        "csrf_token": CSRF.search(page)[1]}, allow_redirects=False)
            assert answer.status == 401 and "wrong user name or password" in await answer.text()
        page = await (await client.get("/signin")).text()
        answer = await client.post("/signin", data={"name": "ana-em", "password": PASSWORD,
                                                    "csrf_token": CSRF.search(page)[1]}, allow_redirects=False)
        assert answer.status == 401  # locked, though the password is right

    run(work, tmp_path)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-1")
        assert (await client.post("/signin", data={"name": "ana-em", "password": PASSWORD},
                                  allow_redirects=False)).status == 403
        csrf = await sign_in(client, "ana-em")
        for data in ({"reason": "triage"}, {"reason": "triage", "csrf_token": "0" * 64}):
            answer = await client.post("/alerts/A-1/acknowledge", data=data, allow_redirects=False)
            assert answer.status == 403
        assert office.outbox.alert_details("A-1")["status"] == "open"
        answer = await client.post("/alerts/A-1/acknowledge", data={"reason": "triage", "csrf_token": csrf},
                                   allow_redirects=False)
        assert answer.status == 303 and office.outbox.alert_details("A-1")["status"] == "acknowledged"

    run(work, tmp_path)


def test_the_queue_shows_my_regions_alerts_critical_first_and_another_regions_alert_is_a_404(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-EM-HIGH", band="high")
        seed_alert(office, "A-EM-CRIT", band="critical")
        seed_alert(office, "A-LON", region="LONDON")
        await sign_in(client, "ana-em")
        queue = await (await client.get("/")).text()
        assert queue.index("A-EM-CRIT") < queue.index("A-EM-HIGH") and "A-LON" not in queue
        assert "Ion" not in queue and "Lungu" not in queue  # no personal data in the queue
        assert (await client.get("/alerts/A-LON")).status == 404
        assert (await client.get("/alerts/NO-SUCH")).status == 404
        assert (await client.post("/alerts/A-LON/reason", data={"reason": "x", "csrf_token": "y"})).status == 403
        filtered = await (await client.get("/", params={"band": "critical"})).text()
        assert "A-EM-CRIT" in filtered and "A-EM-HIGH" not in filtered

    run(work, tmp_path)


def test_opening_an_alert_asks_why_once_and_every_look_is_a_consultation_with_who_and_why(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-1")
        csrf = await sign_in(client, "ana-em")
        first = await (await client.get("/alerts/A-1")).text()
        assert "Why do you open A-1?" in first and "Lungu" not in first
        assert office.consultations("A-1") == []
        answer = await client.post("/alerts/A-1/reason", data={"reason": "weekly triage", "csrf_token": csrf},
                                   allow_redirects=False)
        assert answer.status == 303
        assert office.consultations("A-1") == []  # the reason is kept; the look is logged when the page shows
        page = await (await client.get("/alerts/A-1")).text()
        await client.get("/alerts/A-1")  # a second look: not asked again, logged again with the same reason
        assert "Ion Lungu" in page and "Maria Pop" in page
        assert 'class="plus"' in page and "given_name: exact" in page  # the waterfall
        assert "<line x1=" in page and "named together" in page  # the network
        assert "graded" not in page or "3x5x2" in page
        looks = office.consultations("A-1")
        assert [(c.actor, c.action, c.why) for c in looks] == [("ana-em", "alert.read", "weekly triage")] * 2
        assert all(c.at is not None for c in looks)

    run(work, tmp_path)


def test_an_adverts_text_comes_back_with_its_indicator_terms_marked_for_who_consulted_the_alert(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-1")
        csrf = await sign_in(client, "ana-em")
        url = "/fragments/alerts/A-1/event"
        assert (await client.get(url, params={"event": "toex.adverts:board:a-1"})).status == 403  # not consulted
        await client.post("/alerts/A-1/reason", data={"reason": "triage", "csrf_token": csrf})
        text = await (await client.get(url, params={"event": "toex.adverts:board:a-1"})).text()
        assert '<mark class="term cat-newness_touring"' in text and ">New in town</mark>" in text
        assert "third_party" in text or "Young and fresh</mark>" in text
        assert (await client.get(url, params={"event": "toex.adverts:board:other"})).status == 404

    run(work, tmp_path)


def test_acknowledge_assign_comment_and_close_go_through_the_lifecycle_and_the_s62_log(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-1")
        csrf = await sign_in(client, "ana-em")
        post = client.post
        assert (await post("/alerts/A-1/assign", data={"to": "lon-1", "reason": "r", "csrf_token": csrf})).status == 400
        for action, data in (("acknowledge", {"reason": "mine"}), ("assign", {"to": "sup-em", "reason": "lead"}),
                             ("comment", {"text": "phoned the partner"}),
                             ("close", {"outcome": "safeguarded", "note": "", "reason": "victims safe"})):
            answer = await post(f"/alerts/A-1/{action}", data={**data, "csrf_token": csrf}, allow_redirects=False)
            assert answer.status == 303, (action, await answer.text())
        details = office.outbox.alert_details("A-1")
        assert (details["status"], details["outcome"], details["assignee"]) == ("closed", "safeguarded", "sup-em")
        assert sorted(f.nominal_id for _, f in office.published) == ["NHP-N-a-1-1", "prov-a-1-2"]
        assert {f.outcome for _, f in office.published} == {"safeguarded"}
        # Assigned to someone else now, the alert is not theirs: they say why they look, once.
        assert "Why do you open A-1?" in await (await client.get("/alerts/A-1")).text()
        await post("/alerts/A-1/reason", data={"reason": "check the closing", "csrf_token": csrf})
        page = await (await client.get("/alerts/A-1")).text()
        for shown in ("alert.acknowledged", "alert.assigned", "alert.commented", "alert.closed", "phoned the partner"):
            assert shown in page

    run(work, tmp_path)


def test_an_export_is_a_disclosure_logged_with_recipient_and_purpose_and_only_for_who_may_handle_it(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        seed_alert(office, "A-1")
        seed_alert(office, "A-LON", region="LONDON")
        csrf = await sign_in(client, "ana-em")
        refused = await client.post("/alerts/A-1/export", data={"recipient": "Northants MSHT team", "purpose": " ",
                                                                "csrf_token": csrf})
        assert refused.status == 400 and "Lungu" not in await refused.text()
        assert (await client.post("/alerts/A-LON/export", data={"recipient": "x", "purpose": "y",
                                                                 "csrf_token": csrf})).status == 404
        assert (await client.post("/alerts/A-1/export", data={"recipient": "x", "purpose": "y"})).status == 403
        assert office.consultations("A-1", "disclosure") == []
        answer = await client.post("/alerts/A-1/export", data={
            "recipient": "Northants  MSHT team", "purpose": "joint visit on Friday", "csrf_token": csrf})
        assert answer.status == 200, await answer.text()
        assert answer.headers["Content-Disposition"] == 'attachment; filename="A-1.json"'
        assert answer.headers["Cache-Control"] == "no-store"
        case = json.loads(await answer.text())
        assert case["marking"] == "OFFICIAL-SENSITIVE" and case["alert"]["alert_id"] == "A-1"
        assert case["exported"]["to"] == "Northants MSHT team" and case["exported"]["by"] == "ana-em"
        assert [p["name"] for p in case["people"]] == ["Ion Lungu", "Maria Pop"]
        first = case["people"][0]["match_decisions"][0]
        assert (first["prior_weight"], first["weights"][0]["field"], first["candidates"]) == (-9.2, "given_name", 3)
        assert [e["source"] for e in case["events"]] == ["referral", "advert"]
        (logged,) = office.consultations("A-1", "disclosure")
        assert (logged.actor, logged.action, logged.why) == ("ana-em", "alert.exported", "joint visit on Friday")
        assert "to Northants MSHT team" in logged.what and "Lungu" not in logged.what and logged.at is not None
        assert office.consultations("A-1") == []  # an export is a disclosure, not also a look

    run(work, tmp_path)


def test_the_live_stream_says_when_an_alert_in_my_regions_arrives(tmp_path):
    async def work(client: TestClient, office: Desk) -> None:
        await sign_in(client, "ana-em")
        answer = await client.get("/live")
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        assert (await answer.content.readuntil(b"\n\n")).startswith(b"retry:")
        await asyncio.to_thread(seed_alert, office, "A-NEW")
        event = await asyncio.wait_for(answer.content.readuntil(b"\n\n"), timeout=10)
        assert event.startswith(b"event: change")
        answer.close()
        assert "A-NEW" in await (await client.get("/fragments/queue")).text()

    run(work, tmp_path)


