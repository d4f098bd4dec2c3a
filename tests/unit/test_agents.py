"""Each agent's step without Faust or a broker: decode, the pipeline step, its effects applied.

The agents run here on a migrated SQLite database, plain dicts for the tables
and a list for the topics: what one step sends is what the next one reads, so
a child's referral goes through enrich, match, score and alert as it does on
the worker, and replay decides the same alert.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from streams.agents import Agents
from streams.services import Services
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.silences import Silences
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.application.replay.core import InputMessage, Replayer
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import RoutesFile
from toex_stream.domain.clock import utc_now
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.pipeline import RawMessage
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer

Sent = list[tuple[str, bytes | None, bytes]]


class Worker:
    """The agents of one worker, and what they sent."""

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.sent: Sent = []
        self.store = SqlAlchemyNominalStore(engine)
        self.outbox = Outbox(engine)
        self.silences = Silences(engine, cache_seconds=0)
        self.receipts = IntakeStore(engine)
        self.services = Services(
            kafka=KafkaAccess("unused:9092"), store=self.store, matcher=Matcher(), scorer=Scorer(load_profiles()),
            checkpoint_file=tmp_path / "models.ckpt", outbox=self.outbox, routes=RoutesFile.bundled(),
            notifiers={}, silences=self.silences, receipts=self.receipts,
        )
        self.agents = Agents(self.services, self.send, nominal_state={}, situation_groups={},
                             situation_members={})

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def run(self, step: str, message: RawMessage) -> Sent:
        """One agent's step on one message; what it sent."""
        before = len(self.sent)

        async def batch_of_one() -> None:
            await self.agents.prepare(step, message)
            await self.agents.apply(getattr(self.agents, step)(message))

        asyncio.run(batch_of_one())
        return self.sent[before:]


def on(sent: Sent, topic: str) -> list[tuple[bytes | None, bytes]]:
    return [(key, value) for t, key, value in sent if t == topic]


def as_messages(sent: Sent, topic: str) -> list[RawMessage]:
    return [RawMessage(topic, key, value, 0, offset) for offset, (key, value) in enumerate(on(sent, topic))]


@pytest.fixture
def worker(sqlite_engine: Engine, tmp_path: Path) -> Worker:
    return Worker(sqlite_engine, tmp_path)


def child(referral: dict[str, Any]) -> dict[str, Any]:
    return referral | {"subject_is_child": True, "referral_id": "REF-CHILD-1"}


def test_enrich_sends_one_observation_or_a_dead_letter_keeping_the_key(worker: Worker, referral: dict) -> None:
    sent = worker.run("enrich", RawMessage(contract.TOPIC_REFERRALS, b"k", json.dumps(referral).encode(), 2, 7))
    [(key, value)] = on(sent, contract.TOPIC_OBSERVATIONS)
    observation = contract.Observation.model_validate_json(value)
    assert key == observation.observation_id.encode() and len(observation.mentions) == 1
    assert observation.event_ref.topic == contract.TOPIC_REFERRALS

    sent = worker.run("enrich", RawMessage(contract.TOPIC_REFERRALS, b"k2", b"{not json", 1, 3))
    assert on(sent, contract.TOPIC_OBSERVATIONS) == []
    [(key, value)] = on(sent, contract.TOPIC_DEADLETTER)
    letter = contract.DeadLetter.model_validate_json(value)
    assert key == b"k2" and (letter.kind, letter.partition, letter.offset) == ("invalid_json", 1, 3)


def test_match_stores_and_publishes_the_provisional_nominal_files_the_decision_and_marks_the_receipt(
        worker: Worker, referral: dict) -> None:
    partner, _token = worker.receipts.add_partner("Salvation Army", "salvation-army")
    receipt, _new = worker.receipts.reserve(partner.partner_id, referral["referral_id"])
    worker.receipts.confirm(receipt)
    observations = as_messages(worker.run("enrich", RawMessage(
        contract.TOPIC_REFERRALS, None, json.dumps(referral).encode())), contract.TOPIC_OBSERVATIONS)

    sent = worker.run("match", observations[0])

    [(nominal_key, nominal_value)] = on(sent, contract.TOPIC_NOMINALS)
    nominal = contract.Nominal.model_validate_json(nominal_value)
    assert worker.store.get_nominal(nominal.nominal_id) == nominal and worker.store.is_provisional(nominal.nominal_id)
    [(match_key, match_value)] = on(sent, contract.TOPIC_MATCHES)
    result = contract.MatchResult.model_validate_json(match_value)
    assert match_key == nominal_key == result.nominal_id.encode() and result.decision == "new"
    [decision] = worker.store.decisions_for(result.mention_id)
    assert (decision.nominal_id, decision.model_version, len(decision.weights)) == (
        result.nominal_id, result.model_version, len(result.weights))
    stored = worker.receipts.receipt(partner.partner_id, referral["referral_id"])
    assert stored is not None and stored.status == "processed"


