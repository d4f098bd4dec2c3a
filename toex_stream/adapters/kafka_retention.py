"""Retention on the broker: the topics' ``retention.ms`` kept to the policy, and tombstones on ``toex.nominals``.

Clients are built by the composition root (with the Kafka security settings)
and handed in: a producer from ``kafka_io.durable_producer``, an ``AdminClient``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from toex_stream.adapters.kafka_io import KafkaUnavailable
from toex_stream.adapters.topics import ERASURES, TopicSpec
from toex_stream.domain.contract import TOPIC_NOMINALS

__all__ = ["NominalTombstones", "RetentionChange", "align_retention"]

log = logging.getLogger(__name__)

# How long a batch of tombstones may take to be acknowledged.
FLUSH_TIMEOUT_S = 60.0


class NominalTombstones:
    """:class:`toex_stream.ports.retention.Tombstones` on ``toex.nominals``: a null value per nominal_id, and a
    record on ``toex.erasures`` for the owner of its scoring state.

    Keyed like every nominal, so the tombstone lands on the partition of the
    record it erases, and compaction removes both. Every worker's nominals
    follower reads it, erases the nominal from its store and its match index.
    """

    def __init__(self, producer: Producer, topic: str = TOPIC_NOMINALS, erasures: str | None = ERASURES.name) -> None:
        self._producer = producer
        self._topic = topic
        # Where the workers that own the nominals' scoring state hear of each erasure (None: not told).
        self._erasures = erasures

    def erase_nominals(self, nominal_ids: Sequence[str]) -> None:
        failures: list[str] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(str(err))

        for nominal_id in nominal_ids:
            self._producer.produce(self._topic, key=nominal_id.encode(), value=None, on_delivery=delivered)
            if self._erasures is not None:
                self._producer.produce(self._erasures, key=nominal_id.encode(),
                                       value=json.dumps({"nominal_id": nominal_id}).encode(), on_delivery=delivered)
            self._producer.poll(0)
        remaining = self._producer.flush(FLUSH_TIMEOUT_S)
        if failures or remaining:
            # Nothing was deleted yet: the run stops here and the next one tries again.
            raise KafkaUnavailable(f"Kafka did not take {len(failures) + remaining} of {len(nominal_ids)} "
                                   f"tombstones on {self._topic} ({failures[0] if failures else 'unsent'}); "
                                   "nothing of them was deleted")


@dataclass(frozen=True)
class RetentionChange:
    """A topic whose ``retention.ms`` was set to the policy's (``before``: what the broker had)."""

    topic: str
    before: str | None
    after: str


def align_retention(admin: AdminClient, specs: Sequence[TopicSpec], timeout: float = 30.0) -> list[RetentionChange]:
    """Set ``retention.ms`` on the existing topics whose value differs from their spec's; the changes made.

    ``ensure_topics`` sets it on the topics it creates; this keeps topics made
    before (or before the policy changed) to the same policy. Topics that do
    not exist, and compacted topics, are left alone.
    """
    wanted = {spec.name: spec.config()["retention.ms"] for spec in specs
              if spec.cleanup_policy == "delete" and "retention.ms" in spec.config()}
    if not wanted:
        return []
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = sorted(name for name in wanted if name in existing)
    if not names:
        return []
    current: dict[str, str | None] = {}
    try:
        described = admin.describe_configs([ConfigResource("topic", name) for name in names],
                                           request_timeout=timeout)
        for resource, future in described.items():
            entry = future.result(timeout=timeout).get("retention.ms")
            current[resource.name] = None if entry is None else entry.value
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot read the topics' retention.ms: {exc}") from None
    changes = [RetentionChange(name, current.get(name), wanted[name]) for name in names
               if current.get(name) != wanted[name]]
    if not changes:
        return []
    resources = [ConfigResource("topic", change.topic, incremental_configs=[
        ConfigEntry("retention.ms", change.after, incremental_operation=AlterConfigOpType.SET)])
        for change in changes]
    try:
        for future in admin.incremental_alter_configs(resources, request_timeout=timeout).values():
            future.result(timeout=timeout)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot set the topics' retention.ms: {exc}; the broker's account needs "
                               "ALTER_CONFIGS on the toex.* topics") from None
    for change in changes:
        log.info("topic %s: retention.ms %s -> %s (retention policy)", change.topic, change.before, change.after)
    return changes
