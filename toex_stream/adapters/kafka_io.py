"""Kafka adapters built with confluent-kafka: reachability, topic creation, a durable producer.

This is the outside-world edge of the core: the domain modules never import it.
Every function takes a :class:`~toex_stream.adapters.kafka_access.KafkaAccess`
(the bootstrap servers and the security settings), or a bare bootstrap string
for a PLAINTEXT broker.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, TopicMetadata

from toex_stream.adapters.kafka_access import KafkaAccess, KafkaTarget, kafka_access
from toex_stream.adapters.topics import TopicSpec
from toex_stream.domain.contract import TOPIC_NOMINALS, Nominal
from toex_stream.domain.errors import ToexError

log = logging.getLogger(__name__)

# librdkafka logs every failed connection attempt to stderr; the callers here
# report failures themselves, in words a user can act on.
_QUIET = {"log_level": 0}


# Errors a just-created topic gives until its partitions have leaders.
_NO_LEADER_YET = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)


class KafkaUnavailable(ToexError):
    """The broker could not be reached or did not acknowledge a write."""


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_reachable(kafka: KafkaTarget, timeout: float = 5.0) -> bool:
    """Whether a Kafka broker answers a metadata request at ``kafka`` (with its credentials, if any)."""
    access = kafka_access(kafka)
    first = access.bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not port_open(host, int(port), timeout=min(timeout, 2.0)):
        return False
    try:
        AdminClient({**access.confluent_config(), **_QUIET}).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def _unreachable(access: KafkaAccess, why: object) -> KafkaUnavailable:
    advice = "start it with `toex-stream kafka up` or set TOEX_KAFKA_BOOTSTRAP"
    if access.security_protocol != "PLAINTEXT":
        # An answer refused for bad credentials or an untrusted certificate looks the same from here.
        advice += (f"; it is reached with {access.security_protocol}: check TOEX_KAFKA_SECURITY_PROTOCOL, "
                   "TOEX_KAFKA_SASL_MECHANISM, TOEX_KAFKA_SASL_USERNAME, TOEX_KAFKA_SASL_PASSWORD and "
                   "TOEX_KAFKA_SSL_CA_FILE")
    return KafkaUnavailable(f"cannot reach Kafka at {access.bootstrap} ({why}); {advice}")


def _list_topics(access: KafkaAccess, timeout: float) -> dict[str, TopicMetadata]:
    bootstrap = access.bootstrap
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if "," not in bootstrap and not port_open(host, int(port), timeout=min(timeout, 2.0)):
        raise _unreachable(access, "connection refused")
    try:
        return AdminClient({**access.confluent_config(), **_QUIET}).list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise _unreachable(access, exc) from None


def existing_topics(kafka: KafkaTarget, timeout: float = 10.0) -> set[str]:
    """Names of the topics on the broker."""
    return set(_list_topics(kafka_access(kafka), timeout))


def ensure_topics(kafka: KafkaTarget, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    An existing topic with a different partition count is an error, since
    Faust tables need their changelogs co-partitioned with their sources.
    """
    access = kafka_access(kafka)
    existing = _list_topics(access, timeout)
    for spec in specs:
        if spec.name in existing and len(existing[spec.name].partitions) != spec.partitions:
            raise ToexError(
                f"topic {spec.name} has {len(existing[spec.name].partitions)} partitions on "
                f"{access.bootstrap} but toex-stream expects {spec.partitions}; recreate it or change "
                "toex_stream/adapters/topics.py"
            )
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    admin = AdminClient({**access.confluent_config(), **_QUIET})
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor, config=s.config())
            for s in missing
        ],
        operation_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker won the race
                raise KafkaUnavailable(f"could not create topic {name}: {exc}") from None
    _wait_for_leaders(access, created, timeout)
    log.info("created topics: %s", ", ".join(sorted(created)))
    return created


def _wait_for_leaders(access: KafkaAccess, names: list[str], timeout: float) -> None:
    """Return once every partition of ``names`` has a leader, so readers and writers can start."""
    deadline = time.monotonic() + timeout
    while True:
        topics = _list_topics(access, timeout)
        leaderless = [
            name
            for name in names
            if name not in topics or any(p.leader < 0 for p in topics[name].partitions.values())
        ]
        if not leaderless:
            return
        if time.monotonic() > deadline:
            raise KafkaUnavailable(f"topics without a leader after {timeout:.0f} s: {', '.join(leaderless)}")
        time.sleep(0.2)


def durable_producer(kafka: KafkaTarget, **extra: str | int) -> Producer:
    """A producer whose writes count only once every in-sync replica has them."""
    return Producer(
        {
            **kafka_access(kafka).confluent_config(),
            "acks": "all",
            "enable.idempotence": True,
            # The Java client's partitioner, as Faust's producer (aiokafka) uses: a key lands on
            # the same partition whoever writes it, so tables stay co-partitioned with topics.
            # librdkafka's default (CRC32) would send feedback away from its nominal's state.
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            **_QUIET,
            **extra,
        }
    )


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


def position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a message the client consumed or delivered.

    The client sets all three on every such message; its types leave them
    optional because a ``Message`` can also be made by hand.
    """
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise KafkaUnavailable(f"the client returned a message without a position: {topic}[{partition}]@{offset}")
    return topic, partition, offset


def topic_and_value(message: Message) -> tuple[str, bytes]:
    """Topic and value of a consumed message from a topic that holds no tombstones (null values)."""
    topic, value = message.topic(), message.value()
    if topic is None or value is None:
        raise ToexError(f"a message on {topic} has no value, but that topic should hold none without one")
    return topic, value


def produce_and_wait(
    producer: Producer, topic: str, key: bytes | None, value: bytes | None, timeout: float = 30.0
) -> Delivered:
    """Send one message (a null value is a tombstone) and wait for the broker's acknowledgement."""
    outcome: list[tuple[KafkaError | None, Message]] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        outcome.append((err, msg))

    producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    producer.flush(timeout)
    if not outcome:
        raise KafkaUnavailable(f"Kafka did not acknowledge the write to {topic} within {timeout:.0f} s")
    err, msg = outcome[0]
    if err is not None:
        raise KafkaUnavailable(f"Kafka refused the write to {topic}: {err}")
    return Delivered(*position(msg))


