"""The match agent against a real broker: known people matched, unknown ones provisional, with several workers."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.conftest import free_port
from tests.integration.conftest import send, with_ids
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, produce_and_wait
from toex_stream.adapters.sql.audit import entries, verify
from toex_stream.adapters.sql.store import build_engine
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

pytestmark = pytest.mark.integration


def publish_nominal(producer, nominal_id: str, given: str, family: str, dob: str, phone: str) -> None:
    value = contract.Nominal(
        schema_version=1, nominal_id=nominal_id, given_name=given, family_name=family,
        date_of_birth=dt.date.fromisoformat(dob), gender="female", nationality="HU", phones=[phone],
        updated_at=dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc), owning_force="west-midlands",
    )
    produce_and_wait(producer, contract.TOPIC_NOMINALS, nominal_id.encode(), value.model_dump_json().encode())


def let_workers_follow_nominals() -> None:
    """Workers read toex.nominals every half second; give them time to take in what was just published."""
    time.sleep(3)


def referral_about(referral: dict, tag: str, given: str | None, family: str | None, phone: str) -> dict:
    event = with_ids(referral, tag)
    subject = {**referral["subjects"][0], "given_name": given, "family_name": family, "aliases": [],
               "date_of_birth": None, "phones": [phone], "addresses": []}
    return {**event, "subjects": [subject]}


def results_for(reader: TopicReader, mention_ids: set[str],
                timeout: float = 90) -> dict[str, list[contract.MatchResult]]:
    found: dict[str, list[contract.MatchResult]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not mention_ids <= found.keys():
        for message in reader.poll(timeout=0.5):
            result = contract.MatchResult.model_validate_json(message.value())
            if result.mention_id in mention_ids:
                found.setdefault(result.mention_id, []).append(result)
                assert message.key().decode() == result.nominal_id, "keyed by the nominal"
    return found


def test_known_nominal_matched_and_unknown_person_made_provisional(kafka, worker, referral):
    producer = durable_producer(kafka.kafka_bootstrap)
    publish_nominal(producer, "WMP-T-1", "Réka", "Kovács", "2001-03-09", "+447700900777")
    let_workers_follow_nominals()
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches, \
            TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_NOMINALS]) as nominals:
        known = referral_about(referral, "known", "KOVACS", "Reka", "07700 900 777")  # family name first
        stranger = referral_about(referral, "stranger", "Olivia", "Hughes", "07700 900 778")
        ids = {}
        for name, event in (("known", known), ("stranger", stranger)):
            send(producer, contract.TOPIC_REFERRALS, event)
            ids[name] = f"toex.referrals:{event['partner_id']}:{event['referral_id']}#0"

        found = results_for(matches, set(ids.values()))

        [known_result] = found[ids["known"]]
        assert (known_result.decision, known_result.nominal_id, known_result.provisional) == ("match", "WMP-T-1", False)
        assert {w.field for w in known_result.weights} >= {"given_name", "family_name", "phone"}
        [stranger_result] = found[ids["stranger"]]
        assert stranger_result.decision == "new" and stranger_result.provisional
        published = [m for m in nominals.poll(timeout=5) if m.key().decode() == stranger_result.nominal_id]
        assert published, "the provisional nominal is published for every worker's index"
    # The s.62 log: each referral collected, each match decision (a combination) logged, the chain whole.
    engine = build_engine(kafka)
    logged = {}
    for entry in entries(engine):  # a batch's entries of one kind are one entry, a line each
        r = entry.record
        lines = r.what.splitlines() if r.subject.endswith(" entries") else [f"{r.subject}: {r.what}"]
        logged.update({(r.category, r.action, line.split(": ", 1)[0]): line.split(": ", 1)[1] for line in lines})
    observation = f"toex.referrals:{known['partner_id']}:{known['referral_id']}"
    assert logged[("collection", "referral.collected", observation)].startswith("1 people, ")
    assert logged[("combination", "match.decided", "WMP-T-1")].startswith(f"mention {ids['known']}: match, p=")
    assert "Kovács" not in " ".join(logged.values()) and "Hughes" not in " ".join(logged.values())
    assert "routes routes.yaml sha256 " in logged[("alteration", "configuration.loaded", "worker")]
    assert verify(engine, kafka.audit_head_path).ok


@pytest.mark.rebalances
def test_several_workers_match_every_partition_against_every_nominal(kafka, worker, referral, tmp_path):
    second = kafka.model_copy(update={"data_dir": tmp_path / "second", "web_port": free_port(),
                                      "database_url": kafka.database_url})
    process = start_worker(second, tmp_path / "second.log")
    try:
        producer = durable_producer(kafka.kafka_bootstrap)
        publish_nominal(producer, "WMP-T-2", "Zsófia", "Balogh", "1999-12-01", "+447700900888")
        time.sleep(15)  # the group rebalances across the two workers
        assert process.poll() is None, (tmp_path / "second.log").read_text()[-3000:]
        with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_MATCHES]) as matches:
            ids = set()
            partitions = set()
            for n in range(12):
                event = referral_about(referral, f"multi{n}", "Zsofia", "Balogh", "07700900888")
                delivered = send(producer, contract.TOPIC_REFERRALS, event)
                partitions.add(delivered.partition)
                ids.add(f"toex.referrals:{event['partner_id']}:{event['referral_id']}#0")
            found = results_for(matches, ids, timeout=120)
        assert len(partitions) > 1, "the events spread over several partitions"
        assert found.keys() == ids
        assert all(len(results) == 1 for results in found.values()), "one result per mention"
        assert {(r[0].decision, r[0].nominal_id) for r in found.values()} == {("match", "WMP-T-2")}
    finally:
        stop_process_group(process)
