"""Erasure of one person: from the database (SQLite and PostgreSQL), toex.nominals and the worker; kept out after.

The store tests lay out one person's rows beside another's and check that
exactly the person's go. The end-to-end test runs ``toex-stream erase`` against
the session's broker and worker and looks for the person everywhere a user
could reach them: the database, the compacted topic, the worker's matching,
scoring state and index snapshot, a replay, and the s.62 log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.conftest import ROOT, example
from tests.integration.conftest import send
from tests.users_helpers import signed_in
from toex_stream.adapters.index_snapshot import SNAPSHOT_FILE
from toex_stream.adapters.kafka_io import KafkaUnavailable, TopicReader, durable_producer, produce_and_wait
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.adapters.sql.audit import SqlAuditTrail, entries
from toex_stream.adapters.sql.erasure import ErasureRow, SqlErasureStore
from toex_stream.adapters.sql.models import MatchDecisionRow
from toex_stream.adapters.sql.outbox_models import AlertRow, OutboxRow
from toex_stream.adapters.sql.silences import SilencedAlertRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine
from toex_stream.adapters.topics import NOMINALS
from toex_stream.application.erasure import erase_person
from toex_stream.domain import contract
from toex_stream.domain.audit import AuditError
from toex_stream.domain.erasure import ErasureError
from toex_stream.domain.retention import load_retention
from toex_stream.domain.scoring.checkpoint import CHECKPOINT_FILE
from toex_stream.ports.store import MatchDecision, Provenance

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
POLICY = load_retention()
REASON = "data subject's erasure request DSR-2026-118, upheld by the DPO"


def person(nominal_id: str, phone: str, family: str = "Kovács") -> contract.Nominal:
    return contract.Nominal(schema_version=1, nominal_id=nominal_id, given_name="Réka", family_name=family,
                            aliases=["Reka K"], date_of_birth=dt.date(2003, 4, 17), gender="female",
                            nationality="HU", phones=[phone], emails=[f"{nominal_id.lower()}@example.org"],
                            owning_force="west-midlands", updated_at=NOW - dt.timedelta(days=30))


def mention(mention_id: str, **fields: object) -> contract.Mention:
    return contract.Mention.model_validate({"mention_id": mention_id, "role": "potential_victim", **fields})


class Tombstones:
    """The tombstone publisher's fake: what it was asked to erase, or a broker that refuses."""

    def __init__(self, refuse: bool = False) -> None:
        self.erased: list[str] = []
        self.refuse = refuse

    def erase_nominals(self, nominal_ids: Sequence[str]) -> None:
        if self.refuse:
            raise KafkaUnavailable("Kafka did not take 1 of 1 tombstones on toex.nominals (unsent)")
        self.erased += nominal_ids


def lay_out(engine: Engine) -> None:
    """N-1 is erased; N-2 shares an alert, a silence and a name with them and must stay."""
    store = SqlAlchemyNominalStore(engine)
    store.upsert_nominal(person("N-1", "07700 900123"), Provenance("import", "nominals.csv:2", NOW))
    store.upsert_nominal(person("N-2", "07700 900456", family="Kovács-Nagy"), Provenance("import", "n.csv:3", NOW))
    store.record_decisions([
        MatchDecision("referral:P:R1#0", "N-1", "match", 0.98, [], "m1", NOW),
        MatchDecision("referral:P:R2#0", "N-2", "match", 0.97, [], "m1", NOW),
    ])

    def alert(alert_id: str, nominal_ids: list[str]) -> AlertRow:
        return AlertRow(alert_id=alert_id, created_at=NOW, region="ROCUWM", force_code="west-midlands",
                        threat="msht", band="high", risk_score=0.8, nominal_ids=nominal_ids, event_refs=[],
                        reasons=[], model_version="m1", status="open", updated_at=NOW)

    def message(alert_id: str, version: int, delivered: bool) -> OutboxRow:
        return OutboxRow(alert_id=alert_id, receiver="rocuwm-slack", kind="post", version=version, route="/",
                         payload={"text": "Réka Kovács, 07700 900123"}, created_at=NOW, not_before=NOW,
                         attempts=1, delivered_at=NOW if delivered else None)

    def muted(nominal_id: str) -> SilencedAlertRow:
        return SilencedAlertRow(silence_id="S-1", muted_at=NOW, nominal_id=nominal_id,
                                mention_id=f"m-{nominal_id}", region="ROCUWM", threat="msht", band="high", route="/")

    with Session(engine) as session, session.begin():
        session.add_all([alert("A-theirs", ["N-1"]), alert("A-shared", ["N-2", "N-1"]), alert("A-other", ["N-2"])])
        session.add_all([message("A-theirs", 1, True), message("A-shared", 1, True), message("A-other", 1, True)])
        session.add_all([muted("N-1"), muted("N-2")])


