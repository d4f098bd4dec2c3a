"""The s.62 log in the database: append-only, hash-chained, its head also kept outside.

Each entry is a row of ``audit_chain`` with its sequence number, the hash of
the entry before and its own (:func:`~toex_stream.domain.audit.chain_hash`).
``audit_chain_head`` holds the latest sequence number and hash in one row: a
writer updates it *first* in its transaction, so writers from every process
(the workers, the intake, the command line) take turns and the chain never
forks. After the commit the head is written to a file outside the database
(:class:`HeadFile`), only ever forwards. :func:`verify` then finds

* an edited entry (its hash no longer matches what it says),
* a deleted or inserted entry (a gap in the numbers, or a broken link),
* the last entries deleted (the file's head is past the end of the chain),
* the chain rewritten and rehashed end to end (the file's head no longer matches).

>>> import datetime as dt, tempfile
>>> from pathlib import Path
>>> from sqlalchemy import create_engine
>>> from toex_stream.adapters.sql.models import Base
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine)
>>> head = Path(tempfile.mkdtemp()) / "audit-head.json"
>>> trail = SqlAuditTrail(engine, head)
>>> trail.record(AuditRecord("consultation", "alert.read", "analyst-9", "A-1", "alert page", "assigned to me"),
...              AuditRecord("combination", "match.decide", "system:match", "N-1", "match 0.98"))
>>> verify(engine, head).ok, [e.seq for e in entries(engine)]
(True, [1, 2])
>>> trail.record(AuditRecord("consultation", "alert.read", "analyst-9", "A-1", "alert page"))
Traceback (most recent call last):
...
toex_stream.domain.audit.AuditError: analyst-9 must give a reason for alert.read on A-1
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Engine, Integer, String, Text, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from toex_stream.adapters.sql.models import Base, UtcDateTime
from toex_stream.domain.audit import GENESIS, AuditError, AuditRecord, ChainHead, chain_hash, needs_reason
from toex_stream.domain.clock import utc_now

__all__ = [
    "AuditChainRow", "AuditHeadRow", "ChainHead", "HeadFile", "SqlAuditTrail", "StoredEntry", "Verification",
    "append", "entries", "verify",
]


class AuditChainRow(Base):
    """One entry of the s.62 log. Never updated, never deleted: retention does not apply to the log itself."""

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    category: Mapped[str] = mapped_column(String(16), index=True)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128), index=True)
    subject: Mapped[str] = mapped_column(String(128), index=True)
    what: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's latest entry, in one row that every writer updates first: the writers' turnstile."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class StoredEntry:
    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str


def _check(record: AuditRecord) -> None:
    if needs_reason(record) and not record.why.strip():
        raise AuditError(f"{record.actor} must give a reason for {record.action} on {record.subject}")


def append(session: Session, records: Sequence[AuditRecord], now: dt.datetime | None = None) -> ChainHead | None:
    """Append ``records`` in the caller's transaction; returns the new head (publish it after the commit).

    The head row is updated before it is read, so on PostgreSQL the row lock,
    and on SQLite the database's write lock, makes concurrent writers queue.
    """
    if not records:
        return None
    for record in records:
        _check(record)
    at = now or utc_now()
    touched = session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=AuditHeadRow.seq))
    if touched.rowcount == 0:  # type: ignore[attr-defined]  # the first entry ever: create the head row
        session.execute(insert(AuditHeadRow).values(id=1, seq=0, hash=GENESIS))
    seq, previous = session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == 1)).one()
    rows = []
    for record in records:
        seq += 1
        stamped = record if record.at is not None else replace(record, at=at)
        digest = chain_hash(previous, seq, stamped)
        rows.append({"seq": seq, "at": stamped.at, "category": stamped.category, "action": stamped.action,
                     "actor": stamped.actor, "subject": stamped.subject, "what": stamped.what, "why": stamped.why,
                     "prev_hash": previous, "hash": digest})
        previous = digest
    # Core inserts, not ORM objects: the worker writes an entry per event and per match decision.
    session.execute(insert(AuditChainRow), rows)
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=seq, hash=previous))
    return ChainHead(seq, previous)


class HeadFile:
    """The chain's head outside the database: ``{"seq": N, "hash": H}``, written atomically, only forwards.

    Keep it where the database's users cannot write (another volume, or a
    path only the service account writes). Concurrent writers take a lock on
    a file beside it, and a head older than the one there is not written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ChainHead | None:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AuditError(f"cannot read the audit head {self.path}: {exc}") from None
        return ChainHead(int(stored["seq"]), str(stored["hash"]))

    def advance(self, head: ChainHead) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            current = self.read()
            if current is not None and current.seq >= head.seq:
                return
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"seq": head.seq, "hash": head.hash}, handle)
            # No fsync: the worker advances the head after every batch, and a head lost to a power cut
            # makes `audit verify` complain (a false alarm), never pass what it should not.
            os.replace(temporary, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class SqlAuditTrail:
    """The :class:`~toex_stream.ports.audit.AuditTrail` over the database, with its head kept in ``head_file``."""

    def __init__(self, engine: Engine, head_file: Path) -> None:
        self._engine = engine
        self.head_file = HeadFile(head_file)

    def record(self, *records: AuditRecord) -> None:
        with Session(self._engine) as session, session.begin():
            head = append(session, records)
        self.published(head)

    def published(self, head: ChainHead | None) -> None:
        """Write a head appended in another transaction (see :func:`append`) outside the database."""
        if head is not None:
            self.head_file.advance(head)


def entries(engine: Engine, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
            batch: int = 5000) -> Iterator[StoredEntry]:
    """The entries in order (between ``start`` and ``end`` when given), read in batches."""
    after = 0
    while True:
        query = select(AuditChainRow).where(AuditChainRow.seq > after).order_by(AuditChainRow.seq).limit(batch)
        if start is not None:
            query = query.where(AuditChainRow.at >= start)
        if end is not None:
            query = query.where(AuditChainRow.at < end)
        with Session(engine) as session:
            rows = list(session.scalars(query))
        for row in rows:
            record = AuditRecord(row.category, row.action, row.actor, row.subject, row.what, row.why, at=row.at)  # type: ignore[arg-type]
            yield StoredEntry(row.seq, record, row.prev_hash, row.hash)
        if len(rows) < batch:
            return
        after = rows[-1].seq


@dataclass
class Verification:
    """What :func:`verify` found: the entries checked, the head, and each problem in words."""

    checked: int = 0
    head: ChainHead | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_MAX_PROBLEMS = 20


def verify(engine: Engine, head_file: Path) -> Verification:
    """Walk the whole chain; check every link and hash, the head row, and the head kept outside."""
    result = Verification()
    previous, expected_seq = GENESIS, 1
    last: ChainHead | None = None
    hashes_at: dict[int, str] = {}
    outside = HeadFile(head_file).read()
    for entry in entries(engine):
        result.checked += 1
        if len(result.problems) >= _MAX_PROBLEMS:
            continue
        if entry.seq != expected_seq:
            result.problems.append(f"entries {expected_seq} to {entry.seq - 1} are missing (deleted)")
        if entry.prev_hash != previous:
            result.problems.append(f"entry {entry.seq} does not follow the entry before it (the chain was cut)")
        if chain_hash(entry.prev_hash, entry.seq, entry.record) != entry.hash:
            result.problems.append(f"entry {entry.seq} was changed after it was written (its hash does not match)")
        previous, expected_seq = entry.hash, entry.seq + 1
        last = ChainHead(entry.seq, entry.hash)
        if outside is not None and entry.seq == outside.seq:
            hashes_at[entry.seq] = entry.hash
    result.head = last
    with Session(engine) as session:
        head_row = session.get(AuditHeadRow, 1)
        count = session.scalar(select(func.count()).select_from(AuditChainRow))
    if head_row is not None and (last is None or (head_row.seq, head_row.hash) != (last.seq, last.hash)):
        result.problems.append(f"the head in the database (entry {head_row.seq}) is not the chain's last entry "
                               f"({last.seq if last else 0}): entries were deleted or added around it")
    if outside is None:
        if last is not None:
            result.problems.append(f"the head kept outside the database ({head_file}) is missing")
    elif last is None or last.seq < outside.seq:
        result.problems.append(f"the last entries were deleted: the chain ends at {last.seq if last else 0}, "
                               f"the head kept outside says {outside.seq}")
    elif hashes_at.get(outside.seq) != outside.hash:
        result.problems.append(f"entry {outside.seq} is not the one the head kept outside recorded: "
                               "the chain was rewritten")
    if count != result.checked:
        result.problems.append(f"{count} entries stored, {result.checked} read")
    return result
