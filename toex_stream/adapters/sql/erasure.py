"""The erasure register and the deletion of one person's rows, on SQLite and PostgreSQL (migration 0014).

The register keeps, per erased person, the nominal id, when, by whom and why,
and keyed hashes (HMAC-SHA256) of their normalised identifiers: never a
phone, an email or a name. The key is made once, at random, and kept in its own
table: an export of the register alone cannot be reversed by hashing every
phone number. (Anyone holding the whole database holds the key too; see the
README's notes on erasure.)

An alert about the erased person only is deleted with its outbox messages, as
the retention run deletes an alert. An alert that also concerns others stays
(it is those people's case): the erased nominal id is taken out of its
``nominal_ids``, and its delivered messages' text, which may name them, is
emptied as the retention run empties delivered payloads.

>>> import datetime as dt
>>> from sqlalchemy import create_engine
>>> from toex_stream.adapters.sql import outbox_models, silences  # noqa: F401 - the alert tables
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine)
>>> store = SqlErasureStore(engine)
>>> len(store.hash_key()) == 32 and store.hash_key() == SqlErasureStore(engine).hash_key()
True
>>> store.erased_people(dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)).hashes
frozenset()
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Engine, Integer, LargeBinary, String, Text, delete, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from toex_stream.adapters.sql.models import (
    AliasRow,
    Base,
    IdentifierRow,
    MatchDecisionRow,
    NominalRow,
    ProvenanceRow,
    UtcDateTime,
)
from toex_stream.adapters.sql.outbox_models import AlertRow, OutboxRow
from toex_stream.adapters.sql.silences import SilencedAlertRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.domain import contract
from toex_stream.domain.erasure import ErasedPeople
from toex_stream.domain.situations.alerts import without
from toex_stream.ports.erasure import ErasedRows, ErasureEntry

__all__ = ["Base", "ErasureKeyRow", "ErasureRow", "SqlErasureStore"]


class ErasureRow(Base):
    """One erased person: kept until the topics that delete by age no longer hold their events."""

    __tablename__ = "erasure_register"

    nominal_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    erased_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    # Hex HMAC-SHA256 of each normalised identifier (toex_stream.domain.erasure): never the identifiers.
    identifier_hashes: Mapped[list[str]] = mapped_column(JSON)
    keep_until: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class ErasureKeyRow(Base):
    """The register's hash key: one row, made at random on first use."""

    __tablename__ = "erasure_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


_KEY_ID = 1


def _rowcount(result: Any) -> int:
    # DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs).
    return int(cast("CursorResult[Any]", result).rowcount)


def _entry(row: ErasureRow) -> ErasureEntry:
    return ErasureEntry(row.nominal_id, row.erased_at, row.erased_by, row.reason, frozenset(row.identifier_hashes),
                        row.keep_until)


class SqlErasureStore:
    """:class:`toex_stream.ports.erasure.ErasureStore` on the toex-stream database (migrated)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._key: bytes | None = None

    def hash_key(self) -> bytes:
        if self._key is None:
            with Session(self._engine) as session:
                key = session.scalar(select(ErasureKeyRow.key).where(ErasureKeyRow.id == _KEY_ID))
            if key is None:
                try:
                    with Session(self._engine) as session, session.begin():
                        session.add(ErasureKeyRow(id=_KEY_ID, key=secrets.token_bytes(32),
                                                  created_at=dt.datetime.now(dt.timezone.utc)))
                except IntegrityError:
                    pass  # another process made it first: theirs is the key
                with Session(self._engine) as session:
                    key = session.scalar(select(ErasureKeyRow.key).where(ErasureKeyRow.id == _KEY_ID))
            self._key = bytes(key) if key is not None else None
        if self._key is None:
            raise RuntimeError("the erasure register's key could not be read back after it was written")
        return self._key

    def nominal(self, nominal_id: str) -> contract.Nominal | None:
        return SqlAlchemyNominalStore(self._engine).get_nominal(nominal_id)

    def entry(self, nominal_id: str) -> ErasureEntry | None:
        with Session(self._engine) as session:
            row = session.get(ErasureRow, nominal_id)
            return None if row is None else _entry(row)

    def register(self, entry: ErasureEntry) -> None:
        with Session(self._engine) as session, session.begin():
            session.merge(ErasureRow(nominal_id=entry.nominal_id, erased_at=entry.erased_at,
                                     erased_by=entry.erased_by, reason=entry.reason,
                                     identifier_hashes=sorted(entry.identifier_hashes), keep_until=entry.keep_until))

    def erased_people(self, now: dt.datetime) -> ErasedPeople:
        with Session(self._engine) as session:
            rows = session.execute(select(ErasureRow.nominal_id, ErasureRow.identifier_hashes)
                                   .where(ErasureRow.keep_until > now)).all()
        if not rows:
            return ErasedPeople()
        hashes = frozenset(digest for _, digests in rows for digest in digests)
        return ErasedPeople(self.hash_key(), hashes, frozenset(nominal_id for nominal_id, _ in rows))

    def delete_person(self, nominal_id: str, now: dt.datetime) -> ErasedRows:
        with Session(self._engine) as session, session.begin():
            # Children by name, not left to ON DELETE CASCADE (SQLite applies it only where foreign keys are on).
            for child in (AliasRow, IdentifierRow, ProvenanceRow):
                session.execute(delete(child).where(child.nominal_id == nominal_id))
            nominals = _rowcount(session.execute(delete(NominalRow).where(NominalRow.nominal_id == nominal_id)))
            decisions = _rowcount(session.execute(
                delete(MatchDecisionRow).where(MatchDecisionRow.nominal_id == nominal_id)))
            muted = _rowcount(session.execute(
                delete(SilencedAlertRow).where(SilencedAlertRow.nominal_id == nominal_id)))
            deleted, changed = self._alerts(session, nominal_id, now)
        return ErasedRows(nominals=nominals, match_decisions=decisions, alerts_deleted=deleted,
                          alerts_changed=changed, muted=muted)

    @staticmethod
    def _alerts(session: Session, nominal_id: str, now: dt.datetime) -> tuple[int, int]:
        # The JSON list as text, narrowed by LIKE on both databases (the id as json.dumps writes it, as both store
        # it), then checked exactly here.
        written = sql_cast(AlertRow.nominal_ids, String).contains(json.dumps(nominal_id), autoescape=True)
        rows = session.scalars(select(AlertRow).where(written)).all()
        only_theirs = [row.alert_id for row in rows if set(row.nominal_ids) == {nominal_id}]
        shared = [row for row in rows if nominal_id in row.nominal_ids and row.alert_id not in only_theirs]
        if only_theirs:
            session.execute(delete(OutboxRow).where(OutboxRow.alert_id.in_(only_theirs)))
            session.execute(delete(AlertRow).where(AlertRow.alert_id.in_(only_theirs)))
        for row in shared:
            row.nominal_ids = [other for other in row.nominal_ids if other != nominal_id]
            if row.situation is not None:
                row.situation = without(row.situation, nominal_id)
            row.updated_at = now
        if shared:
            session.execute(update(OutboxRow).where(
                OutboxRow.alert_id.in_([row.alert_id for row in shared]), OutboxRow.delivered_at.is_not(None),
                OutboxRow.payload_erased_at.is_(None)).values(payload={}, payload_erased_at=now))
        return len(only_theirs), len(shared)
