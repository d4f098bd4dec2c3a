"""Enrich without a broker: observations of valid events, dead letters for everything else."""

from __future__ import annotations

import base64
import json

import pytest

from toex_stream.domain import contract
from toex_stream.domain.enrich import enrich, extract_working_names


def run(topic: str, value: bytes, key: bytes | None = b"k", offset: int = 42):
    return enrich(topic, key, value, partition=3, offset=offset)


def test_referral_becomes_one_observation_with_normalised_identifiers(referral):
    observation = run(contract.TOPIC_REFERRALS, json.dumps(referral).encode())
    assert isinstance(observation, contract.Observation)
    assert observation.observation_id == "toex.referrals:salvation-army:REF-2026-0001"
    assert (observation.partition, observation.offset) == (3, 42)
    [mention] = observation.mentions
    assert mention.mention_id == "toex.referrals:salvation-army:REF-2026-0001#0"
    assert (mention.given_name, mention.family_name, mention.role) == ("Réka", "Kovács", "potential_victim")
    assert mention.phones == ["+447700900123"]
    assert {p.postcode for p in observation.places} == {None, "B1 1AA"}


def test_an_amended_referral_is_an_observation_of_its_own_under_the_same_key(referral):
    observation = run(contract.TOPIC_REFERRALS, json.dumps({**referral, "revision": 2}).encode())
    assert observation.observation_id == "toex.referrals:salvation-army:REF-2026-0001@r2"
    assert observation.event_ref.key == "salvation-army:REF-2026-0001"
    assert [m.mention_id for m in observation.mentions] == ["toex.referrals:salvation-army:REF-2026-0001@r2#0"]


def test_advert_mention_is_built_from_its_identifiers_and_working_names(advert):
    observation = run(contract.TOPIC_ADVERTS, json.dumps(advert).encode())
    [mention] = observation.mentions
    assert mention.given_name == "Reka"
    assert mention.phones == ["+447700900123"]  # written "0044 7700 900 123"
    assert (mention.age, mention.nationality) == (21, "HU")
    assert [p.town for p in observation.places] == ["Wolverhampton"]
    assert observation.occurred_at.isoformat() == "2026-11-03T21:40:00+00:00"


def test_intel_keeps_its_force(intel):
    observation = run(contract.TOPIC_INTEL, json.dumps(intel).encode())
    assert observation.source == "intel" and observation.force_code == "west-midlands"
    assert observation.mentions[0].emails == ["zoli.h@example.com"]


def test_observation_id_is_the_contract_key_whatever_key_was_sent(advert):
    observation = run(contract.TOPIC_ADVERTS, json.dumps(advert).encode(), key=None)
    assert observation.event_ref.key == "example-adult-services:88120451"


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        (b'{"schema_version": 1, "referral_id": "R', "invalid_json", "the value is not valid JSON: EOF while parsing"),
        (b"\xc3\x28{}", "not_utf8", "the value is not valid UTF-8 (byte 0 cannot be decoded)"),
        (b"", "invalid_json", "the value is empty"),
        (b"[1, 2]", "schema", "the value must be a JSON object (a Referral)"),
        (b'{"schema_version": 1}', "schema",
         "does not match the Referral contract, 7 errors: referral_id: Field required"),
    ],
)
def test_bad_values_become_dead_letters_with_a_readable_reason(value, kind, reason):
    letter = run(contract.TOPIC_REFERRALS, value)
    assert isinstance(letter, contract.DeadLetter)
    assert letter.kind == kind
    assert letter.reason.startswith(reason)
    assert base64.b64decode(letter.value_b64) == value
    assert (letter.source_topic, letter.partition, letter.offset) == (contract.TOPIC_REFERRALS, 3, 42)


def test_a_null_value_is_a_dead_letter_not_a_crash():
    letter = enrich(contract.TOPIC_ADVERTS, None, None, partition=0, offset=1)
    assert letter.kind == "invalid_json" and letter.key_b64 is None


def test_reasons_list_paths_but_never_values(referral):
    subject = {**referral["subjects"][0], "nationality": "Magyar", "age": 300}
    letter = run(contract.TOPIC_REFERRALS, json.dumps({**referral, "subjects": [subject]}).encode())
    assert [e.path for e in letter.errors] == ["subjects.0.age", "subjects.0.nationality"]
    assert "Magyar" not in letter.reason and "300" not in letter.reason


def test_many_errors_are_summarised():
    letter = run(contract.TOPIC_INTEL, b'{"schema_version": 1}')
    assert "(and 1 more)" in letter.reason and len(letter.errors) == 6


def test_working_names_in_english_hungarian_and_romanian():
    assert extract_working_names("NEW girl in town",
                                 "My name is Anna. I am new here, call me Bella") == ["Anna", "Bella"]
    assert extract_working_names("Szia! A nevem Kinga", "") == ["Kinga"]
    assert extract_working_names("", "Mă numesc Ștefania, sunt nouă") == ["Ștefania"]
    assert extract_working_names("", "Numele meu este Ioana") == ["Ioana"]
    assert extract_working_names("Hot and ready", "no names here") == []


def test_a_bug_in_enrich_costs_one_dead_letter_not_the_worker(advert, monkeypatch, caplog):
    def broken_observe(*args, **kwargs):
        raise ValueError("Kovács Réka +447700900123")  # an error whose text quotes personal data

    monkeypatch.setattr("toex_stream.domain.enrich.observe", broken_observe)
    letter = run(contract.TOPIC_ADVERTS, json.dumps(advert).encode())
    assert letter.kind == "internal"
    assert letter.reason == "enrich failed on a valid event (ValueError); report it as a bug"
    assert "Kovács" not in caplog.text and "+44" not in caplog.text
    assert "offset=42" in caplog.text


def test_places_resolve_to_force_and_region(referral, advert, intel):
    observation = run(contract.TOPIC_REFERRALS, json.dumps(referral).encode())
    assert {(p.postcode, p.force_code, p.region) for p in observation.places} == {
        ("B1 1AA", "west-midlands", "ROCUWM"), (None, "west-midlands", "ROCUWM"),  # the second by its town
    }
    advert["location"] = {"text": "near the station", "postcode": "ct1 2ab", "town": None}
    [place] = run(contract.TOPIC_ADVERTS, json.dumps(advert).encode()).places
    assert (place.postcode, place.force_code, place.region) == ("CT1 2AB", "kent", "ERSOU")
    intel["force_code"] = "north-wales"
    intel["locations"] = [{"text": "a farm outside the village", "postcode": None, "town": None}]
    [place] = run(contract.TOPIC_INTEL, json.dumps(intel).encode()).places
    assert (place.force_code, place.region) == ("north-wales", "NWROCU"), \
        "the reporting force when nothing else resolves"
    advert["location"] = {"text": "Budapest", "postcode": "1051", "town": "Budapest"}
    [place] = run(contract.TOPIC_ADVERTS, json.dumps(advert).encode()).places
    assert (place.force_code, place.region) == (None, "UNKNOWN")
