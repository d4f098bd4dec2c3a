"""The audit port: where use cases and the worker record who did what with personal data.

:class:`~toex_stream.adapters.sql.audit.SqlAuditTrail` implements it over the
database (hash-chained, head kept outside); tests may pass a list-backed fake.
"""

from __future__ import annotations

from typing import Protocol

from toex_stream.domain.audit import AuditRecord, ChainHead

__all__ = ["AuditRecord", "AuditTrail", "ChainHead"]


class AuditTrail(Protocol):
    def record(self, *records: AuditRecord) -> None:
        """Append the records, in order, in one transaction; raises AuditError when a person gives no reason."""

    def published(self, head: ChainHead | None) -> None:
        """Keep ``head``, appended in another transaction (an adapter's own), outside the database."""
