"""Erasure of one person (``toex-stream erase NOMINAL_ID --reason``): from the database, the compacted topics,
every worker's state, and kept out of the topics that delete by age until they have.

In this order, each step safe to run again if a later one fails (the command
says so, and running it again finishes the erasure):

1. the s.62 log: an ``erasure`` in the name of the person who asked, with their reason;
2. the erasure register's entry (keyed hashes of the person's identifiers, kept
   until the input, derived and dead-letter topics' longest retention has passed),
   committed before anything tells the workers;
3. the tombstone on ``toex.nominals``, acknowledged by the broker. Every
   worker's nominals follower reads it: it loads the register again, takes the
   person out of its match index and writes its index snapshot at once; the
   partition's owner deletes the nominal's scoring state and alert groups,
   which writes tombstones to those tables' changelogs (``streams/agents.py``);
4. the person's rows (:meth:`~toex_stream.ports.erasure.ErasureStore.delete_person`).

The tombstone goes before the rows, as in the retention run: rows deleted
first would come back from the compacted topic to every worker that reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from toex_stream.domain.audit import AuditError, AuditRecord
from toex_stream.domain.erasure import ErasureError, hashes_of_nominal
from toex_stream.domain.retention import RetentionCategory, RetentionPolicy
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.erasure import ErasedRows, ErasureEntry, ErasureStore
from toex_stream.ports.retention import Tombstones

__all__ = ["REGISTER_COVERS", "ErasureReport", "erase_person", "keep_until"]

log = logging.getLogger(__name__)

# The topics' categories that delete by age and can hold the person's events: the register keeps them out
# until the longest of these has passed. (Training examples hold features and a nominal id, no identifier.)
REGISTER_COVERS: tuple[RetentionCategory, ...] = (
    "referrals", "adverts", "intelligence", "derived_events", "dead_letters",
)


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure did: the register's entry, the rows deleted, and whether it had been erased before."""

    entry: ErasureEntry
    rows: ErasedRows
    again: bool = False


def keep_until(policy: RetentionPolicy, erased_at: dt.datetime) -> dt.datetime:
    """When the register may forget the person: the longest retention of the topics that may hold their events.

    >>> from toex_stream.domain.retention import load_retention
    >>> keep_until(load_retention(), dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)).date()
    datetime.date(2027, 12, 3)
    """
    days = max(policy.period(category).days or 0 for category in REGISTER_COVERS)
    return erased_at + dt.timedelta(days=days)


def erase_person(
    nominal_id: str,
    reason: str,
    actor: str,
    store: ErasureStore,
    tombstones: Tombstones,
    audit: AuditTrail,
    policy: RetentionPolicy,
    now: dt.datetime,
) -> ErasureReport:
    """Erase ``nominal_id`` everywhere, in ``actor``'s name and for ``reason`` (see the module's order).

    A nominal that is no longer stored but is in the register was erased
    before (perhaps half-way): its tombstone and deletion are done again.
    """
    if not reason.strip():
        raise AuditError("--reason must say why the person is erased (it is logged in the s.62 log)")
    nominal = store.nominal(nominal_id)
    earlier = store.entry(nominal_id)
    if nominal is None and earlier is None:
        raise ErasureError(f"no nominal {nominal_id!r} in the database and none erased by that id; check the id "
                           "(an alert's nominal_ids, or `toex-stream alerts list`)")
    if nominal is not None:
        hashes = hashes_of_nominal(store.hash_key(), nominal)
        if earlier is not None:  # stored again since (a force published it anew): recognise both versions
            hashes |= earlier.identifier_hashes
    else:
        assert earlier is not None
        hashes = earlier.identifier_hashes
    entry = ErasureEntry(nominal_id=nominal_id, erased_at=now, erased_by=actor, reason=reason.strip(),
                         identifier_hashes=hashes, keep_until=keep_until(policy, now))
    audit.record(AuditRecord(
        "erasure", "person.erase", actor, nominal_id,
        f"nominal {nominal_id}{' (again)' if earlier is not None else ''}: deleted from the database, toex.nominals "
        f"(tombstone), the workers' match indexes, snapshots and scoring state; {len(hashes)} identifiers kept "
        f"as keyed hashes in the erasure register until {entry.keep_until.date().isoformat()}",
        reason.strip()))
    store.register(entry)
    tombstones.erase_nominals([nominal_id])
    rows = store.delete_person(nominal_id, now)
    log.info("erased nominal %s: %d nominal rows, %d match decisions, %d alerts deleted, %d alerts changed, "
             "%d muted records", nominal_id, rows.nominals, rows.match_decisions, rows.alerts_deleted,
             rows.alerts_changed, rows.muted)
    return ErasureReport(entry, rows, again=earlier is not None)
