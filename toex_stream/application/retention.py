"""The retention run: delete from the database what its category's period says is due, and log each deletion.

One use case for ``toex-stream retention run`` and the worker's hourly job.
For each database category, in :data:`~toex_stream.domain.retention.DATABASE_CATEGORIES`'
order, it takes what is due a batch at a time, removes it, and records one
``erasure`` in the s.62 log per batch: the category, how many, the ids where
they are references (nominal and alert ids), never names, and why
("retention: alerts older than 730 days").

A provisional nominal is due when nothing new has been heard of it for its
period (its last update, provenance or match decision). Its tombstone goes to
``toex.nominals`` *before* its rows are deleted: the compacted topic would
otherwise give it back to every worker's store and index when they next read it.

The topics' own categories (referrals, adverts, intelligence, derived events,
dead letters, training examples) are deleted by the broker from their
``retention.ms``, which comes from the same policy.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.retention import CATEGORIES, DATABASE_CATEGORIES, RetentionCategory, RetentionPolicy
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.retention import ErasureLog, RetentionStore, Tombstones

__all__ = ["ACTOR", "BATCH", "RetentionReport", "run_retention", "topic_categories"]

log = logging.getLogger(__name__)

ACTOR = "system:retention"
# Rows per transaction and per s.62 entry.
BATCH = 500

# What each category's rows are called, and what their time is, in the s.62 entry.
_WHAT: dict[RetentionCategory, tuple[str, str]] = {
    "provisional_nominals": ("provisional nominals and their tombstones on toex.nominals", "no evidence since"),
    "match_decisions": ("match decisions", "decided before"),
    "alerts": ("alerts and their outbox messages", "unchanged since"),
    "outbox_payloads": ("payloads of delivered chat messages", "delivered before"),
    "receipts": ("referral receipts", "unchanged since"),
}

# Progress: the category and how many of it have gone so far.
Progress = Callable[[RetentionCategory, int], None]


@dataclass
class RetentionReport:
    """What one run removed (or, dry, would remove) per database category, and the time each was counted from."""

    dry_run: bool
    counts: dict[RetentionCategory, int] = field(default_factory=dict)
    before: dict[RetentionCategory, dt.datetime] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def topic_categories() -> tuple[RetentionCategory, ...]:
    """The categories only topics hold: the broker deletes them by ``retention.ms``, not the retention run."""
    return tuple(category for category in CATEGORIES if category not in DATABASE_CATEGORIES)


def run_retention(
    policy: RetentionPolicy,
    store: RetentionStore,
    tombstones: Tombstones,
    audit: AuditTrail,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    actor: str = ACTOR,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> RetentionReport:
    """Delete what is due at ``now`` (``dry_run``: count it only, delete and log nothing).

    ``actor`` is who the s.62 log names: ``system:retention`` for the worker's
    job, the signed-in user's name for the command line.
    """
    report = RetentionReport(dry_run=dry_run)
    for category in DATABASE_CATEGORIES:
        before = policy.due_before(category, now)
        if before is None:
            continue
        report.before[category] = before
        if dry_run:
            report.counts[category] = store.count_due(category, before)
            continue
        report.counts[category] = 0
        while True:
            due = store.due(category, before, batch)
            if not due:
                break
            keys, refs = [row.key for row in due], [row.ref for row in due]
            if category == "provisional_nominals":
                tombstones.erase_nominals(keys)
            removed = store.remove(category, keys, now, ErasureLog(
                audit, functools.partial(_erasure, policy, category, before, refs=refs, actor=actor)))
            report.counts[category] += removed
            log.info("retention: %s: %d removed (%d in this run)", category, removed, report.counts[category])
            if progress is not None:
                progress(category, report.counts[category])
            if len(due) < batch:
                break
    return report


def _erasure(policy: RetentionPolicy, category: RetentionCategory, before: dt.datetime, removed: int,
             refs: list[str | None], actor: str) -> AuditRecord:
    noun, since = _WHAT[category]
    what = f"{removed} {noun} ({since} {before.isoformat(timespec='seconds')})"
    named = sorted({ref for ref in refs if ref is not None})
    if named:
        what += ": " + ", ".join(named)
    action = "retention.empty" if category == "outbox_payloads" else "retention.delete"
    return AuditRecord("erasure", action, actor, category, what, policy.why(category))
