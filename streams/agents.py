"""The stream agents: each decodes, calls its step of :mod:`toex_stream.domain.pipeline`, applies the effects.

:class:`Agents` holds one small step per agent; :func:`register` puts them on
the Faust app with the error policy and the commit rule around each, and adds
the timers (alert delivery, stalled-partition healing) and the followers
(``streams/followers.py``: training examples, nominals) every worker runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TypeVar

import faust
import pydantic
from faust.types import EventT, Message
from sqlalchemy.exc import SQLAlchemyError

from streams import topics
from streams.followers import follow_nominals, follow_training, load_erased
from streams.policy import Policy, until_done
from streams.runtime import consume, heal_stalled_partitions, processing, report_partitions
from streams.services import Services
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.senders import OutboxSender
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.silences import Muted
from toex_stream.application.alert_lifecycle import queue_alert
from toex_stream.application.referral_outcome import record_referral_outcomes
from toex_stream.application.replay.kafka import END_OF_TIME, PartitionRange, RangeReader
from toex_stream.domain import contract, pipeline
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.audit import in_bulk
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import INPUT_TOPICS, DeadLetterKind
from toex_stream.domain.pipeline import Effects, Raw
from toex_stream.domain.scoring.state import State
from toex_stream.domain.situations.alerts import SituationGroups
from toex_stream.domain.situations.book import Book
from toex_stream.ports.store import MatchDecision, Provenance

log = logging.getLogger(__name__)

M = TypeVar("M", bound=pydantic.BaseModel)
N = TypeVar("N", contract.MatchResult, contract.SituationInput)
# Read a range of toex.situation-input's one partition: (offset, value) from start up to end (exclusive).
ReadRange = Callable[[int, int], list[tuple[int, bytes | None]]]


# Put a message on a topic; what it returns, once awaited, says the broker has it (None: it has it already).
Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[object] | None]]


@dataclass
class Agents:
    """One small step per agent: decode one record and run the pipeline's step on it, giving its effects.

    The steps are pure; :meth:`apply` carries out a batch's effects. ``send``
    puts a message on a topic (Faust's producer in the worker, a list in a
    test); the tables are Faust tables in the worker and plain dicts in a test,
    so each step runs without a broker.
    """

    services: Services
    send: Send
    # What is known of each nominal over 30 days (the scorer's state), co-partitioned with toex.matches.
    nominal_state: MutableMapping[str, State]
    # Each situation's alert groups (route, group key), on toex.situation-input's one partition.
    situation_groups: MutableMapping[str, SituationGroups]
    # Each member of an alerted situation -> that situation's id (to find merges), on the same partition.
    situation_members: MutableMapping[str, str]
    # Reads toex.situation-input again, to rebuild the book when this worker takes its partition (None: never).
    read_situation_input: ReadRange | None = None
    # The situations' links and latest scores: a fold over toex.situation-input, held in memory.
    book: Book = field(default_factory=Book)
    # The silences the situation step reads, and when: refreshed by prepare() before each batch.
    silences: list[Silence] = field(default_factory=list)
    silence_time: dt.datetime | None = None

    async def prepare(self, agent: str, first: Raw | None = None) -> None:
        """Read what a batch of ``agent`` needs from outside before its steps run (the situation step's
        silences, now, and the book up to the batch's first message; the erasure register, once)."""
        if not self.services.erased_loaded:
            await asyncio.to_thread(load_erased, self.services)
        if agent == "situate":
            self.silences = await asyncio.to_thread(self.services.silences.active)
            self.silence_time = utc_now()
            if first is not None:
                await asyncio.to_thread(self.catch_up, first.offset)

    def catch_up(self, offset: int) -> None:
        """Fold into the book what toex.situation-input holds before ``offset`` and this worker has not read
        (all of it when the worker starts, what another owner did while it had the partition), without
        deciding again: those messages' alerts were decided when they were first read."""
        if self.read_situation_input is None or offset <= self.book.next_offset:
            return
        started, profiles = self.book.next_offset, self.services.scorer.profiles()
        for at, value in self.read_situation_input(started, offset):
            [item] = pipeline.decode_step([pipeline.RawMessage(topics.SITUATION_INPUT.name, None, value, 0, at)],
                                          contract.SituationInput).outcomes  # None: a dead letter when first read
            if item is not None:
                self.book.add(item, profiles)
            self.book.next_offset = at + 1
        self.book.next_offset = offset
        log.info("situations: read toex.situation-input from offset %d to %d again", started, offset)

    def enrich(self, message: Raw) -> Effects:
        return self._count_withheld("enrich", pipeline.enrich_step([message], self.services.erased).effects)

    def match(self, message: Raw) -> Effects:
        decoded = pipeline.decode_step([message], contract.Observation)
        decoded.effects += pipeline.resolve_step(_present(decoded.outcomes), self.services.matcher,
                                                 self.services.erased).effects
        return self._count_withheld("match", decoded.effects)

    def _count_withheld(self, agent: str, effects: Effects) -> Effects:
        if effects.withheld:
            # Mention ids are references (the event and a position), never personal data.
            log.info("%s: %d mentions of erased people withheld: %s", agent, len(effects.withheld),
                     ", ".join(effects.withheld))
            self.services.metrics.withheld(agent, len(effects.withheld))
        return effects

    def score(self, message: Raw) -> Effects:
        decoded = pipeline.decode_step([message], contract.MatchResult)
        decoded.effects += pipeline.score_step(self._not_erased(decoded.outcomes), self.nominal_state,
                                               self.services.scorer).effects
        return decoded.effects

    def situate(self, message: Raw) -> Effects:
        decoded = pipeline.decode_step([message], contract.SituationInput)
        decoded.effects += pipeline.situate_step(
            self._not_erased(decoded.outcomes), self.book, self.situation_groups, self.situation_members,
            self.services.routes.current(),
            self.services.scorer.profiles(), self.silences, silence_time=self.silence_time or utc_now(),
        ).effects
        self.book.next_offset = max(self.book.next_offset, message.offset + 1)
        return decoded.effects

    def erasures(self, message: Raw) -> Effects:
        """A nominal erased (toex.erasures): its scoring state goes (this worker owns the partition; the
        table's changelog gets a tombstone of its own, so standbys and later owners lose it too), and the
        situation step is told, to drop the nominal from its links.
        """
        if message.key is None:
            return Effects()
        nominal_id = message.key.decode(errors="replace")
        if nominal_id in self.nominal_state:
            del self.nominal_state[nominal_id]
            log.info("nominal %s erased: its scoring state deleted", nominal_id)
        return Effects(sends=[pipeline.Send(contract.TOPIC_SITUATION_INPUT, nominal_id, contract.SituationInput(
            schema_version=1, kind="erased", nominal_id=nominal_id))])

    def _not_erased(self, items: list[N | None]) -> list[N]:
        """Matches or situation inputs not about an erased nominal (sent before the erasure, still on their
        topics); the erasure itself passes."""
        erased = self.services.erased.nominal_ids
        return [item for item in items if item is not None
                and (item.nominal_id not in erased or getattr(item, "kind", None) == "erased")]

    def feedback(self, message: Raw) -> Effects:
        step = pipeline.feedback_step([message], self.nominal_state, self.services.scorer)
        if not step.effects.dead_letters and not any(step.outcomes):
            log.info("feedback at %s[%d]@%d teaches nothing (no scored state for its nominal)",
                     message.topic, message.partition, message.offset)
        return step.effects

    async def reject(self, message: Raw, kind: DeadLetterKind, reason: str) -> None:
        """Send ``message`` to the dead letters (the error policy's way out for a record no step can handle)."""
        await self.apply(Effects(dead_letters=[pipeline.reject(message, kind, reason)]))

    async def apply(self, effects: Effects) -> None:
        """Rows first, in one thread hop (a blocked event loop misses heartbeats), then the messages, then receipts.

        The messages go out together and are awaited together: the batch is
        done (and its offsets may count) only once the broker has every one.
        A delivery that fails raises here, and the policy applies the effects again.
        """
        if effects.has_rows():
            await asyncio.to_thread(write_rows, self.services, effects)
        deliveries = []
        for rejected in effects.dead_letters:
            letter = rejected.letter
            # Where and why only: the value itself is personal data and stays on the topic.
            log.warning("dead letter topic=%s partition=%d offset=%d kind=%s",
                        letter.source_topic, letter.partition, letter.offset, letter.kind)
            self.services.metrics.dead_letter(letter.source_topic, letter.kind)
            deliveries.append(await self.send(contract.TOPIC_DEADLETTER, rejected.key,
                                              letter.model_dump_json().encode()))
        for out in effects.sends:
            key, value = out.key.encode(), out.value
            if out.topic == contract.TOPIC_NOMINALS:
                self.services.own_nominals.sent(key, value)  # its row is committed: written above
            deliveries.append(await self.send(out.topic, key, value))
        await asyncio.gather(*(delivery for delivery in deliveries if delivery is not None))
        for score, quiet in effects.suppressed:
            log.info("alert for a %s score %s on route %s", score.band, quiet.why, quiet.route_path)
        if self.services.receipts is not None and effects.referrals:
            await mark_referrals_processed(self.services.receipts, effects.referrals)


def write_rows(services: Services, effects: Effects) -> None:
    """The effects' rows: the s.62 log's entries, provisional nominals and match decisions (a transaction each),
    alerts and their messages, and what silences muted."""
    # The log first: a batch applied again after a failure logs again, but nothing is done unlogged.
    if effects.audit and services.audit is not None:
        services.audit.record(*in_bulk(effects.audit))  # an entry per kind per batch, not per event
    if effects.provisional:
        services.store.upsert_nominals([(nominal, Provenance("event", mention_id))
                                        for nominal, mention_id in effects.provisional])
    if effects.decisions:
        decided_at = utc_now()
        services.store.record_decisions([MatchDecision(
            mention_id=result.mention_id, nominal_id=result.nominal_id, decision=result.decision,
            probability=result.probability, weights=[w.model_dump() for w in result.weights],
            model_version=result.model_version, decided_at=decided_at,
            event=f"{result.event_ref.topic}:{result.event_ref.key}", source_partition=partition,
            source_offset=offset, occurred_at=result.occurred_at, role=result.role,
            facts=result.facts.model_dump(mode="json"), prior_weight=result.prior_weight,
            candidates=result.candidates,
        ) for result, partition, offset in effects.decisions])
    for decision, score in effects.alerts:
        queue_alert(services.outbox, decision, score, now=utc_now(), public_url=services.public_url)
    muted = effects.muted()
    if muted:
        now = utc_now()
        services.silences.record_muted([Muted(
            silence_id=quiet.silence_id or "", muted_at=now, nominal_id=score.nominal_id, mention_id=score.mention_id,
            region=score.region, threat=score.threat, band=score.band, route=quiet.route_path,
        ) for score, quiet in muted])


def _present(items: list[M | None]) -> list[M]:
    return [item for item in items if item is not None]


def read_situation_input(kafka: KafkaAccess, start: int, end: int) -> list[tuple[int, bytes | None]]:
    """The (offset, value) of toex.situation-input's messages from ``start`` up to ``end`` (exclusive)."""
    with RangeReader(kafka) as reader:
        wanted = PartitionRange(topics.SITUATION_INPUT.name, 0, start, end)
        return [(message.offset, message.value) for message in reader.read([wanted], None, END_OF_TIME)]


def register(app: faust.App, services: Services) -> None:
    """Declare the topics, tables, agents, timers and followers on ``app``."""
    async def send(topic: str, key: bytes | None, value: bytes) -> Awaitable[object]:
        # Straight to the producer Faust holds (the one its commit flushes), not through a faust.Topic:
        # that path costs a FutureMessage, a buffer and callbacks per message, a third of the sends' time.
        return await app.producer.send(topic, key, value, None, None, None)

    # RocksDB, backed by changelogs. No key_type/value_type: plain dicts, JSON in the changelog.
    agents = Agents(
        services, send,
        nominal_state=app.Table(topics.NOMINAL_STATE_TABLE, default=dict, partitions=topics.MATCHES.partitions),
        situation_groups=app.Table(topics.SITUATION_GROUPS_TABLE, default=dict,
                                   partitions=topics.SITUATION_INPUT.partitions),
        situation_members=app.Table(topics.SITUATION_MEMBERS_TABLE, default=str,
                                    partitions=topics.SITUATION_INPUT.partitions),
        read_situation_input=functools.partial(read_situation_input, services.kafka),
    )
    policy = Policy(app, services.metrics, agents.reject)

    def agent(name: str, step: Callable[[Message], Effects], *sources: str,
              after: asyncio.Event | None = None) -> None:
        # Concurrency 1: with more, Faust can commit an offset past an unfinished event
        # (faust-streaming #606), and an event must never vanish.
        channel = app.topic(*sources, key_serializer="raw", value_serializer="raw")

        async def handle(events: list[EventT]) -> list[bool]:
            # A database outage stalls the agent here, as it stalls the effects' rows.
            await until_done(functools.partial(agents.prepare, name, events[0].message), name, services.metrics)
            by_message = {id(event.message): event for event in events}

            def compute(message: Message) -> Effects:
                with processing(by_message[id(message)]):
                    return step(message)

            return await policy.process_batch(name, [event.message for event in events], compute, agents.apply)

        async def run(stream: faust.StreamT) -> None:
            if after is not None:
                await after.wait()
            await consume(app, stream, handle)

        app.agent(channel, name=name, concurrency=1)(run)

    agent("enrich", agents.enrich, *INPUT_TOPICS)  # one agent, three topics
    # Matching waits until this worker's index holds every nominal.
    agent("match", agents.match, contract.TOPIC_OBSERVATIONS, after=services.nominals_loaded)
    agent("score", agents.score, contract.TOPIC_MATCHES)
    # One partition: this worker, while it owns it, sees every situation whole.
    agent("situate", agents.situate, topics.SITUATION_INPUT.name)
    agent("feedback", agents.feedback, contract.TOPIC_FEEDBACK)
    # Keyed by nominal like the matches: the owner of an erasure's partition holds that nominal's scoring
    # state (every worker's index is the nominals follower's; the situation step is told on its topic).
    agent("erasures", agents.erasures, topics.ERASURES.name)

    # One sender at a time holds the outbox lease (a fencing token in the database); on the leader
    # only as well, so fewer workers ask for it.
    sender = OutboxSender(services.outbox, services.notifiers)

    @app.timer(interval=1.0, on_leader=True)
    async def deliver_alerts() -> None:
        """Send what the outbox holds as it falls due; nothing is marked delivered until a channel has it."""
        try:
            await sender.run_once()
        except Exception:  # undelivered items stay in the outbox for the next tick
            log.exception("alert delivery failed; the outbox keeps the items")

    @app.timer(interval=1.0)
    async def heal_stalls() -> None:
        """Read again any partition whose commit is stuck behind a record no agent finished; report lag."""
        await heal_stalled_partitions(app, services.kafka, on_heal=lambda tp: services.metrics.healed(tp.topic))
        report_partitions(app, services.metrics)

    @app.task
    async def training() -> None:
        await follow_training(app, services, agents.reject)

    @app.task
    async def nominals() -> None:
        await follow_nominals(services)


async def mark_referrals_processed(receipts: IntakeStore,
                                   referrals: list[tuple[contract.Observation, list[contract.MatchResult]]]) -> None:
    """Tell the partners' receipts their referrals were processed; a database failure must not stop matching."""
    try:
        await asyncio.to_thread(record_referral_outcomes, receipts, referrals)
    except SQLAlchemyError as exc:
        log.warning("receipts of %d referrals not updated (%s): their status stays 'received'", len(referrals),
                    type(exc).__name__)
