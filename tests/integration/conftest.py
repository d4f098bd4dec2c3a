"""A real Kafka broker and a real worker for the whole test session.

The broker is started from its jars on free ports with its own data folder,
unless TOEX_KAFKA_BOOTSTRAP names one that answers (then it is used as is).
Each test uses its own event ids, so tests never see each other's events.
When the broker or the worker cannot start, the tests fail: they never skip.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import Engine

from streams.app import APP_ID
from tests.canary_logs import leaks
from tests.conftest import example, free_port
from tests.fake_slack import FakeSlack
from toex_stream.adapters.kafka_io import Delivered, TopicReader, broker_reachable, durable_producer, produce_and_wait
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.store import migrate
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

OUTPUT_TOPICS = [contract.TOPIC_OBSERVATIONS, contract.TOPIC_DEADLETTER]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that make the live group rebalance run last.

    Every other test relies on the session worker holding all partitions. A
    rebalance hands them round again, and once (in CI, not reproduced since)
    left the session worker short of some for minutes; those tests should not
    pay for it. Tests that flood the worker come after those. The order is otherwise kept.
    """
    items.sort(key=lambda item: (item.get_closest_marker("floods") is not None,
                                 item.get_closest_marker("rebalances") is not None))
WORKER_READY_TIMEOUT_S = 180.0


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    """A Slack-compatible Web API on loopback: the session worker's Slack receivers post to it."""
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, fake_slack: FakeSlack) -> Settings:
    data_dir = tmp_path_factory.mktemp("toex-data")
    # The bundled routes with a one-second group wait, so tests need not wait half a minute.
    routes = data_dir / "routes.yaml"
    routes.write_text(
        (resources.files("toex_stream") / "data" / "routes.yaml").read_text(encoding="utf-8")
        .replace("group_wait: 30s", "group_wait: 1s"), encoding="utf-8",
    )
    external = os.environ.get("TOEX_KAFKA_BOOTSTRAP")
    if external and broker_reachable(external):
        bootstrap = external
    else:
        bootstrap = f"127.0.0.1:{free_port()}"
    return Settings(
        kafka_bootstrap=bootstrap,
        kafka_controller_port=free_port(),
        data_dir=data_dir,
        web_port=free_port(),
        routes_file=routes,
        slack_bot_token="xoxb-test-token",
        slack_api_url=fake_slack.api_url,
    )


@pytest.fixture(scope="session")
def kafka(settings: Settings) -> Iterator[Settings]:
    broker = LocalKafka(settings)
    try:
        started = broker.up()
    except Exception as exc:  # any failure to start is a test failure, with its reason
        pytest.fail(f"could not start the Kafka broker: {exc}", pytrace=False)
    yield settings
    if started:
        broker.down()


def _log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def group_lag(settings: Settings, topics: list[str], group: str = APP_ID) -> str:
    """Committed offset and end offset of the live group on each partition of ``topics``.

    For a failure message: a stalled partition shows as a lag that does not shrink.
    """
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, p) for topic in topics
                      for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions]
        lines = []
        for tp in consumer.committed(partitions, timeout=10):
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lines.append(f"{tp.topic}[{tp.partition}] committed={tp.offset} end={high}")
        return "\n".join(lines)
    except Exception as exc:  # a diagnostic must not hide the failure it explains
        return f"(group offsets unavailable: {exc})"
    finally:
        consumer.close()


def stall_report(settings: Settings, topics: list[str]) -> str:
    """What a test that waited in vain for the worker prints: the group's lag and the worker's last lines."""
    return (f"consumer group {APP_ID}:\n{group_lag(settings, topics)}\n"
            f"worker log:\n{_log_tail(settings.data_dir / 'worker.log', 80)}")


