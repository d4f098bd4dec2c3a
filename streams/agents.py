"""The stream agents. Each decodes, calls the core, and sends; none holds domain logic."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import faust
import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faust.types import Message
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from streams import topics
from streams.metrics import WorkerMetrics, build_metrics
from streams.policy import Policy, until_done
from streams.runtime import Handler, consume, heal_stalled_partitions, report_partitions
from toex_stream import contract
from toex_stream.alerting.decide import AlertDecision, close_groups, nominal_alert_decisions
from toex_stream.alerting.messages import render
from toex_stream.alerting.outbox import Outbox
from toex_stream.alerting.routing import RoutesFile
from toex_stream.alerting.senders import Notifier, OutboxSender
from toex_stream.alerting.silences import Silences
from toex_stream.clock import utc_now
from toex_stream.contract import INPUT_TOPICS, DeadLetter, DeadLetterKind
from toex_stream.enrich import RejectedEvent, dead_letter, enrich
from toex_stream.intake import record_referral_outcome
from toex_stream.intake.store import IntakeStore
from toex_stream.matching.index import Matcher
from toex_stream.matching.model_files import write_model
from toex_stream.matching.resolve import resolve_observation
from toex_stream.nominal_import import InvalidNominalMessage, apply_nominal_message
from toex_stream.scoring.checkpoint import restore_models, write_models
from toex_stream.scoring.scorer import Scorer
from toex_stream.scoring.state import new_state
from toex_stream.store import MatchDecision, NominalStore, Provenance

log = logging.getLogger(__name__)

M = TypeVar("M", bound=pydantic.BaseModel)


AGENTS = ("enrich", "match", "score", "alert", "feedback", "training", "nominals")


@dataclass
class Services:
    """What the agents need from the outside world, built once by the composition root."""

    bootstrap: str
    store: NominalStore
    matcher: Matcher
    scorer: Scorer
    checkpoint_file: Path
    outbox: Outbox
    routes: RoutesFile
    notifiers: dict[str, Notifier]
    silences: Silences
    # Receipts of partners' referrals: the match agent marks each processed (and matched or not).
    receipts: IntakeStore | None = None
    # u from random pairs of the loaded nominals, unless a trained model was given.
    estimate_u_on_load: bool = True
    # Set once this worker has read every nominal on toex.nominals: matching waits for it.
    nominals_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # Where the match model is written once the nominals are loaded, for replay to match as this worker does.
    match_model_file: Path | None = None
    # The worker's /metrics series (its own registry).
    metrics: WorkerMetrics = field(default_factory=lambda: build_metrics(AGENTS, [t.name for t in topics.ALL]))




def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def register(app: faust.App, services: Services) -> None:
    """Declare the topics and agents on ``app``."""
    inputs = app.topic(*INPUT_TOPICS, key_serializer="raw", value_serializer="raw")  # one agent, three topics
    observations = _raw_topic(app, topics.OBSERVATIONS.name)
    matches = _raw_topic(app, topics.MATCHES.name)
    nominals = _raw_topic(app, topics.NOMINALS.name)
    deadletter = _raw_topic(app, topics.DEADLETTER.name)
    scores = _raw_topic(app, topics.SCORES.name)
    feedback = _raw_topic(app, topics.FEEDBACK.name)
    training = _raw_topic(app, topics.TRAINING.name)
    alerts = _raw_topic(app, topics.ALERTS.name)
    # What is known of each nominal over 30 days: RocksDB, backed by a changelog, and
    # co-partitioned with toex.matches and toex.feedback (both keyed by nominal_id).
    # No key_type/value_type: plain dicts, JSON in the changelog.
    nominal_state = app.Table(topics.NOMINAL_STATE_TABLE, default=dict, partitions=topics.MATCHES.partitions)
    # Each nominal's alert groups (route, group key, threat): co-partitioned with toex.scores.
    alert_groups = app.Table(topics.ALERT_GROUPS_TABLE, default=dict, partitions=topics.SCORES.partitions)

    async def send_dead_letter(message: Message, letter: DeadLetter) -> None:
        # Where and why only: the value itself is personal data and stays on the topic.
        log.warning(
            "dead letter topic=%s partition=%d offset=%d kind=%s",
            message.topic, message.partition, message.offset, letter.kind,
        )
        services.metrics.dead_letter(message.topic, letter.kind)
        await deadletter.send(key=message.key, value=letter.model_dump_json().encode())

    async def reject(message: Message, kind: DeadLetterKind, reason: str) -> None:
        await send_dead_letter(message, dead_letter(
            topic=message.topic, partition=message.partition, offset=message.offset, key=message.key,
            value=message.value, rejection=RejectedEvent(kind, reason)))

    policy = Policy(app, services.metrics, reject)

    def handled_by(agent: str, step: Callable[[Message], Awaitable[None]]) -> Handler:
        return functools.partial(policy.process, agent, step=step)

    # Concurrency 1 everywhere: with more, Faust can commit an offset past an
    # unfinished event (faust-streaming #606), and an event must never vanish.
    async def enrich_one(message: Message) -> None:
        outcome = enrich(message.topic, message.key, message.value, partition=message.partition,
                         offset=message.offset)
        if isinstance(outcome, DeadLetter):
            await send_dead_letter(message, outcome)
        else:
            await observations.send(key=outcome.observation_id.encode(), value=outcome.model_dump_json().encode())

    @app.agent(inputs, name="enrich", concurrency=1)
    async def enrich_agent(stream: faust.StreamT) -> None:
        await consume(app, stream, handled_by("enrich", enrich_one))

    async def decode(message: Message, model: type[M]) -> M | None:
        """The message's value as ``model``, or None after sending it to the dead letters."""
        try:
            return model.model_validate_json(message.value or b"")
        except ValidationError as exc:
            kind: DeadLetterKind = "invalid_json" if exc.errors()[0]["type"] == "json_invalid" else "schema"
            reason = f"not a {model.__name__} ({exc.error_count()} errors)"
            letter = dead_letter(topic=message.topic, partition=message.partition, offset=message.offset,
                                 key=message.key, value=message.value, rejection=RejectedEvent(kind, reason))
            await send_dead_letter(message, letter)
            return None

    async def match_one(message: Message) -> None:
        observation = await decode(message, contract.Observation)
        if observation is None:
            return
        resolved = []
        for resolution in resolve_observation(observation, services.matcher):
            result = resolution.result
            resolved.append(result)
            if resolution.created is not None:
                # Database calls run in a thread: a blocked event loop misses heartbeats.
                await asyncio.to_thread(services.store.upsert_nominal, resolution.created,
                                        Provenance("event", result.mention_id))
                # Every worker's index learns of it through the compacted topic.
                await nominals.send(key=resolution.created.nominal_id.encode(),
                                    value=resolution.created.model_dump_json().encode())
            await asyncio.to_thread(services.store.record_decision, MatchDecision(
                mention_id=result.mention_id, nominal_id=result.nominal_id, decision=result.decision,
                probability=result.probability, weights=[w.model_dump() for w in result.weights],
                model_version=result.model_version, decided_at=utc_now(),
            ))
            await matches.send(key=result.nominal_id.encode(), value=result.model_dump_json().encode())
        if services.receipts is not None and observation.source == "referral":  # no thread hop for the rest
            await mark_referral_processed(services.receipts, observation, resolved)

    @app.agent(observations, name="match", concurrency=1)
    async def match_agent(stream: faust.StreamT) -> None:
        await services.nominals_loaded.wait()
        await consume(app, stream, handled_by("match", match_one))

    async def score_one(message: Message) -> None:
        match = await decode(message, contract.MatchResult)
        if match is None:
            return
        for score in services.scorer.score_nominal(nominal_state, match):
            await scores.send(key=match.nominal_id.encode(), value=score.model_dump_json().encode())

    @app.agent(matches, name="score", concurrency=1)
    async def score_agent(stream: faust.StreamT) -> None:
        await consume(app, stream, handled_by("score", score_one))

    async def alert_one(message: Message) -> None:
        score = await decode(message, contract.Score)
        if score is None:
            return
        active = await asyncio.to_thread(services.silences.active)
        decisions, suppressed = nominal_alert_decisions(
            score, alert_groups, services.routes.current(), services.scorer.profiles(), active,
            silence_time=utc_now(),
        )
        for quiet in suppressed:
            log.info("alert for a %s score %s on route %s", score.band, quiet.why, quiet.route_path)
        for decision in decisions:
            await asyncio.to_thread(enqueue_alert, services, decision, score)
            await alerts.send(key=decision.alert.alert_id.encode(), value=decision.alert.model_dump_json().encode())

    @app.agent(scores, name="alert", concurrency=1)
    async def alert_agent(stream: faust.StreamT) -> None:
        await consume(app, stream, handled_by("alert", alert_one))

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
        await heal_stalled_partitions(app, services.bootstrap, on_heal=lambda tp: services.metrics.healed(tp.topic))
        report_partitions(app, services.metrics)

    async def feedback_one(message: Message) -> None:
        outcome = await decode(message, contract.Feedback)
        if outcome is None:
            return
        if outcome.nominal_id is None or (message.key or b"").decode(errors="replace") != outcome.nominal_id:
            await reject(message, "schema",
                         "feedback must name a nominal_id and be keyed by it, to reach its features")
            return
        groups = dict(alert_groups.get(outcome.nominal_id) or {})
        if close_groups(groups, outcome.alert_id):
            alert_groups[outcome.nominal_id] = groups  # the next alerting score opens a new episode
        state = nominal_state.get(outcome.nominal_id) or new_state()
        examples = services.scorer.training_examples(state, outcome)
        if not examples:
            log.info("feedback for alert %s teaches nothing (outcome %s, no scored state for its nominal)",
                     outcome.alert_id, outcome.outcome)
        for example in examples:
            await training.send(key=example.nominal_id.encode(), value=example.model_dump_json().encode())

    @app.agent(feedback, name="feedback", concurrency=1)
    async def feedback_agent(stream: faust.StreamT) -> None:
        await consume(app, stream, handled_by("feedback", feedback_one))

    async def learn_from(record: ConsumerRecord) -> None:
        """One training example; a poison one is counted, dead-lettered once (by the leader), and passed."""
        try:
            services.scorer.learn(contract.TrainingExample.model_validate_json(record.value or b""))
            services.metrics.processed("training")
        except Exception as exc:  # learning must go on past a bad example, on every worker
            kind: DeadLetterKind = "schema" if isinstance(exc, ValidationError) else "internal"
            services.metrics.agent_error("training", "contract" if kind == "schema" else "internal")
            log.error("training example at %s[%d]@%d not learnt: %s", record.topic, record.partition,
                      record.offset, type(exc).__name__)
            if app.is_leader():
                await reject(record, kind, f"not a usable training example: {type(exc).__name__}")

    @app.task
    async def follow_training() -> None:
        """Learn from every training example, in topic order, on every worker; checkpoint as it goes."""
        start = restore_checkpoint(services)
        consumer = AIOKafkaConsumer(bootstrap_servers=services.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partition = TopicPartition(topics.TRAINING.name, 0)
            consumer.assign([partition])
            consumer.seek(partition, start)
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                records = batches.get(partition, [])
                for record in records:
                    await learn_from(record)
                if records:
                    await asyncio.to_thread(write_checkpoint, services, records[-1].offset + 1)
                    log.info("learnt %d outcomes; models %s", len(records), services.scorer.versions())
        finally:
            await consumer.stop()

    @app.task
    async def follow_nominals() -> None:
        """Read all of toex.nominals into the store and this worker's index, then keep following it.

        Outside any consumer group: every worker needs every nominal to match
        against, whichever partitions of the observations it is assigned.
        """
        consumer = AIOKafkaConsumer(bootstrap_servers=services.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            partitions = [TopicPartition(topics.NOMINALS.name, p) for p in range(topics.NOMINALS.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            applied = 0
            while True:
                if not services.nominals_loaded.is_set() and await _caught_up(consumer, ends):
                    if services.estimate_u_on_load:
                        services.matcher.model.estimate_u(services.matcher.index.live())
                    if services.match_model_file is not None:
                        await asyncio.to_thread(write_model, services.matcher.model, services.match_model_file)
                    services.nominals_loaded.set()
                    log.info("nominals loaded: %d messages applied, %d in the index", applied,
                             len(services.matcher.index))
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        # The store in a thread; the index only here, where the match agent reads it.
                        # A database outage stalls the follower (and so matching); it never skips a nominal.
                        outcome = await until_done(functools.partial(
                            asyncio.to_thread, _store_nominal, services.store, record.key, record.value,
                            f"{record.topic}:{record.partition}:{record.offset}",
                        ), "nominals", services.metrics)
                        if outcome is not None:
                            services.matcher.follow(record.key, record.value)
                        applied += 1
        finally:
            await consumer.stop()


async def mark_referral_processed(receipts: IntakeStore, observation: contract.Observation,
                                  resolved: list[contract.MatchResult]) -> None:
    """Tell the partner's receipt the referral was processed; a database failure must not stop matching."""
    try:
        await asyncio.to_thread(record_referral_outcome, receipts, observation, resolved)
    except SQLAlchemyError as exc:
        log.warning("receipt of %s not updated (%s): its status stays 'received'", observation.observation_id,
                    type(exc).__name__)


def enqueue_alert(services: Services, decision: AlertDecision, score: contract.Score) -> None:
    """Store the alert and queue its message for the route's receiver.

    The decision's time is event time; delivery waits the same delay from now.
    """
    services.outbox.save_alert(decision.alert)
    receiver = decision.route.receiver
    wait = max(0.0, (decision.notify_at - score.occurred_at).total_seconds())
    not_before = utc_now() + dt.timedelta(seconds=wait)
    change = None if decision.action == "open" else f"{decision.action}: band {decision.alert.band}"
    payload = render(receiver.kind, decision.alert, change=change,
                     include_personal_data=receiver.include_personal_data)
    services.outbox.enqueue(
        decision.alert.alert_id, receiver.name, "post" if decision.action == "open" else "update",
        int(decision.notify_at.timestamp()), payload, not_before, route=decision.route.route_path,
    )


def restore_checkpoint(services: Services) -> int:
    """Load the models' checkpoint; return the training offset to resume from (0 without one)."""
    offset = restore_models(services.scorer, services.checkpoint_file)
    if offset:
        log.info("models restored at training offset %d: %s", offset, services.scorer.versions())
    return offset


def write_checkpoint(services: Services, offset: int) -> None:
    """Atomically replace the checkpoint: the models as learnt up to ``offset``."""
    write_models(services.scorer, services.checkpoint_file, offset)


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


def _store_nominal(store: NominalStore, key: bytes | None, value: bytes | None, source_ref: str) -> str | None:
    try:
        return apply_nominal_message(store, key or b"", value, source_ref=source_ref)
    except InvalidNominalMessage as exc:
        log.warning("skipped nominal message at %s: %s", source_ref, exc)
        return None
