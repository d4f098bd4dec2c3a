"""Canary personal data through the real worker: none of it may reach the worker's log (issue 15, item 5).

A referral naming a made-up person (name, alias, date of birth, phone, email,
address) goes through enrich, matching and scoring; the same person in a
referral that breaks the contract goes to the dead letters. Then the worker's
whole log is searched for every value, in the forms the pipeline writes them.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.conftest import collect, send, with_ids
from toex_stream.adapters.kafka_io import TopicReader
from toex_stream.domain import contract

pytestmark = pytest.mark.integration

CANARY = {"given_name": "Zebedee", "family_name": "Quillfeather", "aliases": ["Zeb Quillfeather"],
          "date_of_birth": "1994-03-29", "phones": ["07700 900461"],
          "emails": ["zeb.quillfeather@example.org"],
          "addresses": [{"text": "Flat 9, 71 Canary Wharf Row", "postcode": "E14 5AB", "town": "London"}]}
# What each value may look like once normalised by enrich or matching.
NEEDLES = ["Zebedee", "ZEBEDEE", "zebedee", "Quillfeather", "quillfeather", "QUILLFEATHER", "1994-03-29",
           "900461", "447700900461", "zeb.quillfeather", "Canary Wharf Row", "E14 5AB", "E145AB"]


def test_no_canary_value_reaches_the_worker_log(kafka, worker, referral, producer, reader) -> None:
    log_file = kafka.data_dir / "worker.log"
    start = log_file.stat().st_size
    good = with_ids(referral, "canary")
    good["subjects"] = [{**good["subjects"][0], **CANARY}]
    bad = {**with_ids(referral, "canary-bad"), "subjects": [{**good["subjects"][0], "role": "ringleader"}]}

    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches:
        sent = [send(producer, contract.TOPIC_REFERRALS, good),
                send(producer, contract.TOPIC_REFERRALS, json.dumps(bad).encode(), key=b"canary-bad")]
        outputs = collect(reader, sent, timeout=60)
        # At least once: a repeat after a heal is on the same topic.
        assert {t for t, _ in outputs[(sent[0].topic, sent[0].partition, sent[0].offset)]} == \
            {contract.TOPIC_OBSERVATIONS}
        assert {t for t, _ in outputs[(sent[1].topic, sent[1].partition, sent[1].offset)]} == \
            {contract.TOPIC_DEADLETTER}
        observation = contract.Observation.model_validate_json(
            outputs[(sent[0].topic, sent[0].partition, sent[0].offset)][0][1])
        deadline = time.monotonic() + 60
        decided = False
        while not decided and time.monotonic() < deadline:
            decided = any(contract.MatchResult.model_validate_json(m.value()).observation_id ==
                          observation.observation_id for m in matches.poll(1.0))
        assert decided, "the canary was never matched"
    time.sleep(2)  # what the score and situate agents log about it

    text = log_file.read_bytes()[start:].decode("utf-8", "replace")
    assert "dead letter" in text, "the worker's lines about these events are in the window searched"
    leaked = [needle for needle in NEEDLES if needle in text]
    assert leaked == [], f"the worker log carries canary values: {leaked}"
