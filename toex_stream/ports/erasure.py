"""The erasure port: what erasing one person needs of the database, and what the pipeline reads of the register.

:class:`~toex_stream.adapters.sql.erasure.SqlErasureStore` implements
:class:`ErasureStore`; the tombstone on ``toex.nominals`` goes through the
retention's :class:`~toex_stream.ports.retention.Tombstones`. Unit tests pass fakes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from toex_stream.domain import contract
from toex_stream.domain.erasure import ErasedPeople

__all__ = ["ErasedRows", "ErasureEntry", "ErasureRegister", "ErasureStore"]


@dataclass(frozen=True)
class ErasureEntry:
    """One erased person in the register: which nominal, when, by whom, why, and the keyed hashes that recognise
    them, kept until ``keep_until`` (when the topics that delete by age no longer hold their events)."""

    nominal_id: str
    erased_at: dt.datetime
    erased_by: str
    reason: str
    identifier_hashes: frozenset[str]
    keep_until: dt.datetime


@dataclass(frozen=True)
class ErasedRows:
    """What the deletion removed: counts only (the s.62 log and the command line show them)."""

    nominals: int = 0
    match_decisions: int = 0
    alerts_deleted: int = 0
    alerts_changed: int = 0
    muted: int = 0


class ErasureRegister(Protocol):
    """The register as the pipeline reads it."""

    def erased_people(self, now: dt.datetime) -> ErasedPeople:
        """The key, and the hashes and nominal ids of everyone whose entry is still kept at ``now``."""
        ...


class ErasureStore(ErasureRegister, Protocol):
    """The register, and the person's rows, in the toex-stream database."""

    def hash_key(self) -> bytes:
        """The key of the register's hashes (made once, on first use)."""
        ...

    def nominal(self, nominal_id: str) -> contract.Nominal | None:
        """The nominal as stored, or None."""
        ...

    def entry(self, nominal_id: str) -> ErasureEntry | None:
        """The register's entry for ``nominal_id``, or None."""
        ...

    def register(self, entry: ErasureEntry) -> None:
        """Write (or replace) the entry, committed before the tombstone is sent, so every worker finds it."""
        ...

    def delete_person(self, nominal_id: str, now: dt.datetime) -> ErasedRows:
        """Delete the person's rows in one transaction: nominal, aliases, identifiers, provenance, match decisions,
        muted records; alerts only about them, with their messages; their id from alerts about others too."""
        ...
