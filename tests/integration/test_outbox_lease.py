"""The outbox sender's lease on SQLite and PostgreSQL: one holder at a time, even when senders race for it.

Senders on different workers are stood for by threads, each with its own
event loop and database connections. No Kafka broker is needed; the Slack
test posts to ``tests.fake_slack``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter

from sqlalchemy import Engine, select

from tests.fake_slack import FakeSlack
from tests.unit.test_outbox_lease import Clock
from toex_stream.adapters.senders import (
    ChannelPacer,
    DeliveryResult,
    OutboxSender,
    SlackNotifier,
    build_slack_client,
)
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox import SENDER_LEASE, Outbox
from toex_stream.adapters.sql.outbox_models import LeaseRow
from toex_stream.domain.clock import utc_now
from toex_stream.ports.alerts import OutboxItem

CHANNEL = "C0ERSOU01"
RECEIVER = "ersou-slack"
TTL_S = 10.0
RACE_TIMEOUT_S = 60.0


def run_at_once(workers: list[threading.Thread]) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(RACE_TIMEOUT_S)
    assert not any(worker.is_alive() for worker in workers), "a racing sender hung"


# -- the lease itself ------------------------------------------------------------------------------


def test_the_migration_leaves_the_lease_untaken(outbox: Outbox, store_engine: Engine) -> None:
    with store_engine.connect() as connection:
        row = connection.execute(select(LeaseRow)).one()
    assert (row.name, row.holder, row.token, row.expires_at) == (SENDER_LEASE, None, 0, None)


def test_the_lease_goes_to_one_holder_at_a_time_with_a_higher_token_whenever_it_changes_hands(outbox: Outbox) -> None:
    at = utc_now()

    def later(seconds: float) -> dt.datetime:
        return at + dt.timedelta(seconds=seconds)

    assert outbox.acquire_lease("worker-1", TTL_S, at) == 1
    assert outbox.acquire_lease("worker-2", TTL_S, later(1)) is None
    assert outbox.acquire_lease("worker-1", TTL_S, later(5)) == 1  # renewed until 15 s, same token
    assert outbox.renew_lease("worker-1", 1, TTL_S, later(14)) is True  # and again, until 24 s
    assert outbox.acquire_lease("worker-2", TTL_S, later(23)) is None

    assert outbox.acquire_lease("worker-2", TTL_S, later(24)) == 2  # lapsed at 24 s: taken over
    assert outbox.renew_lease("worker-1", 1, TTL_S, later(25)) is False  # the stale token is refused
    assert outbox.acquire_lease("worker-1", TTL_S, later(25)) is None
    assert outbox.renew_lease("worker-2", 2, TTL_S, later(33)) is True

    assert outbox.renew_lease("worker-2", 2, TTL_S, later(44)) is False  # lapsed at 43 s: its holder must acquire
    assert outbox.acquire_lease("worker-2", TTL_S, later(44)) == 2  # nobody took it meanwhile: still its token
    assert outbox.acquire_lease("worker-1", TTL_S, later(60)) == 3


def test_senders_racing_for_a_lapsed_lease_never_both_get_it(outbox: Outbox) -> None:
    holders = [f"worker-{n}" for n in range(6)]
    at = utc_now()
    holder, token = None, 0
    for _ in range(8):
        at += dt.timedelta(seconds=TTL_S + 1)  # whoever held it let it lapse
        start = threading.Barrier(len(holders))
        tokens: dict[str, int | None] = {}

        def take(holder: str, when: dt.datetime = at, start: threading.Barrier = start,
                 tokens: dict[str, int | None] = tokens) -> None:  # fmt: skip
            start.wait()
            tokens[holder] = outbox.acquire_lease(holder, TTL_S, when)

        run_at_once([threading.Thread(target=take, args=(holder,)) for holder in holders])

        winners = {holder: token for holder, token in tokens.items() if token is not None}
        assert len(tokens) == len(holders) and len(winners) == 1, tokens
        # A new holder gets the next token; the last one, winning again, keeps its own.
        ((winner, winning_token),) = winners.items()
        assert winning_token == (token if winner == holder else token + 1)
        holder, token = winner, winning_token
    assert outbox.acquire_lease("late-comer", TTL_S, at) is None


# -- senders on two workers ------------------------------------------------------------------------


class RecordingChannel:
    """Every post any sender makes, with who made it: shared by the threads."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def notifier(self, sender: str) -> RecordingPoster:
        return RecordingPoster(self, sender)

    def record(self, alert_id: str, sender: str) -> int:
        with self._lock:
            self.posts.append((alert_id, sender))
            return len(self.posts)


class RecordingPoster:
    def __init__(self, channel: RecordingChannel, sender: str) -> None:
        self.channel = channel
        self.sender = sender

    async def send(self, item: OutboxItem) -> DeliveryResult:
        await asyncio.sleep(0.001)  # a post takes a moment
        number = self.channel.record(item.alert_id, self.sender)
        return DeliveryResult(ok=True, slack_channel=CHANNEL, slack_ts=f"{number}.000000")