def test_erasure_deletes_exactly_the_persons_rows_registers_hashes_and_logs_first(
    store: SqlAlchemyNominalStore, store_engine: Engine, tmp_path: Path,
) -> None:
    engine = store_engine
    lay_out(engine)
    tombstones, audit, erasures = Tombstones(), SqlAuditTrail(engine, tmp_path / "head.json"), SqlErasureStore(engine)

    report = erase_person("N-1", REASON, "admin-1", erasures, tombstones, audit, POLICY, NOW)

    assert tombstones.erased == ["N-1"]
    assert store.get_nominal("N-1") is None and store.provenance_of("N-1") == []
    assert store.find_by_identifier("phone", "07700 900123") == []
    assert store.get_nominal("N-2") is not None and store.find_by_identifier("phone", "07700 900456") == ["N-2"]
    assert store.decisions_for("referral:P:R1#0") == [] and len(store.decisions_for("referral:P:R2#0")) == 1
    with Session(engine) as session:
        alerts = {row.alert_id: row.nominal_ids for row in session.scalars(select(AlertRow))}
        payloads = {row.alert_id: row.payload for row in session.scalars(select(OutboxRow))}
        muted = [row.nominal_id for row in session.scalars(select(SilencedAlertRow))]
        [register] = session.scalars(select(ErasureRow)).all()
        decisions = [row.nominal_id for row in session.scalars(select(MatchDecisionRow))]
    # An alert about them alone goes with its messages; one about others too stays, without them.
    assert alerts == {"A-shared": ["N-2"], "A-other": ["N-2"]}
    assert payloads == {"A-shared": {}, "A-other": {"text": "Réka Kovács, 07700 900123"}}
    assert muted == ["N-2"] and decisions == ["N-2"]
    assert (report.rows.nominals, report.rows.match_decisions, report.rows.alerts_deleted,
            report.rows.alerts_changed, report.rows.muted) == (1, 1, 1, 1, 1)

    # The register: who, when, why, until when, and hashes only: no phone, email or name in the row.
    assert (register.nominal_id, register.erased_by, register.reason) == ("N-1", "admin-1", REASON)
    assert register.keep_until.date() == dt.date(2027, 12, 3)
    stored = json.dumps(register.identifier_hashes)
    assert all(plain not in stored.lower() for plain in ("900123", "reka", "kovacs", "n-1@example.org"))
    assert len(register.identifier_hashes) == 4  # the phone, the email, the name and the alias with the birth date
    erased = erasures.erased_people(NOW)
    assert erased.nominal_ids == {"N-1"}
    on = NOW.date()
    assert erased.is_erased(mention("m1", phones=["+447700900123"]), on)
    assert erased.is_erased(mention("m2", given_name="Reka", family_name="Kovacs",
                                      date_of_birth=dt.date(2003, 4, 17)), on)
    assert erased.is_erased(mention("m3", emails=["n-1@example.org"]), on)
    assert not erased.is_erased(mention("m4", given_name="Réka", family_name="Kovács"), on)  # a name alone is no one
    assert not erased.is_erased(mention("m5", phones=["+447700900456"]), on)
    assert erasures.erased_people(register.keep_until).nominal_ids == frozenset(), "forgotten once retention has run"

    # Logged, in the admin's name and with their reason, naming the nominal id and no personal data.
    [entry] = [e.record for e in entries(engine) if e.record.category == "erasure"]
    assert (entry.action, entry.actor, entry.subject, entry.why) == ("person.erase", "admin-1", "N-1", REASON)
    assert all(plain not in entry.what for plain in ("Réka", "Kovács", "900123", "example.org"))

    # Again: nothing left to delete, the tombstone sent again, and logged again.
    again = erase_person("N-1", REASON, "admin-1", erasures, tombstones, audit, POLICY, NOW)
    assert again.again and again.rows.nominals == 0 and tombstones.erased == ["N-1", "N-1"]
    assert again.entry.identifier_hashes == frozenset(register.identifier_hashes)


