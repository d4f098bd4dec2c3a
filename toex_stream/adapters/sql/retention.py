"""The retention run's database side: what of each category is due, and its removal in batches.

Plain SQL expressions that SQLite and PostgreSQL both run: a batch is chosen
by its time (indexed, migration 0013) and removed by its keys in one
transaction, so a long run holds no lock for long and can stop between batches.

>>> import datetime as dt
>>> from sqlalchemy import create_engine
>>> from toex_stream.adapters.sql import outbox_models  # noqa: F401 - the alert tables
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine)
>>> store = SqlRetentionStore(engine)
>>> store.count_due("match_decisions", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
0
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Select, and_, delete, exists, func, null, select, update
from sqlalchemy.orm import Session

from toex_stream.adapters.sql.audit import SqlAuditTrail, append
from toex_stream.adapters.sql.intake_models import ReceiptRow
from toex_stream.adapters.sql.models import (
    AliasRow,
    Base,
    IdentifierRow,
    MatchDecisionRow,
    NominalRow,
    ProvenanceRow,
)
from toex_stream.adapters.sql.outbox_models import AlertRow, OutboxRow
from toex_stream.domain.retention import RetentionCategory
from toex_stream.ports.retention import Due, ErasureLog

__all__ = ["Base", "SqlRetentionStore"]

# Keys per IN (...) list: far below every database's limit on bound parameters.
_IN_CHUNK = 500


def _provisional_due(before: dt.datetime) -> Any:
    """A provisional nominal with no evidence since ``before``: not updated, no provenance, no match decision."""
    newer_provenance = exists().where(ProvenanceRow.nominal_id == NominalRow.nominal_id,
                                      ProvenanceRow.recorded_at >= before)
    newer_decision = exists().where(MatchDecisionRow.nominal_id == NominalRow.nominal_id,
                                    MatchDecisionRow.decided_at >= before)
    return and_(NominalRow.provisional.is_(True), NominalRow.updated_at < before, ~newer_provenance, ~newer_decision)


def _due_query(category: RetentionCategory, before: dt.datetime) -> Select[Any, Any, Any]:
    """(key, ref, time) of the rows of ``category`` due at ``before``, oldest first."""
    if category == "provisional_nominals":
        return (select(NominalRow.nominal_id, NominalRow.nominal_id, NominalRow.updated_at)
                .where(_provisional_due(before)).order_by(NominalRow.updated_at, NominalRow.nominal_id))
    if category == "match_decisions":
        return (select(MatchDecisionRow.id, null(), MatchDecisionRow.decided_at)
                .where(MatchDecisionRow.decided_at < before).order_by(MatchDecisionRow.id))
    if category == "alerts":
        return (select(AlertRow.alert_id, AlertRow.alert_id, AlertRow.updated_at)
                .where(AlertRow.updated_at < before).order_by(AlertRow.updated_at, AlertRow.alert_id))
    if category == "outbox_payloads":
        return (select(OutboxRow.id, OutboxRow.alert_id, OutboxRow.delivered_at)
                .where(OutboxRow.delivered_at < before, OutboxRow.payload_erased_at.is_(None))
                .order_by(OutboxRow.id))
    if category == "receipts":
        return (select(ReceiptRow.id, null(), ReceiptRow.updated_at)
                .where(ReceiptRow.updated_at < before).order_by(ReceiptRow.id))
    raise ValueError(f"{category} is not kept in the database: the broker deletes it by the topic's retention.ms")


def _chunks(keys: Sequence[str]) -> list[Sequence[str]]:
    return [keys[start:start + _IN_CHUNK] for start in range(0, len(keys), _IN_CHUNK)]


def _rowcount(result: Any) -> int:
    # DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs).
    return int(cast("CursorResult[Any]", result).rowcount)


class SqlRetentionStore:
    """:class:`toex_stream.ports.retention.RetentionStore` on the toex-stream database (migrated)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def count_due(self, category: RetentionCategory, before: dt.datetime) -> int:
        query = select(func.count()).select_from(_due_query(category, before).order_by(None).subquery())
        with Session(self._engine) as session:
            return int(session.scalar(query) or 0)

    def due(self, category: RetentionCategory, before: dt.datetime, limit: int) -> list[Due]:
        with Session(self._engine) as session:
            rows = session.execute(_due_query(category, before).limit(limit)).all()
        return [Due(str(key), None if ref is None else str(ref)) for key, ref, _ in rows]

    def remove(self, category: RetentionCategory, keys: Sequence[str], now: dt.datetime,
               log: ErasureLog | None = None) -> int:
        removed, head = 0, None
        trail = log.trail if log is not None else None
        with Session(self._engine) as session, session.begin():
            for chunk in _chunks(list(keys)):
                removed += self._remove(session, category, chunk, now)
            if isinstance(trail, SqlAuditTrail) and log is not None and removed:
                head = append(session, [log.record(removed)])  # the same database: deleted means logged
        if isinstance(trail, SqlAuditTrail):
            trail.published(head)
        elif trail is not None and log is not None and removed:  # none: another run removed them, and logged it
            trail.record(log.record(removed))
        return removed

    @staticmethod
    def _remove(session: Session, category: RetentionCategory, keys: Sequence[str], now: dt.datetime) -> int:
        if category == "provisional_nominals":
            # Their children go first, by name: not left to ON DELETE CASCADE, which SQLite applies only on
            # connections that turned foreign keys on.
            for child in (AliasRow, IdentifierRow, ProvenanceRow):
                session.execute(delete(child).where(child.nominal_id.in_(keys)))
            return _rowcount(session.execute(
                delete(NominalRow).where(NominalRow.nominal_id.in_(keys), NominalRow.provisional.is_(True))))
        if category == "match_decisions":
            ids = [int(key) for key in keys]
            return _rowcount(session.execute(delete(MatchDecisionRow).where(MatchDecisionRow.id.in_(ids))))
        if category == "alerts":
            session.execute(delete(OutboxRow).where(OutboxRow.alert_id.in_(keys)))
            return _rowcount(session.execute(delete(AlertRow).where(AlertRow.alert_id.in_(keys))))
        if category == "outbox_payloads":
            # The row stays: its (alert, receiver, kind, version) stops a replay from queueing the message again,
            # and an update of the alert finds its thread (slack_ts) by it.
            ids = [int(key) for key in keys]
            return _rowcount(session.execute(
                update(OutboxRow).where(OutboxRow.id.in_(ids), OutboxRow.payload_erased_at.is_(None))
                .values(payload={}, payload_erased_at=now)))
        if category == "receipts":
            ids = [int(key) for key in keys]
            return _rowcount(session.execute(delete(ReceiptRow).where(ReceiptRow.id.in_(ids))))
        raise ValueError(f"{category} is not kept in the database: the broker deletes it by the topic's retention.ms")
