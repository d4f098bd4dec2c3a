"""What every worker follows outside the consumer group: the training examples and the nominals.

Each worker learns from every training example (one partition, in order) and
holds every nominal in its matcher's index, whichever partitions of the event
topics it is assigned, so both are read by consumers of their own.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from streams import topics
from streams.policy import until_done
from streams.services import OwnNominals, Services
from toex_stream.adapters.index_snapshot import SNAPSHOT_FILE, read_snapshot, write_snapshot
from toex_stream.adapters.kafka_io import TopicIncarnation, topic_incarnation
from toex_stream.application.nominal_import import InvalidNominalMessage, apply_nominal_messages, parse_nominal_message
from toex_stream.domain import contract
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import DeadLetterKind
from toex_stream.domain.matching.model_files import write_model
from toex_stream.domain.matching.records import MatchRecord, record_from_nominal
from toex_stream.domain.pipeline import Raw
from toex_stream.domain.scoring.checkpoint import restore_models, write_models
from toex_stream.ports.store import NominalStore

log = logging.getLogger(__name__)

# toex.nominals messages stored per transaction while following.
NOMINALS_BATCH = 2000
# The index snapshot is written once the nominals are loaded, then after this many messages or seconds.
SNAPSHOT_EVERY = 10_000
SNAPSHOT_EVERY_S = 300.0
SNAPSHOT_REFRESH_S = 3600.0
# A snapshot is trusted for this share of the topic's delete.retention.ms: older, a tombstone written
# after it may have been compacted away.
SNAPSHOT_TRUST = 0.9

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
    consumer = AIOKafkaConsumer(**services.kafka.aiokafka_config(), group_id=None,
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
    against, whichever partitions of the observations it is assigned. A
    snapshot of the index in the data folder, when it can be trusted, spares
    reading the topic from the beginning: the index is loaded from it and the
    topic read on from the offsets it reflects (the store has those nominals
    already: this worker wrote them). The snapshot is written once the
    nominals are loaded, then every SNAPSHOT_EVERY_S or SNAPSHOT_EVERY messages.

    A tombstone (a nominal erased) makes the follower read the erasure
    register again before the nominal leaves the index, so that a mention of an
    erased person is never matched nor made a provisional nominal in between,
    and write the snapshot at once, so that the file no longer holds them.
    """
    snapshot_file = services.checkpoint_file.parent / SNAPSHOT_FILE
    consumer = AIOKafkaConsumer(**services.kafka.aiokafka_config(), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    incarnation: TopicIncarnation | None = None
    positions: dict[int, int] = {}
    since_snapshot = 0
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.NOMINALS.name, p) for p in range(topics.NOMINALS.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        incarnation = await asyncio.to_thread(topic_incarnation, services.kafka, topics.NOMINALS.name)
        await until_done(functools.partial(asyncio.to_thread, load_erased, services), "nominals", services.metrics)
        positions = await _start_from_snapshot(consumer, services, snapshot_file, incarnation, ends)
        applied, last_snapshot = 0, time.monotonic()
        while True:
            if not services.nominals_loaded.is_set() and await _caught_up(consumer, ends):
                if services.estimate_u_on_load:
                    services.matcher.model.estimate_u(services.matcher.index.live())
                if services.match_model_file is not None:
                    await asyncio.to_thread(write_model, services.matcher.model, services.match_model_file)
                services.nominals_loaded.set()
                log.info("nominals loaded: %d messages applied, %d in the index", applied,
                         len(services.matcher.index))
                since_snapshot = SNAPSHOT_EVERY  # the first snapshot right away
            elapsed = time.monotonic() - last_snapshot
            if services.nominals_loaded.is_set() and incarnation is not None and (
                    since_snapshot >= SNAPSHOT_EVERY or (since_snapshot and elapsed >= SNAPSHOT_EVERY_S)
                    or elapsed >= SNAPSHOT_REFRESH_S):  # a quiet topic: the snapshot must not age out
                await _write_snapshot(services, snapshot_file, incarnation, positions)
                since_snapshot, last_snapshot = 0, time.monotonic()
            batches = await consumer.getmany(timeout_ms=500, max_records=NOMINALS_BATCH)
            for partition, records in batches.items():
                if not records:
                    continue
                # The store in a thread, a batch in one transaction; the index only here, where the match
                # agent reads it. A database outage stalls the follower (and so matching); it never skips.
                results = await until_done(functools.partial(
                    asyncio.to_thread, _store_nominals, services.store, records, services.own_nominals),
                    "nominals", services.metrics)
                if any(isinstance(result, str) for result in results):
                    await until_done(functools.partial(asyncio.to_thread, load_erased, services), "nominals",
                                     services.metrics)
                    since_snapshot = max(since_snapshot, SNAPSHOT_EVERY)  # written at the next turn
                for result in results:
                    if isinstance(result, MatchRecord):
                        services.matcher.add(result)
                    elif isinstance(result, str):
                        services.matcher.remove(result)
                positions[partition.partition] = records[-1].offset + 1
                applied += len(records)
                since_snapshot += len(records)
    finally:
        try:
            if services.nominals_loaded.is_set() and incarnation is not None and since_snapshot:
                # Stopping: what was read since the last snapshot need not be read again at the next start.
                if _save_snapshot(snapshot_file, services.matcher.index.live(), incarnation, positions):
                    log.info("snapshot of the index written on the way out: %d nominals", len(services.matcher.index))
        finally:
            await consumer.stop()


async def _start_from_snapshot(
    consumer: AIOKafkaConsumer, services: Services, snapshot_file: Path,
    incarnation: TopicIncarnation | None, ends: dict[TopicPartition, int],
) -> dict[int, int]:
    """Load the index from the snapshot and seek to its offsets, or seek to the beginning; the positions."""
    partitions = list(ends)
    begins = await consumer.beginning_offsets(partitions)
    # The cyclic garbage collector would scan the growing heap again and again while a hundred
    # thousand records are made (it tripled the load); they live as long as the worker: kept out
    # of later collections too (gc.freeze).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await _load_snapshot(consumer, services, snapshot_file, incarnation, ends, begins)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


async def _load_snapshot(
    consumer: AIOKafkaConsumer, services: Services, snapshot_file: Path, incarnation: TopicIncarnation | None,
    ends: dict[TopicPartition, int], begins: dict[TopicPartition, int],
) -> dict[int, int]:
    partitions = list(ends)
    snapshot = await asyncio.to_thread(
        read_snapshot, snapshot_file, topics.NOMINALS.name, incarnation.topic_id if incarnation else None,
        max_age_s=incarnation.delete_retention_ms / 1000 * SNAPSHOT_TRUST if incarnation else 0.0,
    )
    if snapshot is not None:
        offsets = {tp: snapshot.offsets.get(tp.partition) for tp in partitions}
        wrong = [f"{tp.partition}@{offset}" for tp, offset in offsets.items()
                 if offset is None or not begins[tp] <= offset <= ends[tp]]
        if wrong:
            log.warning("snapshot of the index at %s has offsets outside toex.nominals (%s): reading all of it",
                        snapshot_file, ", ".join(wrong))
        else:
            # In a thread, so that the loop goes on (heartbeats); nothing reads the index before it is loaded.
            # Erased people are left out even if the snapshot was written before their tombstone.
            erased = services.erased.nominal_ids
            await asyncio.to_thread(services.matcher.load,
                                    [record for record in snapshot.records if record.record_id not in erased])
            for tp, offset in offsets.items():
                consumer.seek(tp, offset)
            log.info("index loaded from its snapshot: %d nominals; reading toex.nominals on from it",
                     len(services.matcher.index))
            return {tp.partition: offset for tp, offset in offsets.items() if offset is not None}
    await consumer.seek_to_beginning(*partitions)
    return {tp.partition: begins[tp] for tp in partitions}


def _save_snapshot(path: Path, records: list[MatchRecord], incarnation: TopicIncarnation,
                   positions: dict[int, int]) -> bool:
    """Write a snapshot of ``records`` at ``positions``; False, logged, when the file cannot be written."""
    try:
        write_snapshot(path, records, topics.NOMINALS.name, incarnation.topic_id, positions)
    except OSError as exc:  # the index is whole in memory; only a quick restart is lost
        log.warning("snapshot of the index not written to %s: %s", path, exc)
        return False
    return True


async def _write_snapshot(services: Services, path: Path, incarnation: TopicIncarnation,
                          positions: dict[int, int]) -> None:
    """The index and the positions now (taken in the loop, so they agree), encoded and written in a thread.

    The match agent files provisional nominals in the index too: the thread gets a copy of its list.
    """
    started = time.monotonic()
    records, offsets = services.matcher.index.live(), dict(positions)
    if await asyncio.to_thread(_save_snapshot, path, records, incarnation, offsets):
        log.info("snapshot of the index written: %d nominals in %.1f s", len(records), time.monotonic() - started)


def load_erased(services: Services) -> None:
    """Read the erasure register into ``services.erased`` (call in a thread: it is a query)."""
    if services.erasures is not None:
        services.erased = services.erasures.erased_people(utc_now())
    services.erased_loaded = True


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


def _store_nominals(store: NominalStore, records: list[ConsumerRecord],
                    own: OwnNominals | None = None) -> list[MatchRecord | str | None]:
    """Apply a batch of toex.nominals messages to the store; per message, what the index should do.

    A MatchRecord to file, a nominal_id to erase, or None for a message that is not
    a valid nominal (logged and passed: it is on the topic for good, reading it again
    cannot make it valid). The records are made here, in the thread, not in the loop.
    A message this worker stored before sending it (``own``) is not stored again,
    unless the batch erases something: then every message is applied, in order.
    """
    erasing = any(r.value is None for r in records)
    mine = [not erasing and own is not None and own.stored(r.key, r.value) for r in records]
    applied = iter(apply_nominal_messages(
        store, [(r.key, r.value, f"{r.topic}:{r.partition}:{r.offset}")
                for r, skip in zip(records, mine, strict=True) if not skip]))
    actions: list[MatchRecord | str | None] = []
    for record, skip in zip(records, mine, strict=True):
        if skip:
            _, nominal = parse_nominal_message(record.key, record.value)
            actions.append(None if nominal is None else record_from_nominal(nominal))
            continue
        result = next(applied)
        if isinstance(result, InvalidNominalMessage):
            log.warning("skipped nominal message at %s:%d:%d: %s", record.topic, record.partition, record.offset,
                        result)
            actions.append(None)
        elif result.nominal is None:
            actions.append(result.nominal_id)
        else:
            actions.append(record_from_nominal(result.nominal))
    return actions
