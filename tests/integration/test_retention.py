"""Retention on SQLite and PostgreSQL with the real broker: what is due goes, what is not stays, each deletion logged.

The data is laid out around one ``NOW``: for each category, a row just past its
period and one well within it. A provisional nominal that is old but was
matched recently stays; one with no evidence for its period goes, and its
tombstone lands on ``toex.nominals``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from toex_stream.adapters.kafka_io import TopicReader, durable_producer, ensure_topics
from toex_stream.adapters.kafka_retention import NominalTombstones, align_retention
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.audit import SqlAuditTrail, entries
from toex_stream.adapters.sql.intake_models import PartnerRow, ReceiptRow
from toex_stream.adapters.sql.models import MatchDecisionRow, NominalRow
from toex_stream.adapters.sql.outbox_models import AlertRow, OutboxRow
from toex_stream.adapters.sql.retention import SqlRetentionStore
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.adapters.topics import DAY_MS, NOMINALS, TopicSpec
from toex_stream.application.retention import run_retention
from toex_stream.domain import contract
from toex_stream.domain.retention import load_retention
from toex_stream.ports.store import MatchDecision, Provenance

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
POLICY = load_retention()


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def nominal(nominal_id: str, updated_at: dt.datetime, provisional: bool = True) -> contract.Nominal:
    return contract.Nominal(schema_version=1, nominal_id=nominal_id, given_name="Ana", family_name="Kovács",
                            phones=["07700 900123"], flags=["provisional"] if provisional else [],
                            updated_at=updated_at)


def decision(mention_id: str, nominal_id: str, at: dt.datetime) -> MatchDecision:
    return MatchDecision(mention_id=mention_id, nominal_id=nominal_id, decision="match", probability=0.97,
                         weights=[], model_version="m1", decided_at=at)


def alert_row(alert_id: str, updated_at: dt.datetime) -> AlertRow:
    return AlertRow(alert_id=alert_id, created_at=updated_at, region="ERSOU", force_code="kent", threat="msht",
                    band="high", risk_score=0.8, nominal_ids=["N-1"], event_refs=[], reasons=[], model_version="m1",
                    status="closed", updated_at=updated_at)


def outbox_row(alert_id: str, version: int, delivered_at: dt.datetime | None) -> OutboxRow:
    return OutboxRow(alert_id=alert_id, receiver="ersou-slack", kind="post", version=version, route="/",
                     payload={"text": "Ana Kovács, 07700 900123"}, created_at=ago(800), not_before=ago(800),
                     attempts=1, delivered_at=delivered_at, slack_channel="C1", slack_ts="1.2")


def receipt_row(referral_id: str, updated_at: dt.datetime) -> ReceiptRow:
    return ReceiptRow(partner_id="P-1", referral_id=referral_id, reference=f"R-{referral_id}", received_at=updated_at,
                      status="processed", matched=False, updated_at=updated_at)


class Layout:
    """The rows of one test, with ids unique to it (the broker is shared by the session)."""

    def __init__(self, engine: Engine) -> None:
        tag = uuid.uuid4().hex[:8]
        self.gone, self.evidenced, self.recent, self.known = (f"prov-{tag}-gone", f"prov-{tag}-evidenced",
                                                              f"prov-{tag}-recent", f"N-{tag}")
        store = SqlAlchemyNominalStore(engine)
        for nominal_id, at, provisional in ((self.gone, ago(181), True), (self.evidenced, ago(300), True),
                                            (self.recent, ago(20), True), (self.known, ago(3000), False)):
            store.upsert_nominal(nominal(nominal_id, at, provisional), Provenance("event", f"m-{nominal_id}", at))
        store.record_decisions([
            decision("m-old", self.gone, ago(200)),          # older than the nominal's period: no evidence now
            decision("m-evidence", self.evidenced, ago(10)),  # new evidence: the nominal stays
            decision("m-ancient", self.known, ago(366)),      # past match_decisions' 365 days
        ])
        with Session(engine) as session, session.begin():
            session.add_all([alert_row("A-old", ago(731)), alert_row("A-new", ago(100))])
            session.add_all([outbox_row("A-old", 1, ago(731)), outbox_row("A-new", 1, ago(31)),
                             outbox_row("A-new", 2, ago(5)), outbox_row("A-new", 3, None)])
            session.add(PartnerRow(partner_id="P-1", name="Charity", token_hash="0" * 64, created_at=ago(1000)))
            session.flush()
            session.add_all([receipt_row("old", ago(91)), receipt_row("new", ago(10))])


def _counts(engine: Engine) -> tuple[int, int, int]:
    return _count(engine, NominalRow.nominal_id), _count(engine, MatchDecisionRow.id), _count(engine, AlertRow.alert_id)


def _count(engine: Engine, column: object, *where: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(column)).where(*where)) or 0)  # type: ignore[arg-type]


@pytest.fixture
def engine(store: SqlAlchemyNominalStore, store_engine: Engine) -> Engine:
    return store_engine  # migrated by ``store``


@pytest.fixture
def nominals_topic(kafka: Settings) -> Iterator[TopicReader]:
    ensure_topics(kafka.kafka_bootstrap, [NOMINALS])
    with TopicReader(kafka.kafka_bootstrap, [NOMINALS.name], start="end") as reader:
        yield reader


def test_retention_deletes_what_is_due_keeps_the_rest_tombstones_and_logs_each_deletion(
    engine: Engine, kafka: Settings, nominals_topic: TopicReader, tmp_path: Path,
) -> None:
    layout = Layout(engine)
    audit = SqlAuditTrail(engine, tmp_path / "audit-head.json")
    tombstones = NominalTombstones(durable_producer(kafka.kafka_bootstrap))

    report = run_retention(POLICY, SqlRetentionStore(engine), tombstones, audit, NOW)

    assert report.counts == {"provisional_nominals": 1, "match_decisions": 1, "alerts": 1, "outbox_payloads": 1,
                             "receipts": 1}
    store = SqlAlchemyNominalStore(engine)
    assert store.get_nominal(layout.gone) is None and store.provenance_of(layout.gone) == []
    assert store.find_by_identifier("phone", "07700 900123") == sorted([layout.evidenced, layout.recent, layout.known])
    assert [d.mention_id for d in store.decisions_for("m-ancient")] == []
    assert [d.mention_id for d in store.decisions_for("m-evidence")] == ["m-evidence"]
    assert _count(engine, AlertRow.alert_id) == 1 and _count(engine, OutboxRow.id, OutboxRow.alert_id == "A-old") == 0
    with Session(engine) as session:
        payloads = {row.version: (row.payload, row.payload_erased_at is not None)
                    for row in session.scalars(select(OutboxRow).where(OutboxRow.alert_id == "A-new"))}
    assert payloads == {1: ({}, True), 2: ({"text": "Ana Kovács, 07700 900123"}, False),
                        3: ({"text": "Ana Kovács, 07700 900123"}, False)}
    assert [r for (r,) in Session(engine).execute(select(ReceiptRow.referral_id))] == ["new"]

    # The tombstone is on the compacted topic, keyed by the nominal it erases.
    tombstoned: list[tuple[bytes | None, bytes | None]] = []
    deadline = time.monotonic() + 20
    while not tombstoned and time.monotonic() < deadline:
        tombstoned += [(m.key(), m.value()) for m in nominals_topic.poll(timeout=1.0)]
    assert tombstoned == [(layout.gone.encode(), None)]

    # One erasure per deletion, naming ids that are references and never a name.
    erasures = [e.record for e in entries(engine) if e.record.category == "erasure"]
    assert sorted(r.subject for r in erasures) == sorted(report.counts)
    assert {r.actor for r in erasures} == {"system:retention"}
    by_subject = {r.subject: r for r in erasures}
    assert layout.gone in by_subject["provisional_nominals"].what
    assert by_subject["provisional_nominals"].why == "retention: provisional_nominals older than 180 days"
    assert "A-old" in by_subject["alerts"].what and by_subject["alerts"].what.startswith("1 alerts")
    assert all("Kovács" not in r.what and "Ana" not in r.what and "07700" not in r.what for r in erasures)

    # A second run finds nothing more, and logs nothing.
    again = run_retention(POLICY, SqlRetentionStore(engine), tombstones, audit, NOW)
    assert again.total == 0
    assert len([e for e in entries(engine) if e.record.category == "erasure"]) == len(erasures)


class NoTombstones:
    def erase_nominals(self, nominal_ids: object) -> None:
        raise AssertionError("a dry run publishes nothing")


def test_a_dry_run_counts_what_is_due_and_deletes_nothing(engine: Engine, tmp_path: Path) -> None:
    Layout(engine)
    audit = SqlAuditTrail(engine, tmp_path / "audit-head.json")
    before = _counts(engine)

    report = run_retention(POLICY, SqlRetentionStore(engine), NoTombstones(), audit, NOW, dry_run=True)

    assert report.dry_run and report.counts == {"provisional_nominals": 1, "match_decisions": 1, "alerts": 1,
                                                "outbox_payloads": 2, "receipts": 1}
    assert _counts(engine) == before
    assert _count(engine, OutboxRow.id, OutboxRow.payload_erased_at.is_not(None)) == 0
    assert list(entries(engine)) == []


def test_existing_topics_get_the_policys_retention(kafka: Settings) -> None:
    spec = TopicSpec(f"toex-test-retention-{uuid.uuid4().hex[:8]}", 1, retention_ms=7 * DAY_MS)
    ensure_topics(kafka.kafka_bootstrap, [spec])
    admin = AdminClient({"bootstrap.servers": kafka.kafka_bootstrap})
    wanted = replace(spec, retention_ms=30 * DAY_MS)

    changes = align_retention(admin, [wanted, replace(NOMINALS, name=f"{spec.name}-absent")])

    assert [(c.topic, c.before, c.after) for c in changes] == [(spec.name, str(7 * DAY_MS), str(30 * DAY_MS))]
    [future] = admin.describe_configs([ConfigResource("topic", spec.name)]).values()
    assert future.result(timeout=10)["retention.ms"].value == str(30 * DAY_MS)
    assert align_retention(admin, [wanted]) == []
