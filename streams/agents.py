"""The stream agents. Each decodes, calls the core, and sends; none holds domain logic."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from streams import topics
from toex_stream import contract
from toex_stream.contract import INPUT_TOPICS, DeadLetter
from toex_stream.enrich import RejectedEvent, dead_letter, enrich
from toex_stream.matching.index import Matcher
from toex_stream.matching.records import record_from_nominal
from toex_stream.matching.resolve import resolve_observation
from toex_stream.nominal_import import InvalidNominalMessage, apply_nominal_message
from toex_stream.store import MatchDecision, NominalStore, Provenance

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the agents need from the outside world, built once by the composition root."""

    bootstrap: str
    store: NominalStore
    matcher: Matcher
    # u from random pairs of the loaded nominals, unless a trained model was given.
    estimate_u_on_load: bool = True
    # Set once this worker has read every nominal on toex.nominals: matching waits for it.
    nominals_loaded: asyncio.Event = field(default_factory=asyncio.Event)


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_serializer="raw", value_serializer="raw")


def register(app: faust.App, services: Services) -> None:
    """Declare the topics and agents on ``app``."""
    inputs = app.topic(*INPUT_TOPICS, key_serializer="raw", value_serializer="raw")
    observations = _raw_topic(app, topics.OBSERVATIONS.name)
    matches = _raw_topic(app, topics.MATCHES.name)
    nominals = _raw_topic(app, topics.NOMINALS.name)
    deadletter = _raw_topic(app, topics.DEADLETTER.name)

    async def send_dead_letter(message: faust.types.Message, letter: DeadLetter) -> None:
        # Where and why only: the value itself is personal data and stays on the topic.
        log.warning(
            "dead letter topic=%s partition=%d offset=%d kind=%s",
            message.topic, message.partition, message.offset, letter.kind,
        )
        await deadletter.send(key=message.key, value=letter.model_dump_json().encode())

    # Concurrency 1 everywhere: with more, Faust can commit an offset past an
    # unfinished event (faust-streaming #606), and an event must never vanish.
    @app.agent(inputs, name="enrich", concurrency=1)
    async def enrich_agent(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            outcome = enrich(
                message.topic, message.key, message.value, partition=message.partition, offset=message.offset
            )
            if isinstance(outcome, DeadLetter):
                await send_dead_letter(message, outcome)
            else:
                await observations.send(
                    key=outcome.observation_id.encode(), value=outcome.model_dump_json().encode()
                )

    @app.agent(observations, name="match", concurrency=1)
    async def match_agent(stream: faust.StreamT) -> None:
        await services.nominals_loaded.wait()
        async for event in stream.events():
            message = event.message
            try:
                observation = contract.Observation.model_validate_json(message.value or b"")
            except ValidationError as exc:
                kind = "invalid_json" if exc.errors()[0]["type"] == "json_invalid" else "schema"
                reason = f"not an Observation ({exc.error_count()} errors)"
                letter = dead_letter(topic=message.topic, partition=message.partition, offset=message.offset,
                                     key=message.key, value=message.value, rejection=RejectedEvent(kind, reason))
                await send_dead_letter(message, letter)
                continue
            for resolution in resolve_observation(observation, services.matcher):
                result = resolution.result
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
                    model_version=result.model_version, decided_at=dt.datetime.now(dt.timezone.utc),
                ))
                await matches.send(key=result.nominal_id.encode(), value=result.model_dump_json().encode())

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
                    services.nominals_loaded.set()
                    log.info("nominals loaded: %d messages applied, %d in the index", applied,
                             len(services.matcher.index))
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        # The store in a thread; the index only here, where the match agent reads it.
                        outcome = await asyncio.to_thread(
                            _store_nominal, services.store, record.key, record.value,
                            f"{record.topic}:{record.partition}:{record.offset}",
                        )
                        if outcome is not None:
                            _index_nominal(services.matcher, record.key, record.value)
                        applied += 1
        finally:
            await consumer.stop()


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


def _index_nominal(matcher: Matcher, key: bytes | None, value: bytes | None) -> None:
    if value is None:
        matcher.remove((key or b"").decode())
    else:
        matcher.add(record_from_nominal(contract.Nominal.model_validate_json(value)))
