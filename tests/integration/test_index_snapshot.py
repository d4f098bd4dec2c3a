"""A worker restarted with its index snapshot matches nominals imported before and while it was down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import topics
from tests.conftest import free_port
from tests.integration.conftest import send
from tests.integration.test_match_worker import publish_nominal, referral_about, results_for
from toex_stream.adapters.index_snapshot import SNAPSHOT_FILE
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, ensure_topics, produce_and_wait
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

pytestmark = pytest.mark.integration

READY_S = 180.0


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory, kafka: Settings) -> Iterator[Settings]:
    """A broker of this module's own: its worker is alone in its group, so every match is its own."""
    folder = tmp_path_factory.mktemp("snapshot-broker")
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                        data_dir=folder, cache_dir=kafka.cache_dir, kafka_version=kafka.kafka_version,
                        web_port=free_port(), routes_file=kafka.routes_file)
    broker = LocalKafka(settings)
    try:
        broker.up()
    except Exception as exc:  # any failure to start is a test failure, with its reason
        pytest.fail(f"could not start the module's Kafka broker: {exc}", pytrace=False)
    try:
        yield settings
    finally:
        broker.down()


def wait_for_line(process, log_file: Path, line: str, count: int = 1, timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        if text.count(line) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the worker exited:\n{text[-3000:]}", pytrace=False)
        time.sleep(0.2)
    pytest.fail(f"no {line!r} in the worker's log after {timeout:.0f} s:\n{log_file.read_text()[-3000:]}",
                pytrace=False)


def test_a_worker_restarted_from_its_snapshot_matches_nominals_from_before_and_while_it_was_down(
    own_broker: Settings, referral: dict, tmp_path: Path
) -> None:
    settings = own_broker.model_copy(update={"data_dir": tmp_path / "worker",
                                             "database_url": f"sqlite:///{tmp_path / 'worker' / 'toex.sqlite3'}"})
    log_file = tmp_path / "worker.log"
    producer = durable_producer(settings.kafka_bootstrap)

    ensure_topics(settings.kafka_bootstrap, topics.ALL + topics.CHANGELOGS)
    publish_nominal(producer, "SNAP-T-1", "Réka", "Kovács", "2001-03-09", "+447700900711")
    publish_nominal(producer, "SNAP-T-3", "Olga", "Bakó", "1980-05-05", "+447700900733")
    first = start_worker(settings, log_file)
    try:
        wait_for_line(first, log_file, "snapshot of the index written")  # once it has loaded the nominals
    finally:
        stop_process_group(first)
    assert (settings.data_dir / "models" / SNAPSHOT_FILE).exists(), "beside the models' checkpoint"

    # While it is down: a new nominal, and the force withdraws another.
    publish_nominal(producer, "SNAP-T-2", "Zsófia", "Balogh", "1999-12-01", "+447700900722")
    produce_and_wait(producer, contract.TOPIC_NOMINALS, b"SNAP-T-3", None)

    second = start_worker(settings, log_file)
    try:
        wait_for_line(second, log_file, "nominals loaded", count=2)
        assert "index loaded from its snapshot: 2 nominals" in log_file.read_text(), "started from its snapshot"
        with TopicReader(settings.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches:
            events = {
                "SNAP-T-1": referral_about(referral, "snap-before", "Reka", "Kovacs", "07700 900 711"),
                "SNAP-T-2": referral_about(referral, "snap-down", "Zsofia", "Balogh", "07700 900 722"),
                "SNAP-T-3": referral_about(referral, "snap-erased", "Olga", "Bako", "07700 900 733"),
            }
            ids = {}
            for nominal_id, event in events.items():
                send(producer, contract.TOPIC_REFERRALS, event)
                ids[nominal_id] = f"toex.referrals:{event['partner_id']}:{event['referral_id']}#0"
            found = results_for(matches, set(ids.values()), timeout=120)
    finally:
        stop_process_group(second)
    assert found.keys() == set(ids.values()), log_file.read_text()[-3000:]
    assert (found[ids["SNAP-T-1"]][0].decision, found[ids["SNAP-T-1"]][0].nominal_id) == ("match", "SNAP-T-1")
    assert (found[ids["SNAP-T-2"]][0].decision, found[ids["SNAP-T-2"]][0].nominal_id) == ("match", "SNAP-T-2")
    erased = found[ids["SNAP-T-3"]][0]
    assert erased.nominal_id != "SNAP-T-3" and erased.provisional, "the tombstone read since the snapshot erased it"
