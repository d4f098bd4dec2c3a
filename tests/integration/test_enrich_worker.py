"""The enrich agent against a real broker: one Observation per valid event, dead letters for the rest."""

from __future__ import annotations

import base64
import json

import pytest

from tests.integration.conftest import collect, send, with_ids
from toex_stream.domain import contract

pytestmark = pytest.mark.integration


def one_output(items: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """The output about one input. Delivery is at least once: a partition read again after a heal
    repeats it, on the same topic; the first is checked."""
    assert items and len({topic for topic, _ in items}) == 1, items
    return items[0]


@pytest.mark.parametrize(
    ("name", "topic", "source", "mentions"),
    [
        ("referral", contract.TOPIC_REFERRALS, "referral", 1),
        ("advert", contract.TOPIC_ADVERTS, "advert", 1),
        ("intel", contract.TOPIC_INTEL, "intel", 1),
    ],
)
def test_each_valid_event_yields_exactly_one_observation(
    name, topic, source, mentions, producer, reader, request
):
    event = with_ids(request.getfixturevalue(name), name)
    sent = send(producer, topic, event)

    outputs = collect(reader, [sent], timeout=60, linger=3)

    out_topic, value = one_output(outputs[(sent.topic, sent.partition, sent.offset)])
    assert out_topic == contract.TOPIC_OBSERVATIONS
    observation = contract.Observation.model_validate_json(value)
    assert observation.source == source
    expected_key = contract.event_key(contract.TOPIC_MODELS[topic].model_validate_json(json.dumps(event)))
    assert observation.observation_id == f"{topic}:{expected_key}"
    assert len(observation.mentions) == mentions
    assert all(phone.startswith("+44") for m in observation.mentions for phone in m.phones)


def test_bad_messages_go_to_the_dead_letter_topic_and_processing_goes_on(referral, producer, reader):
    key = b"same-partition-for-all"  # one partition, so order is the order sent
    truncated = json.dumps(with_ids(referral, "trunc")).encode()[:90]
    wrong_type = {**with_ids(referral, "type"), "consent_to_share": "yes"}
    unknown_enum = {**with_ids(referral, "enum"), "exploitation_types": ["slavery"]}
    not_utf8 = b'{"referral_id": "\xff\xfe"}'
    valid_after = with_ids(referral, "after")

    bad = [
        (truncated, "invalid_json", "not valid JSON"),
        (json.dumps(wrong_type).encode(), "schema", "consent_to_share"),
        (json.dumps(unknown_enum).encode(), "schema", "exploitation_types.0"),
        (not_utf8, "not_utf8", "not valid UTF-8"),
    ]
    sent_bad = [send(producer, contract.TOPIC_REFERRALS, payload, key=key) for payload, _, _ in bad]
    sent_valid = send(producer, contract.TOPIC_REFERRALS, json.dumps(valid_after).encode(), key=key)

    outputs = collect(reader, [*sent_bad, sent_valid], timeout=60, linger=3)

    for delivered, (payload, kind, reason_part) in zip(sent_bad, bad, strict=True):
        out_topic, value = one_output(outputs[(delivered.topic, delivered.partition, delivered.offset)])
        assert out_topic == contract.TOPIC_DEADLETTER
        letter = contract.DeadLetter.model_validate_json(value)
        assert letter.kind == kind
        assert reason_part in letter.reason
        assert base64.b64decode(letter.value_b64) == payload, "the original bytes are kept"
        assert base64.b64decode(letter.key_b64 or "") == key
        assert (letter.source_topic, letter.partition, letter.offset) == (
            delivered.topic, delivered.partition, delivered.offset
        )
    out_topic, value = one_output(outputs[(sent_valid.topic, sent_valid.partition, sent_valid.offset)])
    assert out_topic == contract.TOPIC_OBSERVATIONS
    assert contract.Observation.model_validate_json(value).observation_id.endswith(valid_after["referral_id"])


def test_dead_letter_reasons_hold_no_personal_data(referral, producer, reader):
    event = with_ids(referral, "pii")
    event["subjects"] = [{**event["subjects"][0], "nationality": "Hungarian", "date_of_birth": "2999-01-01"}]
    sent = send(producer, contract.TOPIC_REFERRALS, json.dumps(event).encode())

    _, value = one_output(collect(reader, [sent], timeout=60)[(sent.topic, sent.partition, sent.offset)])

    letter = contract.DeadLetter.model_validate_json(value)
    assert {e.path for e in letter.errors} == {"subjects.0.nationality", "subjects.0.date_of_birth"}
    assert "Hungarian" not in letter.reason and "2999" not in letter.reason
    assert "Kov" not in letter.reason


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_from_outside_producers_are_read(codec, kafka, reader, referral):
    from toex_stream.adapters.kafka_io import durable_producer

    producer = durable_producer(kafka.kafka_bootstrap, **{"compression.type": codec})
    sent = send(producer, contract.TOPIC_REFERRALS, with_ids(referral, codec))

    out_topic, _ = one_output(collect(reader, [sent], timeout=60)[(sent.topic, sent.partition, sent.offset)])
    assert out_topic == contract.TOPIC_OBSERVATIONS
