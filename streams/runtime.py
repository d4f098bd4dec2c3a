"""Where the worker replaces parts of faust-streaming 0.15.3, and why.

Each class here subclasses a Faust class and is plugged in where Faust allows
it (the app's web and transport factories, the ``TableManager`` setting). The
versions are pinned in pyproject.toml, and tests/unit/test_faust_internals.py
fails when the Faust code these rely on changes.

- :class:`AllowListedWeb`: Faust's web server without Faust's own views
  (``/table/`` would serve people's scoring state to anyone).
- :class:`LedgerConsumer`: commits only what :class:`~toex_stream.domain.commit_rule.CommitLedger`
  allows, seeks every assigned partition explicitly (aiokafka's
  ``seek_to_committed`` skips a partition whose committed offset is 0, and
  Faust turns 0 into "none"), and takes no offset gaps of its own inference.
- :class:`OrderedRecovery`: after a rebalance, clears the agents' queues and
  seeks before it lets any partition be read, where Faust resumes the
  partitions first and wipes the queues after the seek (faust-streaming #596).
- :func:`consume`: how agents iterate; it tells the ledger each record they
  finished, with the generation it was fetched in.
- :func:`heal_stalled_partitions`: seeks back a partition whose commit is
  stuck behind a missing offset.

Why not a plain consumer with manual commits instead: three of the five agents
keep per-nominal state in Faust tables whose changelogs and recovery follow
Faust's partition assignment; replacing the consumer would mean replacing the
tables too. The ledger makes the commit rule independent of how a record went
missing (queue cleared, stale read offset, skipped generation), so the fix does
not depend on having found every path in Faust that drops one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar

import faust
import faust.streams as faust_streams
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT
from faust.web.drivers import aiohttp as faust_aiohttp

from streams.metrics import WorkerMetrics
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.domain.commit_rule import CommitLedger

log = logging.getLogger(__name__)


class AllowListedWeb(faust_aiohttp.Web):
    """Faust's aiohttp web server with none of Faust's own views.

    Faust serves ``/table/`` (table contents: here, people's scoring state),
    ``/router/``, ``/`` and ``/assignment/`` (statistics), ``/graph/`` and more
    unless each is switched off; a blueprint added by a later Faust release
    would be on by default. Serving none of them, whatever the settings say,
    leaves only the routes this project adds.
    """

    default_blueprints: ClassVar[Any] = []
    production_blueprints: ClassVar[Any] = []
    debug_blueprints: ClassVar[Any] = []
    optional_blueprints: ClassVar[Any] = []


class LedgerConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, committing by the ledger's rule alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger: CommitLedger[TP] = CommitLedger()
        self._in_flight: Counter[TP] = Counter()
        self.reported: set[TP] = set()  # partitions on /metrics

    # -- what may be committed ----------------------------------------------------------------

    def _new_offset(self, tp: TP) -> int | None:
        # Faust's own acknowledgements (written directly by its compiled stream iterator too)
        # decide nothing here; drop them so they do not pile up.
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        return self.ledger.committable(tp)

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Any:
        return (tp for tp in self.ledger.partitions()
                if topics is None or tp in topics or tp.topic in topics)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust infers gaps from read offsets that can be stale; only a probe of the log proves one."""

    async def _commit_offsets(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        did_commit = await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)
        if did_commit:
            for tp, offset in offsets.items():
                self.ledger.committed(tp, offset)
        return did_commit

    # -- assignment, seek, revocation --------------------------------------------------------------

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        for tp in assigned:
            if self.app.topics.acks_enabled_for(tp.topic):
                self.ledger.assign(tp, generation_id)
        await super().on_partitions_assigned(assigned, generation_id)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Faust waits for the agents and commits first; only then are the partitions gone.
        await super().on_partitions_revoked(revoked)
        for tp in revoked:
            self.ledger.revoke(tp)

    async def perform_seek(self) -> None:
        """Seek every assigned stream partition to its committed offset (or the log start), 0 included."""
        committed = await self.seek_to_committed()
        generation = self.app.consumer_generation_id
        streams = [tp for tp in self.assignment() if self.app.topics.acks_enabled_for(tp.topic)]
        missing = [tp for tp in streams if committed.get(tp) is None or committed[tp] < 0]
        starts = await self.earliest_offsets(*missing) if missing else {}
        for tp in streams:
            offset = committed.get(tp)
            commit = offset if offset is not None and offset >= 0 else None
            target = commit if commit is not None else starts.get(tp, 0)
            await self.seek(tp, target)
            self._committed_offset[tp] = commit
            self.ledger.set_baseline(tp, target, generation)

    # -- what the agents have in hand ---------------------------------------------------------------

    def begin(self, tp: TP) -> None:
        self._in_flight[tp] += 1

    def end(self, tp: TP) -> None:
        self._in_flight[tp] -= 1
        if self._in_flight[tp] <= 0:
            del self._in_flight[tp]

    def idle(self, tp: TP) -> bool:
        """No agent holds a record of ``tp``, and no agent's queue holds any record of its topic."""
        if self._in_flight.get(tp):
            return False
        channels = self.app.topics._tp_index.get(tp, ())  # type: ignore[attr-defined]  # pinned Faust: see test
        return all(channel.queue.empty() for channel in channels)


class LedgerTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[Any] = LedgerConsumer


def ledger_consumer(app: faust.App) -> LedgerConsumer:
    """The app's consumer: a LedgerConsumer, which the app's LedgerTransport makes (see ToexApp)."""
    consumer = app.consumer
    if not isinstance(consumer, LedgerConsumer):
        raise TypeError(f"the app's consumer is a {type(consumer).__name__}, not a LedgerConsumer: "
                        "build the app with streams.app.build_app")
    return consumer


class OrderedRecovery(Recovery):
    """Recovery that seeks before any partition is read again, with the agents' queues emptied first."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table],
                                                                       self.standbys_for_table[table]))
                     for table in self.tables.values()]
        if callbacks:
            await asyncio.wait(callbacks)
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again: generation %s, now %s", generation_id,
                             self.app.consumer_generation_id)
            return
        await self._seek_then_resume()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await self.app.on_rebalance_complete.send()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again")
            return
        await self._seek_then_resume()
        self.tables.on_actives_ready()
        self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _seek_then_resume(self) -> None:
        app = self.app
        consumer = app.consumer
        streams = {tp for tp in consumer.assignment() if not self._is_changelog_tp(tp)}
        # The consumer's flow is stopped: nothing is handed to an agent until resume_flow below.
        # Whatever was queued before the seek is dropped before it, so no record fetched from the
        # old position can be wiped after the seek and then committed over.
        app.flow_control.clear()
        if streams:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
        self.completed.set()
        app.flow_control.resume()
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await app._fetcher.maybe_start()  # type: ignore[attr-defined]  # as Faust's own recovery does


class OrderedTableManager(TableManager):
    """The table manager with :class:`OrderedRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class ToexApp(faust.App):
    """A Faust app with :class:`AllowListedWeb` and :class:`LedgerTransport`."""

    def _new_web(self) -> AllowListedWeb:
        return AllowListedWeb(self)

    def _new_transport(self) -> LedgerTransport:
        return LedgerTransport(self.conf.broker_consumer, self)


BatchHandler = Callable[[list[EventT]], Awaitable[list[bool]]]

# An agent takes what its stream has ready, up to this many records, waiting at most this long for more.
BATCH_MAX = 500
BATCH_WITHIN_S = 0.01


async def consume(app: faust.App, stream: faust.StreamT, handle: BatchHandler, max_batch: int = BATCH_MAX,
                  within_s: float = BATCH_WITHIN_S) -> None:
    """Hand ``stream``'s records to ``handle`` in batches; count each as processed when ``handle`` says so.

    ``handle`` (the agent's step under the error policy) returns, per record,
    False for one it gave up unprocessed: the commit stays behind it, and the
    healer or the partition's next owner reads it again. The records of a
    batch are in flight (their partitions not idle) until the batch is done.
    """
    consumer = ledger_consumer(app)
    # Stream.take_events, which StreamT does not declare (pinned Faust: tests/unit/test_faust_internals.py).
    batches = stream.take_events(max_batch, within_s)  # type: ignore[attr-defined]
    async for events in batches:
        messages = [event.message for event in events]
        for message in messages:
            consumer.begin(message.tp)
        try:
            done = await handle(list(events))
            for message, ok in zip(messages, done, strict=True):
                if ok:
                    consumer.ledger.processed(message.tp, message.offset, message.generation_id)
        finally:
            for message in messages:
                consumer.end(message.tp)


@contextlib.contextmanager
def processing(event: EventT) -> Iterator[None]:
    """Make ``event`` the stream's current event, as Faust does while it iterates, for the tables.

    A table write goes to its changelog partition, which Faust takes from the
    current event; a batch's events are handled after the stream has moved on.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def report_partitions(app: faust.App, metrics: WorkerMetrics) -> None:
    """Each assigned partition's lag (log end minus the commit point) and uncommittable processed records."""
    consumer = ledger_consumer(app)
    ledger = consumer.ledger
    reported = set(ledger.partitions())
    for tp in reported:
        point = ledger.next_offset(tp) or 0
        metrics.set_partition(tp.topic, tp.partition, lag=max(0, (consumer.highwater(tp) or 0) - point),
                              gap=ledger.uncommitted(tp))
    for tp in consumer.reported - reported:
        metrics.forget_partition(tp.topic, tp.partition)
    consumer.reported = reported


def first_offset_from(kafka: KafkaAccess, tp: TP, offset: int, timeout_s: float = 5.0) -> int | None:
    """The offset of the first record at or after ``offset`` in the log, or None when there is none.

    Read by a consumer of its own outside any group, isolation as Faust's consumer has it.
    """
    probe = KafkaConsumer({**kafka.confluent_config(), "group.id": "toex-stream-probe",
                           "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    try:
        probe.assign([KafkaTopicPartition(tp.topic, tp.partition, offset)])
        for message in probe.consume(num_messages=1, timeout=timeout_s):
            if message.error() is None:
                return message.offset()
        return None
    finally:
        probe.close()


async def heal_stalled_partitions(app: faust.App, kafka: KafkaAccess, on_heal: Any = None) -> None:
    """Seek back each partition whose commit is stuck behind a missing offset (see the commit rule)."""
    if app.rebalancing:
        return
    consumer = ledger_consumer(app)
    ledger = consumer.ledger
    ends = {tp: consumer.highwater(tp) or 0 for tp in ledger.partitions()}
    for stall in list(ledger.stalled(ends, consumer.idle)):
        tp = stall.tp
        if stall.probe:
            # Only a record found further on proves a gap; finding none (a slow broker) proves nothing.
            first = await asyncio.to_thread(first_offset_from, kafka, tp, stall.offset)
            if first is not None and first > stall.offset:
                log.warning("partition %s: no record at offsets %d to %d (transaction markers or compaction); "
                            "the commit passes them", tp, stall.offset, first - 1)
                ledger.prove_gap(tp, stall.offset, first)
                continue
        log.warning("partition %s: commit stalled at offset %d (%s); reading it again from there",
                    tp, stall.offset, stall.reason)
        await consumer.seek(tp, stall.offset)
        ledger.healing(tp)
        if on_heal is not None:
            on_heal(tp)
