"""The score agent and online learning against a real broker: scores with reasons, outcomes learnt, restarts resumed."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from tests.conftest import free_port
from tests.integration.conftest import scrape, send
from tests.integration.test_match_worker import let_workers_follow_nominals, publish_nominal, referral_about
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, produce_and_wait
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

pytestmark = pytest.mark.integration


def scores_for(reader: TopicReader, nominal_id: str, count: int, timeout: float = 90) -> list[contract.Score]:
    found: list[contract.Score] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(found) < count:
        for message in reader.poll(timeout=0.5):
            score = contract.Score.model_validate_json(message.value())
            if score.nominal_id == nominal_id:
                found.append(score)
    return found


def metric(port: int, name: str, threat: str = "msht") -> int | None:
    values = scrape(port)
    found = None if values is None else values.get(f'{name}{{threat="{threat}"}}')
    return None if found is None else int(found)


def wait_for_metric(port: int, name: str, value: int, timeout: float = 90) -> int | None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = metric(port, name)
        if seen == value:
            return seen
        time.sleep(1)
    return seen


@pytest.mark.rebalances
def test_scores_carry_reasons_and_outcomes_train_every_worker_which_resumes_after_a_kill(
    kafka, worker, referral, tmp_path
):
    producer = durable_producer(kafka.kafka_bootstrap)
    publish_nominal(producer, "WMP-S-1", "Kinga", "Farkas", "1998-05-05", "+447700900555")
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_SCORES]) as reader:
        for n in range(3):
            event = referral_about(referral, f"score{n}", "Kinga", "Farkas", "07700 900555")
            send(producer, contract.TOPIC_REFERRALS, event)
        scores = scores_for(reader, "WMP-S-1", 3)
    msht = [s for s in scores if s.threat == "msht"]
    assert msht, [s.threat for s in scores]
    last = msht[-1]
    assert last.reasons and all(r.text for r in last.reasons)
    assert last.region == "ROCUWM" and last.features["referrals_30d"] >= 1
    assert last.model_version.startswith("msht@v")

    # Outcomes other tests recorded are on toex.training too: count from what the session worker holds.
    before = wait_for_metric(kafka.web_port, "toex_model_labels", metric(kafka.web_port, "toex_model_labels") or 0)
    assert before is not None, "the session worker serves /metrics"
    expected = before + 5
    second_dir, port = tmp_path / "second", free_port()
    second = kafka.model_copy(update={"data_dir": second_dir, "web_port": port, "database_url": kafka.database_url})
    process = start_worker(second, tmp_path / "second.log")
    try:
        for n in range(5):
            outcome = contract.Feedback(schema_version=1, alert_id=f"alert-{n}", nominal_id="WMP-S-1",
                                        outcome="safeguarded", analyst_id="analyst-1",
                                        at=dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
            produce_and_wait(producer, contract.TOPIC_FEEDBACK, b"WMP-S-1", outcome.model_dump_json().encode())
        assert wait_for_metric(port, "toex_model_labels", expected) == expected, \
            "the second worker learnt every outcome"
        assert (second_dir / "models" / "checkpoint.pkl").exists()
    finally:
        process.kill()  # mid-stream, no clean shutdown
        process.wait()
        stop_process_group(process)
    restarted = start_worker(second, tmp_path / "restarted.log")
    try:
        assert wait_for_metric(port, "toex_model_labels", expected) == expected
        # Restored from its checkpoint (one example per threat scored), not relearnt from the topic.
        log = (tmp_path / "restarted.log").read_text()
        assert re.search(rf"models restored at training offset \d+: .*'msht': 'msht@v\d+/l{expected}'", log), \
            log[-2000:]
    finally:
        stop_process_group(restarted)
