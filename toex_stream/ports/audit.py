"""The audit port: where use cases and the worker record who did what with personal data.

:class:`~toex_stream.adapters.sql.audit.SqlAuditTrail` implements it over the
database (hash-chained, head kept outside); tests may pass a list-backed fake.
"""

from __future__ import annotations

from typing import Protocol

from toex_stream.domain.audit import AuditRecord

__all__ = ["AuditRecord", "AuditTrail"]


class AuditTrail(Protocol):
    def record(self, *records: AuditRecord) -> None:
        """Append the records, in order, in one transaction; raises AuditError when a person gives no reason."""
