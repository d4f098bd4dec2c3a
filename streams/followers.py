"""What every worker follows outside the consumer group: the training examples and the nominals.

Each worker learns from every training example (one partition, in order) and
holds every nominal in its matcher's index, whichever partitions of the event
topics it is assigned, so both are read by consumers of their own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from streams import topics
from streams.policy import until_done
from streams.services import Services
from toex_stream.application.nominal_import import InvalidNominalMessage, apply_nominal_message
from toex_stream.domain import contract
from toex_stream.domain.contract import DeadLetterKind
from toex_stream.domain.matching.model_files import write_model
from toex_stream.domain.pipeline import Raw
from toex_stream.domain.scoring.checkpoint import restore_models, write_models
from toex_stream.ports.store import NominalStore

log = logging.getLogger(__name__)

# Sends a record to the dead letters: kind and a reason that quotes no value.
Reject = Callable[[Raw, DeadLetterKind, str], Awaitable[None]]


async def learn_from(app: faust.App, services: Services, reject: Reject, record: ConsumerRecord) -> None:
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


async def follow_training(app: faust.App, services: Services, reject: Reject) -> None:
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
                await learn_from(app, services, reject, record)
            if records:
                await asyncio.to_thread(write_checkpoint, services, records[-1].offset + 1)
                log.info("learnt %d outcomes; models %s", len(records), services.scorer.versions())
    finally:
        await consumer.stop()


async def follow_nominals(services: Services) -> None:
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
