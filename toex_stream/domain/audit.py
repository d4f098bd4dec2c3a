"""The s.62 log (Data Protection Act 2018, Part 3): who did what with personal data, when and why.

Every entry names a *category* of processing as the Act lists them, an
*action* (``alert.read``, ``nominal.import``, ...), the *actor* (a signed-in
user's name, or ``system:<part>`` / ``partner:<id>`` for the machine and the
partners), the *subject* (an alert, a nominal, a referral, a replay), *what*
happened (kinds and counts, never the personal data itself) and *why*. A person
must give a reason; the system's own steps say theirs in ``action``.

Entries are chained: each carries the hash of the one before, so an edited,
deleted or inserted entry breaks every hash after it, and the latest head is
also kept outside the database, so deleting the last entries or rewriting and
rehashing the whole chain no longer matches it.

>>> import datetime as dt
>>> from dataclasses import replace
>>> at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
>>> first = AuditRecord("consultation", "alert.read", "analyst-9", "A-1", "alert page", "assigned to me", at=at)
>>> h1 = chain_hash(GENESIS, 1, first)
>>> h1 == chain_hash(GENESIS, 1, first), h1 == chain_hash(GENESIS, 1, replace(first, why="curious"))
(True, False)
>>> needs_reason(first), needs_reason(replace(first, actor="system:match"))
(True, False)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from toex_stream.domain.errors import ToexError

__all__ = [
    "CATEGORIES", "GENESIS", "SYSTEM_PREFIXES", "AuditError", "AuditRecord", "Category", "chain_hash", "in_bulk",
    "needs_reason",
]

Category = Literal["collection", "alteration", "consultation", "disclosure", "combination", "erasure"]
CATEGORIES: tuple[Category, ...] = (
    "collection", "alteration", "consultation", "disclosure", "combination", "erasure",
)

# The hash the first entry chains to.
GENESIS = "0" * 64

# Actors that are not a person: the worker's steps, the command line's own jobs, and partner organisations.
SYSTEM_PREFIXES = ("system:", "partner:")


class AuditError(ToexError):
    """An entry that cannot be written (no reason where a person acts), or a chain that does not verify."""


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the s.62 log; ``at`` is filled in when it is written if left out."""

    category: Category
    action: str
    actor: str
    subject: str
    what: str
    why: str = ""
    at: dt.datetime | None = None


def needs_reason(record: AuditRecord) -> bool:
    """A person must say why; the system and partners act for the reason their action names."""
    return not record.actor.startswith(SYSTEM_PREFIXES)


def chain_hash(previous: str, seq: int, record: AuditRecord) -> str:
    """sha256 of the previous entry's hash and everything this entry says, in a fixed form."""
    if record.at is None:
        raise AuditError("an audit entry needs its time before it is hashed")
    body = json.dumps(
        [seq, record.at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"), record.category,
         record.action, record.actor, record.subject, record.what, record.why],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(f"{previous}\n{body}".encode()).hexdigest()


def in_bulk(records: list[AuditRecord]) -> list[AuditRecord]:
    """The records of one batch as one entry per kind (category, action, actor, why), in first-seen order.

    The system's own steps log an entry per event and per match decision; a
    batch of them is one entry whose ``what`` has a line per record
    (``subject: what``), so the log grows by a row per batch, not per event.
    A kind with a single record is left as it is.

    >>> a = AuditRecord("combination", "match.decided", "system:match", "N-1", "mention M-1: match")
    >>> b = AuditRecord("combination", "match.decided", "system:match", "N-2", "mention M-2: new")
    >>> [(r.subject, r.what.splitlines()) for r in in_bulk([a, b])]
    [('2 entries', ['N-1: mention M-1: match', 'N-2: mention M-2: new'])]
    >>> in_bulk([a]) == [a]
    True
    """
    kinds: dict[tuple[str, str, str, str], list[AuditRecord]] = {}
    for record in records:
        kinds.setdefault((record.category, record.action, record.actor, record.why), []).append(record)
    bulk = []
    for (category, action, actor, why), group in kinds.items():
        if len(group) == 1:
            bulk.append(group[0])
            continue
        bulk.append(AuditRecord(category, action, actor, f"{len(group)} entries",  # type: ignore[arg-type]
                                "\n".join(f"{r.subject}: {r.what}" for r in group), why, at=group[0].at))
    return bulk


@dataclass(frozen=True)
class ChainHead:
    """The chain's latest entry: its number and hash (kept outside the database too)."""

    seq: int
    hash: str
