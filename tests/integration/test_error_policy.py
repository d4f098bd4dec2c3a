"""The error policy in the live worker: a poison training example is dead-lettered and learning goes on."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.integration.conftest import scrape, send
from tests.integration.test_match_worker import let_workers_follow_nominals, publish_nominal, referral_about
from tests.integration.test_score_worker import metric, scores_for, wait_for_metric
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, produce_and_wait
from toex_stream.domain import contract

pytestmark = pytest.mark.integration


def test_after_a_poison_training_example_the_worker_stays_up_and_learns_from_the_next(kafka, worker, referral):
    producer = durable_producer(kafka.kafka_bootstrap)
    publish_nominal(producer, "WMP-P-1", "Radka", "Dvorak", "1997-07-07", "+447700900888")
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_SCORES]) as reader:
        send(producer, contract.TOPIC_REFERRALS, referral_about(referral, "poison", "Radka", "Dvorak", "07700 900888"))
        assert scores_for(reader, "WMP-P-1", 1), "the nominal has scored state to learn from"
    before = metric(kafka.web_port, "toex_model_labels") or 0
    errors_before = (scrape(kafka.web_port) or {}).get('toex_agent_errors_total{agent="training",kind="contract"}', 0)

    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_DEADLETTER]) as letters:
        produce_and_wait(producer, contract.TOPIC_TRAINING, b"WMP-P-1", b"{not json")
        produce_and_wait(producer, contract.TOPIC_TRAINING, b"WMP-P-1", b'{"schema_version": 1, "threat": 7}')
        outcome = contract.Feedback(schema_version=1, alert_id="alert-poison", nominal_id="WMP-P-1",
                                    outcome="safeguarded", analyst_id="analyst-1",
                                    at=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
        produce_and_wait(producer, contract.TOPIC_FEEDBACK, b"WMP-P-1", outcome.model_dump_json().encode())
        assert wait_for_metric(kafka.web_port, "toex_model_labels", before + 1) == before + 1, \
            "the example after the poison ones was learnt"
        found = []
        deadline = time.monotonic() + 30
        while len(found) < 2 and time.monotonic() < deadline:
            found += [contract.DeadLetter.model_validate_json(m.value()) for m in letters.poll(timeout=0.5)]
    assert [(letter.source_topic, letter.kind) for letter in found] == [(contract.TOPIC_TRAINING, "schema")] * 2
    assert (scrape(kafka.web_port) or {})['toex_agent_errors_total{agent="training",kind="contract"}'] \
        == errors_before + 2
    assert worker.poll() is None