def test_senders_on_two_workers_running_at_once_post_every_alert_exactly_once(outbox: Outbox) -> None:
    channel = RecordingChannel()
    alert_ids = [f"ALERT-{n:04d}" for n in range(60)]
    for alert_id in alert_ids[:30]:
        outbox.enqueue(alert_id, RECEIVER, "post", 0, {"text": alert_id}, utc_now())
    queued_more = threading.Event()
    start = threading.Barrier(2)
    delivered: dict[str, int] = {}

    def worker(holder: str) -> None:
        sender = OutboxSender(outbox, {RECEIVER: channel.notifier(holder)}, holder=holder, lease_ttl_s=TTL_S)

        async def rounds() -> int:
            total = 0
            for _ in range(20):
                total += await sender.run_once()
                await asyncio.sleep(0.005)
            return total

        start.wait()
        first_half = asyncio.run(rounds())
        queued_more.wait(RACE_TIMEOUT_S)
        delivered[holder] = first_half + asyncio.run(rounds())

    workers = [threading.Thread(target=worker, args=(holder,)) for holder in ("worker-1", "worker-2")]
    for thread in workers:
        thread.start()
    for alert_id in alert_ids[30:]:
        outbox.enqueue(alert_id, RECEIVER, "post", 0, {"text": alert_id}, utc_now())
    queued_more.set()
    for thread in workers:
        thread.join(RACE_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in workers)

    assert Counter(alert_id for alert_id, _ in channel.posts) == Counter(alert_ids)  # each exactly once
    assert sorted(delivered.values()) == [0, 60]  # by the one sender that took the lease
    assert len({sender for _, sender in channel.posts}) == 1
    assert outbox.backlog(utc_now()).pending == 0


# -- a takeover while a Slack post is in flight ----------------------------------------------------------


class AnswerComesLate:
    """A Slack notifier whose answer to one alert's post comes back late: the post is in the channel,
    and the sender that made it stalls meanwhile (a pause, a slow network) past its lease."""

    def __init__(self, notifier: SlackNotifier, alert_id: str) -> None:
        self.notifier = notifier
        self.alert_id = alert_id
        self.posted = asyncio.Event()
        self.answer = asyncio.Event()

    async def send(self, item: OutboxItem) -> DeliveryResult:
        result = await self.notifier.send(item)
        if item.alert_id == self.alert_id and not self.posted.is_set():
            self.posted.set()
            await self.answer.wait()
        return result


def slack_notifier(slack: FakeSlack) -> SlackNotifier:
    client = build_slack_client(Settings(slack_bot_token="xoxb-test", slack_api_url=slack.api_url), timeout=2)
    return SlackNotifier(client, CHANNEL, ChannelPacer(0.01))


def test_a_slack_post_in_flight_at_a_takeover_is_found_in_the_channel_and_nothing_after_it_is_sent(
    outbox: Outbox, slack: FakeSlack
) -> None:
    clock = Clock(utc_now())
    alert_ids = ["ALERT-0001", "ALERT-0002", "ALERT-0003"]
    for alert_id in alert_ids:
        outbox.enqueue(alert_id, RECEIVER, "post", 0, {"text": f"alert {alert_id}"}, clock())
    stalling = AnswerComesLate(slack_notifier(slack), "ALERT-0001")
    first = OutboxSender(outbox, {RECEIVER: stalling}, holder="worker-1", lease_ttl_s=TTL_S, clock=clock)
    second = OutboxSender(outbox, {RECEIVER: slack_notifier(slack)}, holder="worker-2", lease_ttl_s=TTL_S, clock=clock)

    async def takeover() -> tuple[int, int]:
        first_round = asyncio.create_task(first.run_once())
        await stalling.posted.wait()
        clock.advance(TTL_S + 1)
        taken_over = await second.run_once()
        stalling.answer.set()
        return await first_round, taken_over

    first_delivered, second_delivered = asyncio.run(takeover())

    for alert_id in alert_ids:
        assert len(slack.alert_posts(alert_id)) == 1, alert_id
    assert len(slack.successful_calls("chat.postMessage")) == 3
    # The second sender saw ALERT-0001 tried before, looked in the channel, and found the first's post.
    assert len(slack.successful_calls("conversations.history")) == 1
    assert [(entry.alert_id, entry.action) for entry in outbox.audit_log()] == [
        ("ALERT-0001", "found_existing"), ("ALERT-0002", "posted"), ("ALERT-0003", "posted"),
    ]  # fmt: skip
    (first_post,) = [item for item in outbox.items() if item.alert_id == "ALERT-0001"]
    assert first_post.slack_ts == slack.alert_posts("ALERT-0001")[0]["ts"]
    # The first sender, back with a stale token, recorded nothing and posted nothing more.
    assert (first_delivered, second_delivered) == (0, 3)
