"""The worker's retention job: every hour, on one worker, the same retention run as ``toex-stream retention run``.

On the leader only, and then only by the holder of the ``retention`` lease
(the outbox's lease table, :meth:`~toex_stream.adapters.sql.outbox.Outbox.acquire_lease`),
so two workers never run it at once even while leadership changes hands. A
run that fails is logged and tried again at the next tick: what is due stays
due. The tombstones it sends for provisional nominals come back to every
worker through the nominals follower, which erases them from its store and
its match index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

import faust

from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.application.retention import RetentionReport, run_retention
from toex_stream.domain.clock import utc_now
from toex_stream.domain.retention import RetentionPolicy
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.retention import RetentionStore, Tombstones

__all__ = ["RETENTION_INTERVAL_S", "RETENTION_LEASE", "RetentionJob", "register"]

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0
RETENTION_LEASE = "retention"
# Held for half the interval: long enough for a run, and free again well before the next tick.
LEASE_TTL_S = RETENTION_INTERVAL_S / 2


@dataclass
class RetentionJob:
    """What the hourly run needs, built by the composition root (``streams/__main__.py``)."""

    policy: RetentionPolicy
    store: RetentionStore
    tombstones: Tombstones
    audit: AuditTrail
    lease: Outbox
    holder: str

    def run_once(self, now: dt.datetime) -> RetentionReport | None:
        """Run retention if this worker takes the lease; None when another holds it."""
        if self.lease.acquire_lease(self.holder, LEASE_TTL_S, now, name=RETENTION_LEASE) is None:
            log.info("retention: another worker holds the lease; not run here")
            return None
        report = run_retention(self.policy, self.store, self.tombstones, self.audit, now)
        log.info("retention run: %s", ", ".join(f"{category}={count}" for category, count in report.counts.items()))
        return report


def register(app: faust.App, job: RetentionJob, interval: float = RETENTION_INTERVAL_S) -> None:
    """Run ``job`` every ``interval`` seconds on the leader, in a thread (its queries must not block the loop)."""

    @app.timer(interval=interval, on_leader=True)
    async def retention() -> None:
        try:
            await asyncio.to_thread(job.run_once, utc_now())
        except Exception:  # what is due stays due: the next tick tries again
            log.exception("retention run failed; it runs again in %.0f s", interval)
