"""Silences kept in the database: set and ended from the command line, read by the situate agent.

What each silence muted is kept too (``silenced_alerts``: labels only, no
personal data), so a team can see what it did not hear about.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import JSON, DateTime, Engine, Integer, String, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from toex_stream.adapters.sql.models import Base
from toex_stream.domain.alerting.suppression import MAX_SILENCE, Silence
from toex_stream.domain.clock import utc_now


class SilenceRow(Base):
    __tablename__ = "silences"

    silence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matchers: Mapped[dict[str, str]] = mapped_column(JSON)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(String(500))
    # Who ended it before its time (None: it ran its course, or has not ended).
    ended_by: Mapped[str | None] = mapped_column(String(128))


class SilencedAlertRow(Base):
    """One alert a silence muted: on which route, about which nominal and mention, when."""

    __tablename__ = "silenced_alerts"
    __table_args__ = (UniqueConstraint("silence_id", "mention_id", "threat", "route"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    silence_id: Mapped[str] = mapped_column(String(64), index=True)
    muted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    nominal_id: Mapped[str] = mapped_column(String(128))
    mention_id: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(16))
    threat: Mapped[str] = mapped_column(String(32))
    band: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(256))


@dataclass(frozen=True)
class Muted:
    """An alert a silence muted (labels only)."""

    silence_id: str
    muted_at: dt.datetime
    nominal_id: str
    mention_id: str
    region: str
    threat: str
    band: str
    route: str


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _silence(row: SilenceRow) -> Silence:
    starts = _utc(row.starts_at)
    # A silence set before silences had a limit ends at the limit.
    ends = min(_utc(row.ends_at), starts + MAX_SILENCE)
    return Silence(silence_id=row.silence_id, matchers=dict(row.matchers), starts_at=starts, ends_at=ends,
                   created_by=row.created_by, comment=row.comment, ended_by=row.ended_by)


class Silences:
    """The silences store; ``active()`` caches for a few seconds, since the situate agent asks per input."""

    def __init__(self, engine: Engine, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[Silence]] | None = None

    def add(self, matchers: dict[str, str], duration: dt.timedelta, created_by: str, comment: str = "",
            starts_at: dt.datetime | None = None) -> Silence:
        starts = starts_at or utc_now()
        silence = Silence(silence_id=f"sil-{uuid.uuid4().hex[:12]}", matchers=matchers, starts_at=starts,
                          ends_at=starts + duration, created_by=created_by, comment=comment)
        with Session(self._engine) as session, session.begin():
            session.add(SilenceRow(silence_id=silence.silence_id, matchers=silence.matchers,
                                   starts_at=silence.starts_at, ends_at=silence.ends_at,
                                   created_by=silence.created_by, comment=silence.comment))
        self._cached = None
        return silence

    def expire(self, silence_id: str, by: str, at: dt.datetime | None = None) -> bool:
        """End a silence now, recording who ended it; False when there is no such silence."""
        if not by:
            raise ValueError("ending a silence needs who ends it")
        now = at or utc_now()
        with Session(self._engine) as session, session.begin():
            row = session.get(SilenceRow, silence_id)
            if row is None:
                return False
            row.ends_at = max(_utc(row.starts_at), min(_utc(row.ends_at), now))
            row.ended_by = by
        self._cached = None
        return True

    def record_muted(self, muted: Sequence[Muted]) -> None:
        """Keep what silences muted (a record already kept, from a batch read again, is not kept twice)."""
        if not muted:
            return
        rows = [{"silence_id": m.silence_id, "muted_at": m.muted_at, "nominal_id": m.nominal_id,
                 "mention_id": m.mention_id, "region": m.region, "threat": m.threat, "band": m.band,
                 "route": m.route} for m in muted]
        dialect = self._engine.dialect.name
        insert = postgresql.insert(SilencedAlertRow) if dialect == "postgresql" else sqlite.insert(SilencedAlertRow)
        with Session(self._engine) as session, session.begin():
            session.execute(insert.on_conflict_do_nothing(), rows)

    def muted(self, silence_id: str) -> list[Muted]:
        """What ``silence_id`` muted, oldest first."""
        with Session(self._engine) as session:
            rows = session.scalars(select(SilencedAlertRow).where(SilencedAlertRow.silence_id == silence_id)
                                   .order_by(SilencedAlertRow.muted_at, SilencedAlertRow.id))
            return [Muted(r.silence_id, _utc(r.muted_at), r.nominal_id, r.mention_id, r.region, r.threat, r.band,
                          r.route) for r in rows]

    def all(self) -> list[Silence]:
        with Session(self._engine) as session:
            return [_silence(r) for r in session.scalars(select(SilenceRow).order_by(SilenceRow.starts_at))]

    def active(self) -> list[Silence]:
        """Silences not yet ended (the caller checks each against the alert's time)."""
        if self._cached is not None and time.monotonic() - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        now = utc_now()
        with Session(self._engine) as session:
            rows = session.scalars(select(SilenceRow).where(SilenceRow.ends_at > now))
            current = [_silence(r) for r in rows]
        self._cached = (time.monotonic(), current)
        return current