class TopicReader:
    """Reads topics outside any consumer group of the system, from the start or from now.

    For the demo, the tests and tools that watch what the worker wrote; it
    commits nothing, so it never disturbs the live consumers.
    """

    def __init__(self, kafka: KafkaTarget, topics: list[str], start: Literal["beginning", "end"] = "end") -> None:
        access = kafka_access(kafka)
        self._consumer = Consumer(
            {
                **access.confluent_config(),
                "group.id": f"toex-reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **_QUIET,
            }
        )
        metadata = self._consumer.list_topics(timeout=30)
        assignment = []
        for topic in topics:
            if topic not in metadata.topics:
                raise ToexError(f"topic {topic} does not exist on {access.bootstrap}; start the worker to create it")
            for partition in metadata.topics[topic].partitions:
                if start == "end":
                    assignment.append(TopicPartition(topic, partition, self._end_offset(topic, partition)))
                else:
                    assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        self._consumer.assign(assignment)

    def _end_offset(self, topic: str, partition: int, timeout: float = 30.0) -> int:
        # A topic created a moment ago may have no leader yet: retry what is retriable.
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
                return int(high)
            except KafkaException as exc:
                transient = exc.args[0].retriable() or exc.args[0].code() in _NO_LEADER_YET
                if not transient or time.monotonic() > deadline:
                    raise KafkaUnavailable(f"cannot read the end of {topic}[{partition}]: {exc}") from None
                time.sleep(0.2)

    def poll(self, timeout: float = 1.0, max_messages: int = 500) -> list[Message]:
        """The messages that arrived within ``timeout`` seconds (errors raise)."""
        messages = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        for message in messages:
            error = message.error()
            if error is not None and not error.name() == "_PARTITION_EOF":
                raise KafkaUnavailable(f"reading {message.topic()}: {error}")
        return [m for m in messages if m.error() is None]

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NominalPublisher:
    """Produces nominals onto the compacted ``toex.nominals``; ``flush`` raises if the broker refused any."""

    def __init__(self, kafka: KafkaTarget) -> None:
        self._producer = durable_producer(kafka, **{"linger.ms": 20, "message.timeout.ms": 60_000})
        self.sent = 0
        self._failure: str | None = None

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None and self._failure is None:
            self._failure = str(err)

    def __call__(self, nominal: Nominal) -> None:
        self._producer.produce(TOPIC_NOMINALS, key=nominal.nominal_id.encode(),
                               value=nominal.model_dump_json().encode(), on_delivery=self._delivered)
        self.sent += 1
        self._producer.poll(0)

    def flush(self) -> None:
        remaining = self._producer.flush(60)
        if self._failure or remaining:
            raise KafkaUnavailable(f"Kafka did not take every nominal ({self._failure or f'{remaining} unsent'}); "
                                   "run the import again with --republish")


@dataclass(frozen=True)
class TopicIncarnation:
    """Which creation of a topic this is (its id changes when it is deleted and created again), and how long
    compaction keeps a tombstone on it."""

    topic_id: str
    delete_retention_ms: int


def topic_incarnation(kafka: KafkaTarget, topic: str, timeout: float = 15.0) -> TopicIncarnation | None:
    """The topic's id and ``delete.retention.ms``; None when the broker does not say (then trust no snapshot)."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient({**kafka_access(kafka).confluent_config(), **_QUIET})
    try:
        [description] = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout).values()
        topic_id = str(description.result(timeout=timeout).topic_id)
        [configs] = admin.describe_configs([ConfigResource("topic", topic)], request_timeout=timeout).values()
        retention = int(configs.result(timeout=timeout)["delete.retention.ms"].value)
    except (KafkaException, KeyError, ValueError, TypeError) as exc:
        log.warning("cannot read the id of topic %s: %s", topic, exc)
        return None
    return TopicIncarnation(topic_id, retention)


class EventReader:
    """Reads one input message back by its partition and offset, for a reviewer's page (never committing).

    One consumer, assigned to the one offset each time; a lock keeps two pages from sharing it at once.
    An offset Kafka no longer holds (retention deleted it) or never held reads as None.
    """

    def __init__(self, kafka: KafkaTarget, timeout_s: float = 5.0) -> None:
        import threading

        access = kafka_access(kafka)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._consumer = Consumer({
            **access.confluent_config(),
            "group.id": f"toex-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "enable.partition.eof": True,
            **_QUIET,
        })

    def read(self, topic: str, partition: int, offset: int) -> bytes | None:
        with self._lock:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                             timeout=self._timeout_s, cached=False)
            if not low <= offset < high:
                return None
            self._consumer.assign([TopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + self._timeout_s
            try:
                while time.monotonic() < deadline:
                    message = self._consumer.poll(0.5)
                    if message is None:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            return None
                        raise KafkaException(error)
                    at = message.offset()
                    if at == offset:
                        return message.value()
                    if at is not None and at > offset:  # compacted away, or a transaction marker's place
                        return None
                return None
            finally:
                self._consumer.unassign()

    def close(self) -> None:
        self._consumer.close()