def test_match_dead_letters_a_value_that_is_not_an_observation(worker: Worker) -> None:
    sent = worker.run("match", RawMessage(contract.TOPIC_OBSERVATIONS, b"o", b'{"schema_version": 1}'))
    assert [topic for topic, _, _ in sent] == [contract.TOPIC_DEADLETTER]
    letter = contract.DeadLetter.model_validate_json(sent[0][2])
    assert (letter.kind, letter.reason) == ("schema", "not a Observation (8 errors)")


def pipeline_to_scores(worker: Worker, event: dict[str, Any]) -> Sent:
    sent = worker.run("enrich", RawMessage(contract.TOPIC_REFERRALS, None, json.dumps(event).encode()))
    matched = worker.run("match", as_messages(sent, contract.TOPIC_OBSERVATIONS)[0])
    scored: Sent = []
    for message in as_messages(matched, contract.TOPIC_MATCHES):
        scored += worker.run("score", message)
    return scored


def test_score_keeps_the_nominals_state_and_sends_a_score_per_profile(worker: Worker, referral: dict) -> None:
    scored = pipeline_to_scores(worker, child(referral))
    scores = [contract.Score.model_validate_json(value) for _, value in on(scored, contract.TOPIC_SCORES)]
    assert scores and {s.band for s in scores} == {"critical"}  # a child is always critical
    [nominal_id] = {s.nominal_id for s in scores}
    assert nominal_id in worker.agents.nominal_state
    assert all(key == nominal_id.encode() for key, _ in on(scored, contract.TOPIC_SCORES))


def situated(worker: Worker, scored: Sent) -> Sent:
    alerted: Sent = []
    for message in as_messages(scored, contract.TOPIC_SITUATION_INPUT):
        alerted += worker.run("situate", message)
    return alerted


def test_situate_stores_queues_and_publishes_the_alert_replay_decides_the_same(worker: Worker, referral: dict) -> None:
    event = child(referral)
    alerted = situated(worker, pipeline_to_scores(worker, event))

    alerts = [contract.Alert.model_validate_json(value) for _, value in on(alerted, contract.TOPIC_ALERTS)]
    assert alerts and {(a.band, a.region) for a in alerts} == {("critical", "ROCUWM")}
    for alert in alerts:
        assert worker.outbox.get_alert(alert.alert_id) == alert
        [post] = [item for item in worker.outbox.items(alert.alert_id) if item.kind == "post"]
        assert "OFFICIAL-SENSITIVE" in json.dumps(post.payload)
        # Versioned in event-time seconds (when the route's group wait lets it out), as every change is.
        submitted = int(dt.datetime.fromisoformat(event["submitted_at"]).timestamp())
        assert 0 <= post.version - submitted <= 3600

    replayer = Replayer(Matcher(), Scorer(load_profiles()), RoutesFile.bundled().current())
    record = replayer.replay(InputMessage(contract.TOPIC_REFERRALS, None, json.dumps(event).encode(), 0, 0,
                                          1_793_000_000_000))
    assert sorted(a["alert_id"] for a in record["alerts"]) == sorted(a.alert_id for a in alerts)
    assert [a["alert"] for a in record["alerts"]] == [a.model_dump(mode="json") for a in alerts]


def test_a_silence_mutes_a_high_alert_and_keeps_what_it_muted_but_never_a_child_or_a_critical_one(
        worker: Worker, referral: dict) -> None:
    silence = worker.silences.add({"region": "ROCUWM"}, dt.timedelta(hours=1), created_by="analyst-1")
    scored = pipeline_to_scores(worker, child(referral))
    loud = situated(worker, scored)
    assert on(loud, contract.TOPIC_ALERTS), "a child's critical alert reaches its team whatever the silence"
    assert worker.silences.muted(silence.silence_id) == []

    # Another nominal, high and about an adult, seen twice: the silence mutes it, and keeps what it muted.
    [child_input] = [contract.SituationInput.model_validate_json(v)
                     for _, v in on(scored, contract.TOPIC_SITUATION_INPUT)]
    adult = [s.model_copy(update={"nominal_id": "N-ADULT-1", "band": "high", "risk_score": 0.75,
                                  "features": {"referral_child": 0.0}}) for s in child_input.scores]

    def adult_input(event: str) -> RawMessage:
        evidence = contract.SituationEvidence(event=event, at=adult[0].occurred_at,
                                              members=[("N-ADULT-1", "potential_victim")])
        value = contract.SituationInput(schema_version=1, kind="scored", nominal_id="N-ADULT-1",
                                        evidence=evidence, scores=[s.model_copy(update={"event_ref": contract.EventRef(
                                            topic="toex.referrals", key=event.split(":", 1)[1])}) for s in adult])
        return RawMessage(contract.TOPIC_SITUATION_INPUT, b"N-ADULT-1", value.model_dump_json().encode())

    queued = len(worker.outbox.items())
    quiet = worker.run("situate", adult_input("toex.referrals:p:A-1")) + worker.run(
        "situate", adult_input("toex.referrals:p:A-2"))
    assert on(quiet, contract.TOPIC_ALERTS) == []
    assert len(worker.outbox.items()) == queued
    muted = worker.silences.muted(silence.silence_id)
    assert muted and {(m.nominal_id, m.region) for m in muted} == {("N-ADULT-1", "ROCUWM")}

    # Ended early, it mutes no more, and says who ended it.
    assert worker.silences.expire(silence.silence_id, by="supervisor-2")
    [ended] = worker.silences.all()
    assert ended.ended_by == "supervisor-2" and not ended.active(utc_now())
    again = worker.run("situate", adult_input("toex.referrals:p:A-3"))
    assert on(again, contract.TOPIC_ALERTS)


