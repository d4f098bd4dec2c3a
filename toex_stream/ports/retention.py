"""The retention ports: what the retention run needs of the database and of the compacted nominals topic.

:class:`~toex_stream.adapters.sql.retention.SqlRetentionStore` implements
:class:`RetentionStore`; :class:`~toex_stream.adapters.kafka_retention.NominalTombstones`
implements :class:`Tombstones`. Unit tests pass fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.retention import RetentionCategory
from toex_stream.ports.audit import AuditTrail

__all__ = ["Due", "ErasureLog", "RetentionStore", "Tombstones"]


@dataclass(frozen=True)
class ErasureLog:
    """How a removal is logged: ``record(removed)`` is the s.62 entry, written to ``trail`` with the removal
    (in its transaction where the store and the trail share a database)."""

    trail: AuditTrail
    record: Callable[[int], AuditRecord]


@dataclass(frozen=True)
class Due:
    """One row due for deletion: ``key`` finds it again; ``ref`` is what the s.62 log may name of it.

    ``ref`` is an id that is a reference, not personal data (a nominal id, an
    alert id), or None where the row has none worth naming (a match decision).
    """

    key: str
    ref: str | None = None


class RetentionStore(Protocol):
    """The rows of each database category, found by the time they were last touched, and removed."""

    def count_due(self, category: RetentionCategory, before: dt.datetime) -> int:
        """How many rows of ``category`` were last touched before ``before``."""
        ...

    def due(self, category: RetentionCategory, before: dt.datetime, limit: int) -> list[Due]:
        """Up to ``limit`` rows of ``category`` last touched before ``before``, oldest first."""
        ...

    def remove(self, category: RetentionCategory, keys: Sequence[str], now: dt.datetime,
               log: ErasureLog | None = None) -> int:
        """Delete (or, for outbox payloads, empty) these rows in one transaction, logged with ``log`` when
        any went; how many it removed."""
        ...


class Tombstones(Protocol):
    """Erases nominals from the compacted ``toex.nominals``: a null value for each key, acknowledged."""

    def erase_nominals(self, nominal_ids: Sequence[str]) -> None:
        """Publish a tombstone per nominal and wait until the broker has them all; raise if it refused any."""
        ...
