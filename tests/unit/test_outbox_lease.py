"""One outbox sender at a time: the lease, its fencing token, and what a sender does without it (SQLite, no broker).

Two ``OutboxSender`` objects with different holders stand for the senders of
two workers that overlap after a rebalance. They share one database and one
clock, which the tests move on to make a lease lapse; each posts to the same
channel through its own notifier, which records who posted what.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, Row, select

from toex_stream.adapters.senders import AlertingError, OutboxSender
from toex_stream.adapters.sql.outbox import SENDER_LEASE, Outbox
from toex_stream.adapters.sql.outbox_models import LeaseRow
from toex_stream.ports.alerts import DeliveryResult, OutboxItem

RECEIVER = "ersou-slack"
OTHER_RECEIVER = "nersou-slack"
TTL_S = 10.0


class Clock:
    """The senders' wall clock, moved on by the test."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Channel:
    """Where every sender's notifier posts: (alert id, sender) in the order the posts arrived."""

    posts: list[tuple[str, str]] = field(default_factory=list)

    def senders_of(self, alert_id: str) -> list[str]:
        return [sender for posted, sender in self.posts if posted == alert_id]


class Poster:
    """One sender's notifier. ``pause_at`` holds the send of that alert, once, until ``resume`` is set:
    the sender has checked its lease and counted the attempt, and the post is in flight."""

    def __init__(self, channel: Channel, sender: str, pause_at: str | None = None) -> None:
        self.channel = channel
        self.sender = sender
        self.pause_at = pause_at
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    async def send(self, item: OutboxItem) -> DeliveryResult:
        if item.alert_id == self.pause_at:
            self.pause_at = None
            self.paused.set()
            await self.resume.wait()
        await asyncio.sleep(0)  # a post takes a moment: the other sender's tasks run meanwhile
        self.channel.posts.append((item.alert_id, self.sender))
        return DeliveryResult(ok=True, slack_channel="C0ERSOU01", slack_ts=f"{len(self.channel.posts)}.000000")


