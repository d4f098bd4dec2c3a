"""A storm in one channel never delays a first post: priorities, coalesced updates, a fair share per channel.

On SQLite and PostgreSQL (the ``outbox`` fixture), with the real sender and a
recording channel; the wall-clock version with Slack's one message a second is
``benchmarks/alert_storm.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from toex_stream.adapters.senders import OutboxSender
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.outbox_models import OutboxRow
from toex_stream.domain.clock import utc_now
from toex_stream.ports.alerts import DeliveryResult, OutboxItem

RECEIVER = "rocuwm-slack"


class Channel:
    """Records what is sent, in order, as (kind, alert id, version); may act after the n-th message."""

    def __init__(self, after: dict[int, Callable[[], None]] | None = None) -> None:
        self.sent: list[tuple[str, str, int]] = []
        self.after = after or {}

    async def send(self, item: OutboxItem) -> DeliveryResult:
        self.sent.append((item.kind, item.alert_id, item.version))
        if len(self.sent) in self.after:
            self.after[len(self.sent)]()
        return DeliveryResult(ok=True, slack_channel="C0RWM", slack_ts=f"{len(self.sent)}.000000")


def storm(outbox: Outbox, updates: int, posts: int) -> dt.datetime:
    """One alert already in the channel and changing fast, then new alerts: what a burst leaves queued."""
    now = utc_now()
    outbox.enqueue("A-BUSY", RECEIVER, "post", 0, {"text": "busy"}, now, band="high")
    for version in range(1, updates + 1):
        outbox.enqueue("A-BUSY", RECEIVER, "update", version, {"text": f"busy v{version}"}, now)
    for n in range(posts):
        outbox.enqueue(f"A-NEW-{n:02d}", RECEIVER, "post", 0, {"text": "new"}, now, band="high")
    return now


def test_critical_first_posts_go_first_then_first_posts_then_one_update_per_alert(outbox: Outbox) -> None:
    storm(outbox, updates=40, posts=5)
    outbox.enqueue("A-CHILD", RECEIVER, "post", 0, {"text": "critical"}, utc_now(), band="critical")
    channel = Channel()
    delivered = asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())

    assert channel.sent[0] == ("post", "A-CHILD", 0), "the critical first post, queued last, went first"
    first_posts = ["A-BUSY"] + [f"A-NEW-{n:02d}" for n in range(5)]
    assert [a for kind, a, _ in channel.sent[1:7] if kind == "post"] == first_posts
    # Forty updates of one alert, none sent yet: the channel gets the latest state once.
    assert [(kind, a, v) for kind, a, v in channel.sent if kind == "update"] == [("update", "A-BUSY", 40)]
    assert delivered == len(channel.sent) == 8
    with Session(outbox.engine) as session:
        superseded = session.execute(select(OutboxRow.version, OutboxRow.superseded_by)
                                     .where(OutboxRow.superseded_by.is_not(None))).all()
        latest = session.scalar(select(OutboxRow.id).where(OutboxRow.version == 40))
    assert sorted(v for v, _ in superseded) == list(range(1, 40)) and {by for _, by in superseded} == {latest}
    assert outbox.backlog(utc_now()).pending == 0
    # Only what went out is in the s.62 log's chat deliveries; the superseded updates reached nobody.
    assert len(outbox.audit_log("A-BUSY")) == 2


def test_a_first_post_queued_during_a_storm_is_next_after_the_messages_in_hand(outbox: Outbox) -> None:
    storm(outbox, updates=0, posts=30)
    at = 4  # while the fourth message goes out, a critical alert is queued

    def late_alert() -> None:
        outbox.enqueue("A-LATE", RECEIVER, "post", 0, {"text": "critical"}, utc_now(), band="critical")

    channel = Channel(after={at: late_alert})
    sender = OutboxSender(outbox, {RECEIVER: channel})
    asyncio.run(sender.run_once())
    position = channel.sent.index(("post", "A-LATE", 0)) + 1
    # The round in hand holds at most per_receiver_round messages: then the queue is read again.
    assert position <= at + sender.per_receiver_round, channel.sent[:10]
    assert len(channel.sent) == 32


def test_one_busy_channel_does_not_fill_the_batch(outbox: Outbox) -> None:
    storm(outbox, updates=0, posts=120)
    outbox.enqueue("A-OTHER", "nwrocu-teams", "post", 0, {"text": "other"}, utc_now(), band="high")
    due = outbox.due(utc_now(), limit=100, per_receiver=3)
    assert [item.receiver for item in due].count(RECEIVER) == 3
    assert "A-OTHER" in {item.alert_id for item in due}
    assert len(outbox.due(utc_now(), limit=100)) == 100  # uncapped, the busy channel fills it


def test_an_alert_merged_away_before_its_first_post_is_never_posted_and_one_already_posted_is_told(
        outbox: Outbox) -> None:
    now = utc_now()
    outbox.enqueue("A-POSTED", RECEIVER, "post", 0, {"text": "posted"}, now, band="high")
    channel = Channel()
    asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())
    assert channel.sent == [("post", "A-POSTED", 0)]
    # A burst: two more alerts queued, then A-GONE and A-POSTED merged into A-LIVES before A-GONE's post went.
    for alert_id in ("A-GONE", "A-LIVES"):
        outbox.enqueue(alert_id, RECEIVER, "post", 0, {"text": alert_id}, now, band="high")
    for alert_id in ("A-GONE", "A-POSTED"):
        outbox.enqueue(alert_id, RECEIVER, "update", 1, {"text": "merged into A-LIVES", "withdraws_post": True}, now)
    asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())
    assert [m for m in channel.sent if m[1] == "A-GONE"] == [], "never posted: its team gets A-LIVES instead"
    assert ("update", "A-POSTED", 1) in channel.sent, "the team that saw it is told it merged"
    assert ("post", "A-LIVES", 0) in channel.sent
    with Session(outbox.engine) as session:
        rows = {r.kind: r for r in session.scalars(select(OutboxRow).where(OutboxRow.alert_id == "A-GONE"))}
    assert rows["post"].superseded_by == rows["update"].id == rows["update"].superseded_by
    assert outbox.backlog(utc_now()).pending == 0 and outbox.audit_log("A-GONE") == []


def test_a_quiet_edit_never_swallows_an_update_that_tells_the_team(outbox: Outbox) -> None:
    now = utc_now()
    outbox.enqueue("A-1", RECEIVER, "post", 0, {"text": "posted"}, now, band="high")
    channel = Channel()
    asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())
    # While the channel is busy: the band rises (a reply), then the situation grows twice (quiet edits).
    outbox.enqueue("A-1", RECEIVER, "update", 2, {"text": "v2", "reply": {"text": "band critical"}}, now)
    outbox.enqueue("A-1", RECEIVER, "update", 3, {"text": "v3", "quiet": True}, now)
    outbox.enqueue("A-1", RECEIVER, "update", 4, {"text": "v4", "quiet": True}, now)
    asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())
    assert channel.sent[1:] == [("update", "A-1", 2), ("update", "A-1", 4)], "the reply goes; one edit after it"
    # Two that tell, then a quiet one: the later that tells replaces the earlier; the edit follows it.
    for version, payload in ((5, {"text": "v5", "reply": {"text": "new victim"}}),
                             (6, {"text": "v6", "reply": {"text": "band critical"}}),
                             (7, {"text": "v7", "quiet": True})):
        outbox.enqueue("A-1", RECEIVER, "update", version, payload, now)
    asyncio.run(OutboxSender(outbox, {RECEIVER: channel}).run_once())
    assert channel.sent[3:] == [("update", "A-1", 6), ("update", "A-1", 7)]
