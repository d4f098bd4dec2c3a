"""Alert delivery through the durable outbox to a Slack-compatible server, on SQLite and PostgreSQL.

The server (``tests.fake_slack``) implements the Web API methods the sender
uses and fails on demand: these tests show that every alert reaches its
channel exactly once whatever the server and the sender go through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from tests.fake_slack import FakeSlack
from toex_stream.adapters.senders import (
    ChannelPacer,
    OutboxSender,
    SlackNotifier,
    build_notifiers,
    build_slack_client,
)
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import entries
from toex_stream.adapters.sql.outbox import Backlog, Outbox
from toex_stream.domain.alerting.messages import MARKING, render, slack_alert, slack_update, teams_alert
from toex_stream.domain.alerting.routes import Receiver
from toex_stream.domain.contract import Alert, EventRef, Reason

CHANNEL = "C0ERSOU01"
RECEIVER = "ersou-slack"
ROUTE = "region=ERSOU"
AT = dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.timezone.utc)
DELIVERY_TIMEOUT_S = 20.0


def make_alert(number: int, band: str = "high") -> Alert:
    return Alert(
        schema_version=1,
        alert_id=f"ALERT-{number:04d}",
        created_at=AT,
        region="ERSOU",
        force_code="kent",
        threat="msht",
        band=band,  # type: ignore[arg-type]  # text, as tests write it; pydantic checks it
        risk_score=0.82,
        nominal_ids=[f"KNT-N-{number}", "KNT-N-900"],
        event_refs=[EventRef(topic="toex.adverts", key=f"adfeed:{number}-{i}") for i in range(5)],
        reasons=[
            Reason(feature="phone_towns_7d", contribution=0.41, text="one phone in adverts in 4 towns this week"),
            Reason(feature="indicator_hits", contribution=0.22, text="advert wording: third-party control"),
            Reason(feature="intel_grading", contribution=0.12, text="graded intelligence (2/B) links the phone"),
            Reason(feature="linked_events", contribution=0.05, text="5 linked events"),
        ],
        model_version="logreg-2026-11-01",
    )


def sender(slack: FakeSlack, outbox: Outbox, interval: float = 0.1, channel: str = CHANNEL) -> OutboxSender:
    """A sender with short backoff; ``interval`` is the pacing per channel (Slack's is 1 s)."""
    client = build_slack_client(Settings(slack_bot_token="xoxb-test", slack_api_url=slack.api_url), timeout=2)
    notifier = SlackNotifier(client, channel, ChannelPacer(interval))
    return OutboxSender(outbox, {RECEIVER: notifier}, backoff_base_s=0.05, backoff_max_s=0.5)


def queue_alert(outbox: Outbox, alert: Alert) -> None:
    outbox.save_alert(alert)
    assert outbox.enqueue(alert.alert_id, RECEIVER, "post", 0, slack_alert(alert), AT, route=ROUTE)


def deliver_all(outbox_sender: OutboxSender, timeout: float = DELIVERY_TIMEOUT_S) -> int:
    """Run the sender until the outbox is empty; how many items it delivered."""

    async def run() -> int:
        delivered = 0
        deadline = asyncio.get_running_loop().time() + timeout
        while outbox_sender.outbox.pending_count():
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"outbox not empty after {timeout}s: {outbox_sender.outbox.items()}")
            delivered += await outbox_sender.run_once()
            await asyncio.sleep(0.05)
        return delivered

    return asyncio.run(run())


# -- (a) a failing server ------------------------------------------------------------------------