def test_no_reason_no_such_person_or_a_refusing_broker_delete_nothing(
    store: SqlAlchemyNominalStore, store_engine: Engine, tmp_path: Path,
) -> None:
    engine = store_engine
    lay_out(engine)
    audit, erasures = SqlAuditTrail(engine, tmp_path / "head.json"), SqlErasureStore(engine)

    with pytest.raises(AuditError, match="--reason"):
        erase_person("N-1", "  ", "admin-1", erasures, Tombstones(), audit, POLICY, NOW)
    with pytest.raises(ErasureError, match="no nominal 'N-9'"):
        erase_person("N-9", REASON, "admin-1", erasures, Tombstones(), audit, POLICY, NOW)
    assert list(entries(engine)) == []

    # The broker refuses the tombstone: logged and registered (kept out already), nothing deleted yet;
    # running it again finishes it.
    with pytest.raises(KafkaUnavailable):
        erase_person("N-1", REASON, "admin-1", erasures, Tombstones(refuse=True), audit, POLICY, NOW)
    assert store.get_nominal("N-1") is not None and erasures.entry("N-1") is not None
    finished = erase_person("N-1", REASON, "admin-1", erasures, Tombstones(), audit, POLICY, NOW)
    assert finished.again and finished.rows.nominals == 1 and store.get_nominal("N-1") is None


# -- end to end, with the session's broker and worker --------------------------------------------------------


