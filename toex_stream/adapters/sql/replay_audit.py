"""The replay audit: every replay, who ran it, over which range and why, kept in the live database.

This row is the one thing a replay writes to the live system. The log line
that goes with it carries no personal data: the audit id, the range, the
topics and the event count.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import JSON, Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from toex_stream.adapters.sql.audit import HeadFile, append
from toex_stream.adapters.sql.models import Base, UtcDateTime
from toex_stream.domain.audit import AuditRecord

log = logging.getLogger(__name__)


class ReplayAuditRow(Base):
    """One replay: when, by whom, of what range and topics, why, with what, written where, how many events."""

    __tablename__ = "replay_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    who: Mapped[str] = mapped_column(String(128))
    range_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    range_to: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    topics: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(String(500))
    routes: Mapped[str] = mapped_column(String(500))
    out: Mapped[str] = mapped_column(String(500))
    events: Mapped[int] = mapped_column(Integer)
    # started (written before anything is read), finished or failed.
    status: Mapped[str] = mapped_column(String(16), server_default="finished")
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class ReplayAudit:
    at: dt.datetime
    who: str
    range_from: dt.datetime
    range_to: dt.datetime
    topics: list[str]
    reason: str
    model: str
    profile: str
    routes: str
    out: str
    events: int
    status: str = "finished"
    finished_at: dt.datetime | None = None


def record_replay(engine: Engine, audit: ReplayAudit, audit_head: Path | None = None) -> int:
    """Store the audit row (before the replay reads anything) and its s.62 entry (a consultation), in one
    transaction; log it, without who or why. Returns the row's id."""
    with Session(engine) as session, session.begin():
        row = ReplayAuditRow(**audit.__dict__)
        session.add(row)
        session.flush()
        audit_id = row.id
        head = append(session, [AuditRecord(
            "consultation", "replay.started", audit.who, f"replay-{audit_id}",
            f"{', '.join(audit.topics)} from {audit.range_from.isoformat()} to {audit.range_to.isoformat()}; "
            f"model {audit.model}; report {audit.out}", audit.reason)], now=audit.at)
    if audit_head is not None and head is not None:
        HeadFile(audit_head).advance(head)
    log.info("replay audited id=%d from=%s to=%s topics=%s status=%s", audit_id, audit.range_from.isoformat(),
             audit.range_to.isoformat(), ",".join(audit.topics), audit.status)
    return audit_id


def finish_replay(engine: Engine, audit_id: int, *, events: int, failed: bool, at: dt.datetime) -> None:
    """Record how the replay ``audit_id`` ended: finished with ``events`` events, or failed."""
    status = "failed" if failed else "finished"
    with Session(engine) as session, session.begin():
        row = session.get(ReplayAuditRow, audit_id)
        if row is None:
            raise LookupError(f"no replay audit row {audit_id}")
        row.status, row.events, row.finished_at = status, events, at
    log.info("replay id=%d %s events=%d", audit_id, status, events)


def replays(engine: Engine) -> list[ReplayAudit]:
    """Every audited replay, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(select(ReplayAuditRow).order_by(ReplayAuditRow.id))
        return [ReplayAudit(**{k: getattr(r, k) for k in ReplayAudit.__dataclass_fields__}) for r in rows]