def test_every_alert_is_posted_exactly_once_after_the_server_recovers(outbox: Outbox, slack: FakeSlack) -> None:
    alerts = [make_alert(n) for n in range(1, 4)]
    for alert in alerts:
        queue_alert(outbox, alert)
    slack.fail_next(3, status=500)
    slack.rate_limit_next(1, retry_after=1)

    assert deliver_all(sender(slack, outbox)) == 3

    for alert in alerts:
        posts = slack.alert_posts(alert.alert_id)
        assert len(posts) == 1, alert.alert_id
        (item,) = outbox.items(alert.alert_id)
        assert (item.slack_channel, item.slack_ts) == (CHANNEL, posts[0]["ts"])
    assert len(slack.top_level(CHANNEL)) == 3
    # The 429 asked for one second: nothing was posted sooner.
    limited = next(i for i, call in enumerate(slack.calls) if call.status == 429)
    assert slack.calls[limited + 1].at - slack.calls[limited].at >= 0.9


def test_an_error_no_retry_cures_is_kept_reported_and_sent_once_fixed(
    outbox: Outbox, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    alert = make_alert(21)
    queue_alert(outbox, alert)
    slack.fail_next(1, status=200, error="not_in_channel", methods=("chat.postMessage",))
    outbox_sender = sender(slack, outbox)
    now = dt.datetime.now(dt.timezone.utc)

    assert asyncio.run(outbox_sender.run_once(now)) == 0
    (item,) = outbox.items(alert.alert_id)
    assert item.delivered_at is None and "not_in_channel" in (item.last_error or "")
    # Kept, and tried again only at the longest backoff: hammering Slack cures nothing.
    assert item.not_before >= now + dt.timedelta(seconds=outbox_sender.backoff_max_s)
    assert any(r.levelname == "ERROR" and "invite the bot" in r.getMessage() for r in caplog.records)
    backlog = outbox.backlog(now + dt.timedelta(seconds=5))
    assert (backlog.pending, backlog.failing) == (1, 1) and backlog.oldest_pending_s >= 5

    # Someone invites the bot; the next try after the backoff posts it once.
    later = now + dt.timedelta(seconds=outbox_sender.backoff_max_s + 1)
    assert asyncio.run(outbox_sender.run_once(later)) == 1
    assert len(slack.alert_posts(alert.alert_id)) == 1
    assert outbox.backlog(later) == Backlog(pending=0, failing=0, oldest_pending_s=0.0)


def test_a_post_whose_answer_was_lost_is_found_in_the_channel_not_posted_again(
    outbox: Outbox, slack: FakeSlack
) -> None:
    alert = make_alert(7)
    queue_alert(outbox, alert)
    slack.fail_next(1, status=500, store_first=True, methods=("chat.postMessage",))

    deliver_all(sender(slack, outbox))

    assert len(slack.alert_posts(alert.alert_id)) == 1
    assert len(slack.successful_calls("conversations.history")) == 1
    (item,) = outbox.items(alert.alert_id)
    assert item.slack_ts == slack.alert_posts(alert.alert_id)[0]["ts"]
    assert item.attempts == 2


# -- (b) a sender killed between posting and recording -----------------------------------------------


class KilledAfterPosting(Outbox):
    """An outbox whose process dies when it would record a delivery."""

    def mark_delivered(self, *args: object, **kwargs: object) -> bool:
        raise SystemExit("killed between posting and marking delivered")


@pytest.mark.parametrize("channel", [CHANNEL, "#toex-ersou"], ids=["channel-id", "channel-name"])
def test_a_sender_killed_after_posting_does_not_post_twice(
    store_engine: Engine, outbox: Outbox, slack: FakeSlack, channel: str
) -> None:
    alert = make_alert(11)
    queue_alert(outbox, alert)
    with pytest.raises(SystemExit):
        asyncio.run(sender(slack, KilledAfterPosting(store_engine), channel=channel).run_once())
    assert len(slack.alert_posts(alert.alert_id)) == 1
    (item,) = outbox.items(alert.alert_id)
    assert item.delivered_at is None and item.attempts == 1

    restarted = sender(slack, Outbox(store_engine), channel=channel)
    assert deliver_all(restarted) == 1

    assert len(slack.alert_posts(alert.alert_id)) == 1
    assert len(slack.successful_calls("chat.postMessage")) == 1
    (item,) = outbox.items(alert.alert_id)
    assert item.slack_ts == slack.alert_posts(alert.alert_id)[0]["ts"]
    assert [entry.action for entry in outbox.audit_log(alert.alert_id)] == ["found_existing"]
    if channel.startswith("#"):  # history needs the id: looked up by name after the restart
        assert len(slack.successful_calls("conversations.list")) == 1


# -- (c) updates -----------------------------------------------------------------------------------


def test_an_update_edits_the_post_and_replies_in_its_thread(outbox: Outbox, slack: FakeSlack) -> None:
    alert = make_alert(21)
    queue_alert(outbox, alert)
    raised = alert.model_copy(update={"band": "critical", "status": "acknowledged"})
    update = slack_update(raised, "band raised to critical; acknowledged")
    assert outbox.enqueue(alert.alert_id, RECEIVER, "update", 1, update, AT, route=ROUTE)
    # A replay of the same update queues nothing.
    assert not outbox.enqueue(alert.alert_id, RECEIVER, "update", 1, update, AT, route=ROUTE)
    slack.fail_next(1, status=500, store_first=True, methods=("chat.postMessage",))  # the first post's answer is lost

    assert deliver_all(sender(slack, outbox)) == 2

    (post,) = slack.alert_posts(alert.alert_id)
    assert len(slack.top_level(CHANNEL)) == 1
    assert [call.params["ts"] for call in slack.successful_calls("chat.update")] == [post["ts"]]
    assert post["edits"] == 1 and "CRITICAL" in post["text"]
    (reply,) = slack.replies(post["ts"])
    assert reply["metadata"]["event_payload"] == {"alert_id": alert.alert_id, "version": 1}
    assert "acknowledged" in reply["text"]


def test_a_retried_update_replies_once(outbox: Outbox, slack: FakeSlack) -> None:
    alert = make_alert(22)
    queue_alert(outbox, alert)
    deliver_all(sender(slack, outbox))
    outbox.enqueue(alert.alert_id, RECEIVER, "update", 1, slack_update(alert, "assigned"), AT, route=ROUTE)
    slack.fail_next(1, status=500, store_first=True, methods=("chat.postMessage",))  # the reply's answer is lost

    deliver_all(sender(slack, outbox))

    (post,) = slack.alert_posts(alert.alert_id)
    assert len(slack.replies(post["ts"])) == 1
    assert len(slack.top_level(CHANNEL)) == 1


# -- (d) pacing ------------------------------------------------------------------------------------


def test_one_message_per_second_per_channel(outbox: Outbox, slack: FakeSlack) -> None:
    for number in range(31, 35):
        queue_alert(outbox, make_alert(number))

    deliver_all(sender(slack, outbox, interval=1.0))

    arrivals = [call.at for call in slack.successful_calls("chat.postMessage")]
    assert len(arrivals) == 4
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert min(gaps) >= 0.9, gaps


# -- (e) the audit log -----------------------------------------------------------------------------


def test_each_disclosure_is_audited_once_without_personal_data(outbox: Outbox, slack: FakeSlack) -> None:
    alerts = [make_alert(41), make_alert(42)]
    for alert in alerts:
        queue_alert(outbox, alert)
    outbox.enqueue(alerts[0].alert_id, RECEIVER, "update", 1, slack_update(alerts[0], "closed"), AT, route=ROUTE)
    slack.fail_next(2, status=500)

    deliver_all(sender(slack, outbox))

    audit = outbox.audit_log()
    assert sorted((entry.alert_id, entry.action) for entry in audit) == [
        ("ALERT-0041", "posted"),
        ("ALERT-0041", "updated"),
        ("ALERT-0042", "posted"),
    ]
    for entry in audit:
        assert (entry.receiver, entry.route) == (RECEIVER, ROUTE)
        assert entry.at.tzinfo is not None
        assert "KNT-N" not in entry.what
    assert audit[0].what == "alert card: band, region, threat, risk score, 3 reasons, 5 events"
    # Each delivery is a disclosure in the s.62 log too, written in the delivery's transaction.
    logged = [(e.record.category, e.record.action, e.record.actor, e.record.subject) for e in entries(outbox.engine)]
    assert sorted(logged) == [
        ("disclosure", "chat.posted", "system:sender", "ALERT-0041"),
        ("disclosure", "chat.posted", "system:sender", "ALERT-0042"),
        ("disclosure", "chat.updated", "system:sender", "ALERT-0041"),
    ]


# -- what a message shows --------------------------------------------------------------------------


def test_messages_carry_the_marking_and_no_personal_data(outbox: Outbox) -> None:
    alert = make_alert(51)
    # As a careless producer might: personal data in the ids and event keys.
    alert = alert.model_copy(
        update={
            "nominal_ids": ["Reka KOVACS 1994-03-12"],
            "event_refs": [EventRef(topic="toex.referrals", key="p1:+447700900123")],
        }
    )
    for rendered in (slack_alert(alert), teams_alert(alert)):
        text = json.dumps(rendered, ensure_ascii=False)
        for personal in ("KOVACS", "Reka", "1994-03-12", "07700", "+447700900123"):
            assert personal not in text
        for shown in ("ERSOU", "msht", "HIGH", "ALERT-0051", "0.82", "one phone in adverts in 4 towns"):
            assert shown in text
        assert text.count(MARKING) >= 2
    assert "linked events" not in json.dumps(slack_alert(alert))  # only the top three reasons
    blocks = slack_alert(alert)["blocks"]
    assert MARKING in json.dumps(blocks[0]) and MARKING in json.dumps(blocks[-1])
    assert "Reka KOVACS" in json.dumps(slack_alert(alert, include_personal_data=True))


def test_alert_lifecycle_is_stored(outbox: Outbox) -> None:
    alert = make_alert(61)
    assert outbox.save_alert(alert) is True
    assert outbox.save_alert(alert) is False
    assert outbox.get_alert(alert.alert_id) == alert
    outbox.set_status(alert.alert_id, "acknowledged", assignee="analyst-7")
    assert [a.alert_id for a in outbox.list_alerts(status="acknowledged")] == [alert.alert_id]
    outbox.set_status(alert.alert_id, "closed", outcome="safeguarded")
    details = outbox.alert_details(alert.alert_id)
    assert (details["status"], details["assignee"], details["outcome"]) == ("closed", "analyst-7", "safeguarded")
    assert outbox.list_alerts(status="open") == []


# -- Teams and the log -----------------------------------------------------------------------------


def test_teams_and_log_receivers_deliver_through_the_same_outbox(
    outbox: Outbox, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    receivers = [
        Receiver(name="ersou-teams", kind="teams", webhook_setting="TOEX_TEAMS_WEBHOOK_ERSOU"),
        Receiver(name="dev-log", kind="log"),
    ]
    notifiers = build_notifiers(
        receivers, Settings(), {"TOEX_TEAMS_WEBHOOK_ERSOU": SecretStr(slack.teams_webhook_url)}
    )
    alert = make_alert(71)
    outbox.save_alert(alert)
    for receiver in receivers:
        outbox.enqueue(alert.alert_id, receiver.name, "post", 0, render(receiver.kind, alert), AT, route=ROUTE)
    slack.fail_next(1, status=500, methods=("teams-webhook",))

    with caplog.at_level("INFO", logger="toex_stream.alerts"):
        deliver_all(OutboxSender(outbox, notifiers, backoff_base_s=0.05, backoff_max_s=0.5))

    (card,) = slack.teams_cards
    assert card["attachments"][0]["content"]["type"] == "AdaptiveCard"
    assert "disclosure" not in card and "KNT-N" not in json.dumps(card)
    assert "alert ALERT-0071 band=high region=ERSOU" in caplog.text
    assert sorted(entry.receiver for entry in outbox.audit_log()) == ["dev-log", "ersou-teams"]
