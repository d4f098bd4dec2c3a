"""The faust-streaming, mode and aiokafka code that streams/runtime.py and streams/app.py rely on, unchanged.

streams/runtime.py subclasses Faust's consumer, recovery, table manager, app
and web server, and relies on how they call each other (which method decides
the commit offset, which partitions are committed, what a rebalance calls, how
views are chosen). A new release may change any of that silently; this test
fails first, naming what changed, so that someone reads the new code before
the pins in pyproject.toml move. Update a digest only after that reading.
"""

from __future__ import annotations

import hashlib
import inspect
from importlib import metadata

import aiokafka.consumer.consumer
import faust.app.base
import faust.streams
import faust.tables.manager
import faust.tables.recovery
import faust.transport.conductor
import faust.transport.consumer
import faust.web.base

PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}

Consumer = faust.transport.consumer.Consumer
RELIED_ON = {
    # The commit: which offset, for which partitions, after what.
    "Consumer._new_offset": Consumer._new_offset,
    "Consumer._filter_tps_with_pending_acks": Consumer._filter_tps_with_pending_acks,
    "Consumer._filter_committable_offsets": Consumer._filter_committable_offsets,
    "Consumer.force_commit": Consumer.force_commit,
    "Consumer._commit_offsets": Consumer._commit_offsets,
    "Consumer._add_gap": Consumer._add_gap,
    "Consumer._drain_messages": Consumer._drain_messages,
    # The rebalance: what is called, in which order.
    "Consumer.perform_seek": Consumer.perform_seek,
    "Consumer.seek": Consumer.seek,
    "Consumer.on_partitions_assigned": Consumer.on_partitions_assigned,
    "Consumer.on_partitions_revoked": Consumer.on_partitions_revoked,
    "Recovery.on_recovery_completed": faust.tables.recovery.Recovery.on_recovery_completed,
    "Recovery._resume_streams": faust.tables.recovery.Recovery._resume_streams,
    "TableManager.recovery": faust.tables.manager.TableManager.recovery.fget,
    "App._on_partitions_revoked": faust.app.base.App._on_partitions_revoked,
    "App._new_transport": faust.app.base.App._new_transport,
    "App._new_consumer": faust.app.base.App._new_consumer,
    "App._new_web": faust.app.base.App._new_web,
    "Conductor._update_tp_index": faust.transport.conductor.Conductor._update_tp_index,
    "Web._enabled_blueprints": faust.web.base.Web._enabled_blueprints,
    "AIOKafkaConsumer.seek_to_committed": aiokafka.consumer.consumer.AIOKafkaConsumer.seek_to_committed,
    # The agents' batches: how a stream buffers, yields and acknowledges them.
    "Stream.take_events": faust.streams.Stream.take_events,
    # A table write takes its changelog partition from the current event, a ContextVar runtime.processing sets.
    "streams.current_event": faust.streams.current_event,
}
DIGESTS = {
    "Consumer._new_offset": "1d2c7ea89a7ad4f1",
    "Consumer._filter_tps_with_pending_acks": "f6f9239774234e7e",
    "Consumer._filter_committable_offsets": "dc5e9baf5d994485",
    "Consumer.force_commit": "cc094614d22c70fb",
    "Consumer._commit_offsets": "1a69799041188441",
    "Consumer._add_gap": "4df2573ded7c1c2c",
    "Consumer._drain_messages": "44a2500309e83c63",
    "Consumer.perform_seek": "0e8c130ff4b0afd8",
    "Consumer.seek": "b86a9fe05f956b30",
    "Consumer.on_partitions_assigned": "29ce96596f05a18c",
    "Consumer.on_partitions_revoked": "d04b7ae72c6fc206",
    "Recovery.on_recovery_completed": "6ef567acf072e46d",
    "Recovery._resume_streams": "d986a6710c1aca98",
    "TableManager.recovery": "f0bf5de78b4c3d23",
    "App._on_partitions_revoked": "d5c895bbe57dc73a",
    "App._new_transport": "42db531312dd776f",
    "App._new_consumer": "bff6ccd646b71ea9",
    "App._new_web": "9558ffdcacfa13bd",
    "Conductor._update_tp_index": "e8e3ac9025ef44f7",
    "Web._enabled_blueprints": "0a5b53f233d4d571",
    "AIOKafkaConsumer.seek_to_committed": "f6cd85c8b70a4ccf",
    "Stream.take_events": "607d48aead118ba8",
    "streams.current_event": "3b821f1a78d86a58",
}


def digest(function: object) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]  # type: ignore[arg-type]  # methods and property getters alike


def test_the_pinned_versions_are_the_installed_ones() -> None:
    assert {name: metadata.version(name) for name in PINNED} == PINNED


def test_the_code_the_runtime_relies_on_is_the_code_that_was_read() -> None:
    changed = sorted(name for name, function in RELIED_ON.items() if digest(function) != DIGESTS.get(name))
    assert not changed, f"read these again before moving the pins: {changed}"
