"""The commit rule in a running worker: a record acknowledged but never processed is read again, not lost.

Stock faust-streaming acknowledges records its streams skip after a rebalance
and commits past them: the events are gone. ``tests/dropping_worker.py`` makes
that happen to every seventh referral, deterministically, and this test runs
the worker with the fix switched off (the loss is seen: the group's commit is
at the end of the log, the events have no observation) and on (every event
observed, the commit at the end). A broker of its own: the consumer group is
the worker's fixed one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from streams.app import APP_ID
from tests.conftest import example, free_port
from tests.store_fixtures import ThrowawayPostgres, create_database
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, ensure_topics, produce_and_wait
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.adapters.topics import ALL
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

pytestmark = pytest.mark.integration

EVENTS = 42  # six of them at offsets 3 modulo 7 on some partition, whichever way the keys fall


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp("commit-rule")
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                        data_dir=folder, web_port=free_port())
    broker = LocalKafka(settings)
    broker.up()
    ensure_topics(settings.kafka_bootstrap, ALL)
    yield settings
    broker.down()


def committed_and_end(settings: Settings, topic: str = contract.TOPIC_REFERRALS) -> dict[int, tuple[int, int]]:
    """The worker group's committed offset and the log end, per partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": APP_ID})
    try:
        partitions = [TopicPartition(topic, p) for p in range(4)]
        return {tp.partition: (tp.offset, consumer.get_watermark_offsets(tp, timeout=10)[1])
                for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def run_worker(settings: Settings, stock: bool, seconds: float, quiet_s: float) -> tuple[set[str], set[str], dict]:
    """Send EVENTS referrals, run the dropping worker until all are observed or none more for ``quiet_s``.

    Returns the sent keys, the observed ones, and the group's (committed, end) offsets per partition.
    """
    sent = send_referrals(settings, "rule", EVENTS)
    env = {**os.environ, **settings_env(settings), "TOEX_TEST_DROP": "7:3",
           "TOEX_TEST_STOCK_FAUST": "1" if stock else "0"}
    log_file = settings.data_dir / f"worker-{'stock' if stock else 'fixed'}.log"
    with open(log_file, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "tests.dropping_worker"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   cwd=Path(__file__).resolve().parents[2])
    seen: set[str] = set()
    try:
        with TopicReader(settings.kafka_bootstrap, [contract.TOPIC_OBSERVATIONS]) as reader:
            deadline = time.monotonic() + seconds
            last_new = time.monotonic()
            while time.monotonic() < deadline and not sent <= seen:
                for message in reader.poll(timeout=0.5):
                    seen.add(contract.Observation.model_validate_json(message.value()).event_ref.key)
                    last_new = time.monotonic()
                if seen and time.monotonic() - last_new > quiet_s:
                    break
                assert process.poll() is None, log_file.read_text(errors="replace")[-3000:]
            time.sleep(4)  # a commit interval, so the group's offsets show what the worker committed
            commits = committed_and_end(settings)
    finally:
        stop_process_group(process)
    return sent, seen & sent, commits


def test_stock_faust_commits_past_acknowledged_records_and_the_commit_rule_reads_them_again(own_broker) -> None:
    sent, seen, commits = run_worker(own_broker, stock=True, seconds=60, quiet_s=8)
    lost = sent - seen
    assert lost, "with the fix off, the dropped referrals are never observed"
    assert all(committed == end for committed, end in commits.values()), \
        f"and the group committed past them: {commits}"

    sent, seen, commits = run_worker(own_broker, stock=False, seconds=60, quiet_s=30)
    assert seen == sent, f"{len(sent - seen)} of {len(sent)} referrals never observed with the fix on"
    assert all(committed == end for committed, end in commits.values()), commits


class Decisions:
    """Observations and match decisions the worker wrote about the referrals a test sent."""

    def __init__(self) -> None:
        self.mentions_of: dict[str, set[str]] = {}
        self.decided: set[str] = set()

    def read(self, reader: TopicReader, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for message in reader.poll(timeout=0.3):
                if message.topic() == contract.TOPIC_OBSERVATIONS:
                    observation = contract.Observation.model_validate_json(message.value())
                    self.mentions_of[observation.event_ref.key] = {m.mention_id for m in observation.mentions}
                else:
                    self.decided.add(contract.MatchResult.model_validate_json(message.value()).mention_id)

    def complete(self, keys: set[str]) -> set[str]:
        return {key for key in keys if key in self.mentions_of and self.mentions_of[key] <= self.decided}

    def wait(self, reader: TopicReader, keys: set[str], seconds: float) -> set[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.complete(keys) != keys:
            self.read(reader, 0.5)
        return self.complete(keys)


def send_referrals(settings: Settings, tag: str, count: int) -> set[str]:
    producer = durable_producer(settings.kafka_bootstrap)
    keys = set()
    for n in range(count):
        event = {**example("referral"), "referral_id": f"{tag}-{n}-{uuid.uuid4().hex[:8]}"}
        key = f"{event['partner_id']}:{event['referral_id']}"
        produce_and_wait(producer, contract.TOPIC_REFERRALS, key.encode(), json.dumps(event).encode())
        keys.add(key)
    return keys


def test_a_database_outage_stalls_enrich_and_matching_without_committing_and_it_resumes_when_the_database_returns(
    own_broker, tmp_path
) -> None:
    server = ThrowawayPostgres()
    try:
        database_url = create_database(server.start())
        settings = own_broker.model_copy(update={"database_url": database_url, "data_dir": tmp_path,
                                                 "web_port": free_port()})
        worker = start_worker(settings, tmp_path / "worker.log")
        decisions = Decisions()
        try:
            with TopicReader(settings.kafka_bootstrap, [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES]) \
                    as reader:
                probe = send_referrals(settings, "ready", 1)
                assert decisions.wait(reader, probe, 120) == probe, "the worker matches while the database is up"

                server.halt()
                during = send_referrals(settings, "outage", 8)
                decisions.read(reader, 15)
                # Enrich waits too: the s.62 log of what it collected is in the database, and nothing is
                # done unlogged.
                assert not during & decisions.mentions_of.keys(), "no event is observed unlogged"
                assert decisions.complete(during) == set(), "no match decision is made without the database"
                stalled = committed_and_end(settings, contract.TOPIC_REFERRALS)
                assert any(committed < end for committed, end in stalled.values()), \
                    f"the stalled referrals are not committed: {stalled}"
                assert worker.poll() is None, "the worker waits; it does not stop"

                server.resume()
                assert decisions.wait(reader, during, 90) == during, "every event decided once the database is back"
            log = (tmp_path / "worker.log").read_text(errors="replace")
            assert "(database, attempt" in log and worker.poll() is None
        finally:
            stop_process_group(worker)
    finally:
        server.stop()
