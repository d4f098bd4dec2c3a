"""Silences kept in the database: set and expired from the command line, read by the alert agent."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from sqlalchemy import JSON, DateTime, Engine, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from toex_stream.adapters.sql.models import Base
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.clock import utc_now


class SilenceRow(Base):
    __tablename__ = "silences"

    silence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matchers: Mapped[dict[str, str]] = mapped_column(JSON)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(String(500))


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _silence(row: SilenceRow) -> Silence:
    return Silence(silence_id=row.silence_id, matchers=dict(row.matchers), starts_at=_utc(row.starts_at),
                   ends_at=_utc(row.ends_at), created_by=row.created_by, comment=row.comment)


class Silences:
    """The silences store; ``active()`` caches for a few seconds, since the alert agent asks per score."""

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

    def expire(self, silence_id: str, at: dt.datetime | None = None) -> bool:
        now = at or utc_now()
        with Session(self._engine) as session, session.begin():
            row = session.get(SilenceRow, silence_id)
            if row is None:
                return False
            row.ends_at = max(_utc(row.starts_at), now)
        self._cached = None
        return True

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