@pytest.fixture
def outbox(sqlite_engine: Engine) -> Outbox:
    return Outbox(sqlite_engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


def queue(outbox: Outbox, clock: Clock, *alert_ids: str, receiver: str = RECEIVER) -> None:
    for alert_id in alert_ids:
        assert outbox.enqueue(alert_id, receiver, "post", 0, {"text": f"alert {alert_id}"}, clock())


def sender(outbox: Outbox, clock: Clock, holder: str, *posters: tuple[str, Poster]) -> OutboxSender:
    return OutboxSender(outbox, dict(posters), holder=holder, lease_ttl_s=TTL_S, clock=clock)


def lease(sqlite_engine: Engine) -> Row[tuple[str, str | None, int, dt.datetime | None]]:
    """The sender's lease as the table holds it."""
    with sqlite_engine.connect() as connection:
        return connection.execute(select(LeaseRow).where(LeaseRow.name == SENDER_LEASE)).one()


def test_a_sender_without_the_lease_posts_nothing_and_leaves_the_items_untouched(
    sqlite_engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    channel = Channel()
    first = sender(outbox, clock, "worker-1", (RECEIVER, Poster(channel, "first")))
    second = sender(outbox, clock, "worker-2", (RECEIVER, Poster(channel, "second")))
    queue(outbox, clock, "A-1", "A-2")
    assert asyncio.run(first.run_once()) == 2

    queue(outbox, clock, "A-3")
    clock.advance(TTL_S - 1)  # the first's lease is still live
    assert asyncio.run(second.run_once()) == 0

    assert channel.senders_of("A-3") == []
    (waiting,) = [item for item in outbox.items() if item.alert_id == "A-3"]
    assert (waiting.attempts, waiting.delivered_at) == (0, None)
    # The holder renews its lease each round, and delivers what the other could not.
    assert asyncio.run(first.run_once()) == 1
    assert channel.posts == [("A-1", "first"), ("A-2", "first"), ("A-3", "first")]
    assert (lease(sqlite_engine).holder, lease(sqlite_engine).token) == ("worker-1", 1)


def test_once_the_lease_lapses_the_other_sender_takes_over_with_a_higher_token(
    sqlite_engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    channel = Channel()
    first = sender(outbox, clock, "worker-1", (RECEIVER, Poster(channel, "first")))
    second = sender(outbox, clock, "worker-2", (RECEIVER, Poster(channel, "second")))
    queue(outbox, clock, "A-1")
    assert asyncio.run(first.run_once()) == 1
    renewed_until = lease(sqlite_engine).expires_at

    clock.advance(TTL_S + 1)  # the first worker stopped delivering (it lost leadership, or hangs)
    queue(outbox, clock, "A-2")
    assert asyncio.run(second.run_once()) == 1
    assert (lease(sqlite_engine).holder, lease(sqlite_engine).token) == ("worker-2", 2)
    assert lease(sqlite_engine).expires_at == clock() + dt.timedelta(seconds=TTL_S) > renewed_until

    # The first wakes and tries again while the second's lease is live: it sends nothing.
    queue(outbox, clock, "A-3")
    assert asyncio.run(first.run_once()) == 0
    assert channel.posts == [("A-1", "first"), ("A-2", "second")]
    assert asyncio.run(second.run_once()) == 1
    assert channel.senders_of("A-3") == ["second"]
    assert lease(sqlite_engine).token == 2  # renewing does not change the token


def test_two_senders_running_at_once_post_every_item_exactly_once(outbox: Outbox, clock: Clock) -> None:
    channel = Channel()
    first = sender(outbox, clock, "worker-1", (RECEIVER, Poster(channel, "first")),
                   (OTHER_RECEIVER, Poster(channel, "first")))  # fmt: skip
    second = sender(outbox, clock, "worker-2", (RECEIVER, Poster(channel, "second")),
                    (OTHER_RECEIVER, Poster(channel, "second")))  # fmt: skip

    async def rounds() -> list[tuple[int, int]]:
        delivered = []
        for number in range(6):
            queue(outbox, clock, *(f"A-{number}-{n}" for n in range(3)))
            queue(outbox, clock, f"B-{number}", receiver=OTHER_RECEIVER)
            if number == 3:
                clock.advance(TTL_S + 1)  # the first's lease lapses between two rounds
                pair = await asyncio.gather(second.run_once(), first.run_once())
                delivered.append((pair[1], pair[0]))
            else:
                delivered.append(tuple(await asyncio.gather(first.run_once(), second.run_once())))
            clock.advance(1)
        return delivered

    delivered = asyncio.run(rounds())

    assert delivered == [(4, 0), (4, 0), (4, 0), (0, 4), (0, 4), (0, 4)]
    alert_ids = {item.alert_id for item in outbox.items()}
    assert len(alert_ids) == 24
    assert sorted(alert_id for alert_id, _ in channel.posts) == sorted(alert_ids)  # each exactly once

    def round_of(alert_id: str) -> int:
        return int(alert_id.split("-")[1])

    assert {sender for alert_id, sender in channel.posts if round_of(alert_id) < 3} == {"first"}
    assert {sender for alert_id, sender in channel.posts if round_of(alert_id) >= 3} == {"second"}
    assert outbox.backlog(clock()).pending == 0


def test_a_sender_whose_lease_is_taken_over_mid_batch_stops_before_its_next_post(
    outbox: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    channel = Channel()
    stalling = Poster(channel, "first", pause_at="A-1")
    first = sender(outbox, clock, "worker-1", (RECEIVER, stalling))
    second = sender(outbox, clock, "worker-2", (RECEIVER, Poster(channel, "second")))
    queue(outbox, clock, "A-1", "A-2", "A-3", "A-4")

    async def takeover() -> tuple[int, int]:
        first_round = asyncio.create_task(first.run_once())
        await stalling.paused.wait()  # A-1 is in flight, and the first sender stalls (a pause, a slow network)
        clock.advance(TTL_S + 1)
        taken_over = await second.run_once()
        stalling.resume.set()
        return await first_round, taken_over

    first_delivered, second_delivered = asyncio.run(takeover())

    assert second_delivered == 4 and first_delivered == 0  # A-1 was marked delivered by the second already
    # The one post in flight when the lease was lost arrives late, a second time; nothing after it does.
    assert channel.senders_of("A-1") == ["second", "first"]
    assert [channel.senders_of(alert_id) for alert_id in ("A-2", "A-3", "A-4")] == [["second"]] * 3
    (first_try,) = [item for item in outbox.items() if item.alert_id == "A-1"]
    assert first_try.attempts == 2  # so the second sender knew it may be out (Slack's history check: integration test)
    assert any("outbox lease lost by worker-1" in record.getMessage() for record in caplog.records)


def test_a_lost_lease_stops_every_receiver_after_the_message_it_had_in_flight(outbox: Outbox, clock: Clock) -> None:
    channel = Channel()
    stalling = [Poster(channel, "first", pause_at="A-1"), Poster(channel, "first", pause_at="B-1")]
    first = sender(outbox, clock, "worker-1", (RECEIVER, stalling[0]), (OTHER_RECEIVER, stalling[1]))
    second = sender(outbox, clock, "worker-2", (RECEIVER, Poster(channel, "second")),
                    (OTHER_RECEIVER, Poster(channel, "second")))  # fmt: skip
    queue(outbox, clock, "A-1", "A-2")
    queue(outbox, clock, "B-1", "B-2", receiver=OTHER_RECEIVER)

    async def takeover() -> None:
        first_round = asyncio.create_task(first.run_once())
        await asyncio.gather(*(poster.paused.wait() for poster in stalling))
        clock.advance(TTL_S + 1)
        assert await second.run_once() == 4
        for poster in stalling:
            poster.resume.set()
        assert await first_round == 0

    asyncio.run(takeover())

    assert sorted(alert_id for alert_id, sender in channel.posts if sender == "first") == ["A-1", "B-1"]
    assert sorted(alert_id for alert_id, sender in channel.posts if sender == "second") == ["A-1", "A-2", "B-1", "B-2"]


def test_senders_built_without_a_holder_in_one_process_share_the_lease(
    sqlite_engine: Engine, outbox: Outbox, clock: Clock
) -> None:
    # As streams/agents.py builds it: a sender rebuilt in the same worker must not wait out its own lease.
    channel = Channel()
    queue(outbox, clock, "A-1")
    before_restart = OutboxSender(outbox, {RECEIVER: Poster(channel, "worker")}, clock=clock)
    assert asyncio.run(before_restart.run_once()) == 1

    queue(outbox, clock, "A-2")
    after_restart = OutboxSender(outbox, {RECEIVER: Poster(channel, "worker")}, clock=clock)
    assert asyncio.run(after_restart.run_once()) == 1

    assert after_restart.holder == before_restart.holder and f":{os.getpid()}:" in after_restart.holder
    assert channel.posts == [("A-1", "worker"), ("A-2", "worker")]
    assert lease(sqlite_engine).token == 1


def test_a_lease_that_cannot_work_is_refused_where_it_is_configured(outbox: Outbox) -> None:
    with pytest.raises(AlertingError, match="lease_ttl_s=0 must be positive"):
        OutboxSender(outbox, {}, lease_ttl_s=0)
    with pytest.raises(AlertingError, match="holder '' must be 1 to 255 characters"):
        OutboxSender(outbox, {}, holder="")


def test_the_pacer_counts_a_channel_s_next_slot_from_the_end_of_a_slow_call() -> None:
    """A storm run saw two posts arrive 0.06 s apart: the first was released on time, then sent a second
    late by a busy event loop. The next slot is a full interval after a call ends."""
    import asyncio

    from toex_stream.adapters.senders import ChannelPacer

    moments: list[tuple[str, float]] = []
    loop_clock = asyncio.new_event_loop()
    try:
        pacer = ChannelPacer(0.2, clock=loop_clock.time)

        async def send(name: str, takes: float) -> None:
            async with pacer.slot("#c"):
                await asyncio.sleep(takes)  # the call, or the loop busy before it goes out
                moments.append((name, loop_clock.time()))

        async def both() -> None:
            await asyncio.gather(send("slow", 0.3), send("next", 0.0))

        loop_clock.run_until_complete(both())
    finally:
        loop_clock.close()
    (first, slow_done), (second, next_done) = moments
    assert (first, second) == ("slow", "next") and next_done - slow_done >= 0.2 - 0.01