def toex(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-c", "from toex_stream.entry.cli import main; main()", *args],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env, "COLUMNS": "200"},
                            timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def referral_about(tag: str, *subjects: dict) -> tuple[dict, str]:
    """A referral about ``subjects``, and its observation's id (its mentions' are that and ``#0``, ``#1``...)."""
    event = {**example("referral"), "referral_id": f"{tag}-{uuid.uuid4().hex[:8]}", "subjects": list(subjects)}
    return event, f"{contract.TOPIC_REFERRALS}:{event['partner_id']}:{event['referral_id']}"


def subject(given: str, family: str, dob: str | None, phone: str) -> dict:
    return {**example("referral")["subjects"][0], "given_name": given, "family_name": family, "aliases": [],
            "date_of_birth": dob, "phones": [phone], "emails": [], "addresses": []}


def poll_until(reader: TopicReader, done, timeout: float = 30.0) -> list:  # type: ignore[no-untyped-def]
    """Messages read until ``done(messages)`` holds or ``timeout`` passes."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(seen):
        seen += reader.poll(timeout=0.5)
    return seen


def wait_for(what: str, check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s in vain for {what}"
        time.sleep(0.3)


def test_an_erased_person_is_gone_from_every_store_and_kept_out_of_matching_and_replay(
    kafka: Settings, worker: subprocess.Popen[bytes], tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    nominal_id, phone = f"WMP-E-{tag}", f"+447700{random.randint(100000, 999999)}"
    family = f"Erasmus{tag}"
    engine = build_engine(kafka)
    store = SqlAlchemyNominalStore(engine)
    producer = durable_producer(kafka.kafka_bootstrap)
    nominal = person(nominal_id, phone, family).model_copy(update={"emails": []})
    produce_and_wait(producer, contract.TOPIC_NOMINALS, nominal_id.encode(), nominal.model_dump_json().encode())
    wait_for("the worker to store the nominal", lambda: store.get_nominal(nominal_id) is not None)
    time.sleep(1.0)  # the follower files it in the index right after the store has it

    # Before: a referral about them is matched to them, and scored (their state in the scorer's table).
    start = dt.datetime.now(dt.timezone.utc)
    first, first_id = referral_about(tag, subject("Réka", family, "2003-04-17", phone))
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_SCORES]) as scores:
        before = send(producer, contract.TOPIC_REFERRALS, first)
        scored = poll_until(scores, lambda seen: any(m.key() == nominal_id.encode() for m in seen))
    assert any(m.key() == nominal_id.encode() for m in scored), "matched to the nominal and scored before"
    assert [d.nominal_id for d in store.decisions_for(f"{first_id}#0")] == [nominal_id]

    admin = signed_in(settings_env(kafka), tmp_path / "admin-session", "admin-erase", "admin")
    analyst = signed_in(settings_env(kafka), tmp_path / "analyst-session", "analyst-erase", "analyst", "national")
    changelog = "toex-stream-nominal-state-changelog"
    with TopicReader(kafka.kafka_bootstrap, [NOMINALS.name]) as nominals, \
            TopicReader(kafka.kafka_bootstrap, [changelog]) as states:
        erased_at = time.time()
        done = toex(admin, "erase", nominal_id, "--reason", REASON)
        # (The nominal's own row may have gone already: the worker's follower applies the tombstone too.)
        assert f"erased {nominal_id}:" in done.stdout and "tombstone on toex.nominals" in done.stdout

        # toex.nominals: the tombstone; the scorer's changelog: the nominal's state deleted by its owner.
        tombstones = poll_until(nominals, lambda seen: any(m.key() == nominal_id.encode() for m in seen))
        assert [(m.key(), m.value()) for m in tombstones if m.key() == nominal_id.encode()] == \
            [(nominal_id.encode(), None)]
        deleted = poll_until(states, lambda seen: any(nominal_id.encode() in (m.key() or b"") and m.value() is None
                                                      for m in seen))
        assert any(nominal_id.encode() in (m.key() or b"") and m.value() is None for m in deleted), \
            "the scoring state's changelog has the nominal's tombstone"

    # The database: no nominal, no decision about them; the register holds hashes.
    assert store.get_nominal(nominal_id) is None and store.decisions_for(f"{first_id}#0") == []
    assert store.find_by_identifier("phone", phone) == []
    assert SqlErasureStore(engine).entry(nominal_id) is not None

    # The worker's index snapshot, written again at once, no longer holds them.
    snapshot = (kafka.data_dir / CHECKPOINT_FILE).parent / SNAPSHOT_FILE
    wait_for("the index snapshot to be written again",
             lambda: snapshot.exists() and snapshot.stat().st_mtime > erased_at, timeout=20)
    text = snapshot.read_text(encoding="utf-8")
    assert nominal_id not in text and phone not in text

    # A new referral about them and someone else: the other is matched as ever, the erased person not at all.
    with TopicReader(kafka.kafka_bootstrap, [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES,
                                             contract.TOPIC_NOMINALS]) as outputs:
        other = subject("Bogdan", f"Other{tag}", "1990-02-02", f"+447700{random.randint(100000, 999999)}")
        second, second_id = referral_about(tag, subject("Réka", family, None, phone), other)
        send(producer, contract.TOPIC_REFERRALS, second)
        written = poll_until(outputs, lambda seen: any(
            m.topic() == contract.TOPIC_MATCHES and f'"{second_id}#1"'.encode() in m.value() for m in seen))
    [observation] = [contract.Observation.model_validate_json(m.value()) for m in written
                     if m.topic() == contract.TOPIC_OBSERVATIONS and m.key() == second_id.encode()]
    assert [m.mention_id for m in observation.mentions] == [f"{second_id}#1"], \
        "the erased person's mention is withheld; the other person's goes on"
    results = [contract.MatchResult.model_validate_json(m.value()) for m in written
               if m.topic() == contract.TOPIC_MATCHES]
    assert [r.mention_id for r in results if r.mention_id.startswith(second_id)] == [f"{second_id}#1"]
    assert all(r.nominal_id != nominal_id for r in results)
    provisional = [m for m in written if m.topic() == contract.TOPIC_NOMINALS and m.value()
                   and phone in m.value().decode()]
    assert provisional == [], "no provisional nominal is made of the erased person"

    # A replay over both referrals does not surface them.
    report = tmp_path / "replay.jsonl"
    toex(analyst, "replay", "--from", start.isoformat(), "--to", dt.datetime.now(dt.timezone.utc).isoformat(),
         "--topics", contract.TOPIC_REFERRALS, "--reason", "erasure check", "--out", str(report))
    text = report.read_text(encoding="utf-8")
    [old] = [record for record in map(json.loads, text.splitlines()) if record["kind"] == "event"
             and record["event"]["key"] == first_id.split(":", 1)[1]]
    assert (old["event"]["offset"], old["observation"]["mentions"], old["matches"]) == (before.offset, [], []), \
        "the old referral is replayed without the erased person"
    assert nominal_id not in text and phone not in text and family not in text

    # The s.62 log has the erasure, in the admin's name.
    [entry] = [e.record for e in entries(engine) if e.record.category == "erasure" and e.record.subject == nominal_id]
    assert (entry.actor, entry.why) == ("admin-erase", REASON)
    engine.dispose()