@pytest.fixture(scope="session")
def worker(kafka: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """The Faust worker, proven ready by a probe event that came out as an Observation."""
    log_file = kafka.data_dir / "worker.log"
    process = start_worker(kafka, log_file)
    try:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while True:
            try:
                reader = TopicReader(kafka.kafka_bootstrap, OUTPUT_TOPICS)
                break
            except Exception:  # topics not created yet
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the worker did not create its topics:\n{_log_tail(log_file)}", pytrace=False)
                time.sleep(0.5)
        with reader:
            probe = with_ids(example("referral"), "probe")
            sent = send(durable_producer(kafka.kafka_bootstrap), contract.TOPIC_REFERRALS, probe)
            while not collect(reader, [sent], timeout=5):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the worker processed nothing:\n{_log_tail(log_file)}", pytrace=False)
        yield process
    finally:
        stop_process_group(process)
    # Every test's events went through this worker: none of the planted personal data may be in its log.
    found = leaks(log_file.read_text(encoding="utf-8", errors="replace"))
    if found:
        pytest.fail(f"the session worker's log ({log_file}) carries planted personal data: {found}", pytrace=False)


@pytest.fixture
def outbox(store_engine: Engine) -> Outbox:
    """The alert outbox on a fresh, migrated database (SQLite and PostgreSQL: ``store_engine``'s params)."""
    migrate(store_engine)
    return Outbox(store_engine)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A Slack-compatible Web API of the test's own, on loopback."""
    with FakeSlack() as server:
        yield server


@pytest.fixture
def producer(kafka: Settings) -> Producer:
    return durable_producer(kafka.kafka_bootstrap)


@pytest.fixture
def reader(kafka: Settings, worker: subprocess.Popen[bytes]) -> Iterator[TopicReader]:
    """Reads what the worker writes from now on; fails the test if the worker has died."""
    log_file = kafka.data_dir / "worker.log"
    if worker.poll() is not None:
        pytest.fail(f"the worker died before this test:\n{_log_tail(log_file)}", pytrace=False)
    with TopicReader(kafka.kafka_bootstrap, OUTPUT_TOPICS) as topic_reader:
        yield topic_reader
    if worker.poll() is not None:
        pytest.fail(f"the worker died during this test:\n{_log_tail(log_file)}", pytrace=False)


def scrape(port: int) -> dict[str, float] | None:
    """The worker's /metrics as {'name{label="value",...}': value}, labels sorted; None when it does not answer."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return None
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


def with_ids(event: dict, tag: str) -> dict:
    """A copy of an example event with ids no other test uses."""
    unique = f"{tag}-{uuid.uuid4().hex[:12]}"
    event = dict(event)
    for field in ("referral_id", "advert_id", "intel_id"):
        if field in event:
            event[field] = unique
    return event


def send(producer: Producer, topic: str, value: dict | bytes, key: bytes | None = None) -> Delivered:
    """Produce one message (a dict is JSON-encoded; bytes go as they are) and wait for the ack."""
    import json

    payload = value if isinstance(value, bytes) else json.dumps(value).encode()
    if key is None and isinstance(value, dict):
        model = contract.TOPIC_MODELS[topic].model_validate_json(payload)
        key = contract.event_key(model).encode()  # type: ignore[arg-type]  # an input topic's model
    return produce_and_wait(producer, topic, key, payload)


def source_position(topic: str, value: bytes) -> tuple[str, int, int]:
    """Which input message an output message is about."""
    if topic == contract.TOPIC_OBSERVATIONS:
        observation = contract.Observation.model_validate_json(value)
        return observation.event_ref.topic, observation.partition, observation.offset
    letter = contract.DeadLetter.model_validate_json(value)
    return letter.source_topic, letter.partition, letter.offset


def collect(
    reader: TopicReader, sent: list[Delivered], timeout: float = 60.0, linger: float = 0.0
) -> dict[tuple[str, int, int], list[tuple[str, bytes]]]:
    """Outputs about the ``sent`` messages: all of them within ``timeout``, then ``linger`` more seconds."""
    wanted = {(d.topic, d.partition, d.offset) for d in sent}
    found: dict[tuple[str, int, int], list[tuple[str, bytes]]] = {}
    deadline = time.monotonic() + timeout
    linger_until = None
    while True:
        now = time.monotonic()
        if linger_until is None and (wanted <= found.keys() or now > deadline):
            linger_until = now + linger
        if linger_until is not None and now >= linger_until:
            return found
        for message in reader.poll(timeout=0.5):
            position = source_position(message.topic(), message.value())
            if position in wanted:
                found.setdefault(position, []).append((message.topic(), message.value()))