def test_feedback_must_be_keyed_by_its_nominal_and_teaches_from_its_state(worker: Worker, referral: dict) -> None:
    alerted = situated(worker, pipeline_to_scores(worker, child(referral)))
    alert = contract.Alert.model_validate_json(on(alerted, contract.TOPIC_ALERTS)[0][1])
    [nominal_id] = alert.nominal_ids
    feedback = contract.Feedback(schema_version=1, alert_id=alert.alert_id, nominal_id=nominal_id,
                                 outcome="safeguarded", at=alert.created_at, analyst_id="analyst-1")
    value = feedback.model_dump_json().encode()

    wrong_key = worker.run("feedback", RawMessage(contract.TOPIC_FEEDBACK, b"another", value))
    assert [topic for topic, _, _ in wrong_key] == [contract.TOPIC_DEADLETTER]

    taught = worker.run("feedback", RawMessage(contract.TOPIC_FEEDBACK, nominal_id.encode(), value))
    examples = [contract.TrainingExample.model_validate_json(v) for _, v in on(taught, contract.TOPIC_TRAINING)]
    assert examples and {e.nominal_id for e in examples} == {nominal_id} and all(e.label for e in examples)
    # The situation step closes the alert's group: told on its topic, in order with the scores.
    [closing] = as_messages(taught, contract.TOPIC_SITUATION_INPUT)
    worker.run("situate", closing)
    [groups] = worker.agents.situation_groups.values()
    assert [g["state"]["closed"] for g in groups.values() if g["state"]["alert_id"] == alert.alert_id] == [True]


def test_a_worker_taking_the_situation_partition_rebuilds_the_book_from_the_topic_and_decides_the_same(
        worker: Worker, referral: dict, sqlite_engine: Engine, tmp_path: Path) -> None:
    # Two referrals naming the same suspect with different victims: one situation, grown by the second.
    suspect = {"role": "suspect", "given_name": "Marius", "family_name": "Lungu", "date_of_birth": "1981-06-14",
               "phones": ["07700 900777"]}
    first = referral | {"referral_id": "REF-SIT-1", "subjects": [*referral["subjects"], suspect],
                        "urgency": "immediate_risk"}
    second = referral | {"referral_id": "REF-SIT-2", "urgency": "immediate_risk", "subjects": [suspect, {
        "role": "potential_victim", "given_name": "Ilona", "family_name": "Varga", "date_of_birth": "1999-02-03"}]}
    topic: list[RawMessage] = []  # toex.situation-input, as the worker's one partition holds it
    starts = []
    for event in (first, second):
        starts.append(len(topic))
        for _, value in on(pipeline_to_scores(worker, event), contract.TOPIC_SITUATION_INPUT):
            topic.append(RawMessage(contract.TOPIC_SITUATION_INPUT, None, value, 0, len(topic)))
    # The second referral's first mention is the last message this worker reads.
    before, last, topic = topic[:starts[1]], topic[starts[1]], topic[:starts[1] + 1]
    for message in before:
        worker.run("situate", message)
    # The tables as their changelogs hold them before the last message.
    groups, members = copy.deepcopy(worker.agents.situation_groups), dict(worker.agents.situation_members)
    decided = worker.run("situate", last)

    # Another worker takes the partition at the last message: it reads the topic up to there, deciding nothing.
    read: list[tuple[int, int]] = []

    def read_range(start: int, end: int) -> list[tuple[int, bytes | None]]:
        read.append((start, end))
        return [(m.offset, m.value) for m in topic[start:end]]

    other = Worker(sqlite_engine, tmp_path / "other")
    other.agents.read_situation_input = read_range
    other.agents.situation_groups, other.agents.situation_members = groups, members
    rebuilt = other.run("situate", last)
    assert read == [(0, last.offset)]
    assert other.agents.book.links.to_json() == worker.agents.book.links.to_json()
    assert other.agents.book.next_offset == worker.agents.book.next_offset == len(topic)
    alerts = [v for t, _, v in decided if t == contract.TOPIC_ALERTS]
    assert alerts, "the last message changed the alert"
    assert [v for t, _, v in rebuilt if t == contract.TOPIC_ALERTS] == alerts, "the same alert, byte for byte"
    [alert] = {contract.Alert.model_validate_json(v).alert_id: contract.Alert.model_validate_json(v)
               for v in alerts}.values()
    assert {m.role for m in alert.members} == {"suspected_controller", "possible_victim"} and len(alert.members) == 3
