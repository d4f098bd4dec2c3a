"""Reading a time range of topics for replay: outside every consumer group, committing nothing.

Times are message timestamps. The producers of toex-stream (``submit``,
``simulate``, the intake, the worker) leave Kafka's CreateTime to the client,
so a message's timestamp is when it was sent: for an input event, when it
reached the system, not ``submitted_at`` / ``observed_at`` / ``recorded_at``
(event time, which can be days earlier and arrive out of order). A range is
therefore "what arrived between these times", which is what the live system
processed in that period.

Each partition's range is found with ``offsets_for_times``: from the first
offset at or after ``start`` to the first offset after ``end`` (or the end of
the partition as it was when the replay began). Messages are then also
filtered by timestamp, since a producer may set any CreateTime.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from toex_stream.adapters.kafka_access import KafkaTarget, kafka_access
from toex_stream.adapters.kafka_io import KafkaUnavailable, existing_topics, position
from toex_stream.application.replay.core import InputMessage
from toex_stream.domain.errors import ToexError

_QUIET = {"log_level": 0}
METADATA_TIMEOUT_S = 30.0


class ReplayRangeError(ToexError):
    """A replay's time range or topics cannot be read as asked."""


def parse_time(text: str, option: str) -> dt.datetime:
    """An ISO 8601 time (``2026-11-25T14:00:00Z``, ``2026-11-25 14:00+01:00``, ``2026-11-25``); naive means UTC.

    >>> parse_time("2026-11-25T14:00:00+01:00", "--from").isoformat()
    '2026-11-25T13:00:00+00:00'
    >>> parse_time("2026-11-25", "--to").isoformat()
    '2026-11-25T00:00:00+00:00'
    """
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReplayRangeError(
            f"{option} {text!r} is not a time: write ISO 8601, e.g. 2026-11-25T14:00:00Z or 2026-11-25 14:00+01:00"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def to_ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


# A range's end that every message is before: read() with it as ``end`` filters nothing by time.
END_OF_TIME = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class PartitionRange:
    topic: str
    partition: int
    start: int  # first offset to read
    end: int  # first offset not to read

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


class RangeReader:
    """Reads [start, end] of some topics by message timestamp, with a throwaway group that never commits."""

    def __init__(self, kafka: KafkaTarget) -> None:
        access = kafka_access(kafka)
        self.bootstrap = access.bootstrap
        self._topics = existing_topics(access)  # raises KafkaUnavailable with advice when unreachable
        self._consumer = Consumer({
            **access.confluent_config(),
            # Unique and never committed: the live consumer groups never see this reader.
            "group.id": f"toex-replay-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            **_QUIET,
        })

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_topics(self, topics: list[str]) -> None:
        missing = [t for t in topics if t not in self._topics]
        if missing:
            raise ReplayRangeError(
                f"topic(s) {', '.join(missing)} do not exist on {self.bootstrap}; the input topics are created "
                "by the worker (`toex-stream worker`), and --topics takes names such as toex.adverts"
            )

    def _partitions(self, topic: str) -> list[int]:
        metadata = self._consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
        return sorted(metadata.topics[topic].partitions)

    def _offsets_at(self, topic: str, partitions: list[int], at_ms: int | None) -> dict[int, int]:
        """Per partition, the first offset at or after ``at_ms`` (None: the beginning), or the end when none is."""
        result = {}
        try:
            if at_ms is not None:
                found = self._consumer.offsets_for_times([TopicPartition(topic, p, at_ms) for p in partitions],
                                                         timeout=METADATA_TIMEOUT_S)
            else:
                found = [TopicPartition(topic, p, -1) for p in partitions]
            for tp in found:
                low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, tp.partition),
                                                                 timeout=METADATA_TIMEOUT_S)
                if at_ms is None:
                    result[tp.partition] = low
                else:
                    result[tp.partition] = high if tp.offset < 0 else tp.offset
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot look up offsets of {topic} on {self.bootstrap}: {exc}") from None
        return result

    def ranges(self, topic: str, start: dt.datetime | None, end: dt.datetime) -> list[PartitionRange]:
        """Each partition's offsets for messages timestamped from ``start`` (None: the beginning) to ``end``."""
        partitions = self._partitions(topic)
        first = self._offsets_at(topic, partitions, None if start is None else to_ms(start))
        after = self._offsets_at(topic, partitions, to_ms(end) + 1)
        return [PartitionRange(topic, p, first[p], max(first[p], after[p])) for p in partitions]

    def read(
        self,
        ranges: list[PartitionRange],
        start: dt.datetime | None,
        end: dt.datetime,
        progress: Callable[[int], None] | None = None,
        timeout_s: float = 120.0,
    ) -> Iterator[InputMessage]:
        """The messages of ``ranges`` timestamped within [start, end], in arrival order per partition."""
        todo = {(r.topic, r.partition): r for r in ranges if r.size}
        if not todo:
            return
        self._consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in todo.values()])
        low, high = (-1 if start is None else to_ms(start)), to_ms(end)
        deadline = time.monotonic() + timeout_s
        try:
            while todo:
                batch = self._consumer.consume(num_messages=1000, timeout=0.5)
                if batch:
                    deadline = time.monotonic() + timeout_s
                elif time.monotonic() > deadline:
                    raise KafkaUnavailable(f"no messages from {self.bootstrap} for {timeout_s:.0f} s while replaying")
                read = 0
                for message in batch:
                    error = message.error()
                    if error is not None:
                        topic_of, partition_of = message.topic(), message.partition()
                        if error.name() != "_PARTITION_EOF":
                            raise KafkaUnavailable(f"reading {topic_of}[{partition_of}]: {error}")
                        if topic_of is not None and partition_of is not None:
                            todo.pop((topic_of, partition_of), None)  # nothing more there (a compacted topic has gaps)
                        continue
                    topic, partition, offset = position(message)
                    where = (topic, partition)
                    wanted = todo.get(where)
                    if wanted is None:
                        continue
                    if offset >= wanted.end:  # the offset before the end was compacted away
                        del todo[where]
                        continue
                    read += 1
                    _, timestamp = message.timestamp()
                    if low <= timestamp <= high:
                        yield InputMessage(topic, message.key(), message.value(), partition, offset, timestamp)
                    if offset + 1 >= wanted.end:
                        del todo[where]
                if progress is not None and read:
                    progress(read)
        finally:
            self._consumer.unassign()
