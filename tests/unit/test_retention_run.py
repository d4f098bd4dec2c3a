"""The retention run with fakes: tombstones before deletion, one s.62 erasure per batch, nothing when dry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest

from toex_stream.application.retention import run_retention
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.retention import RetentionCategory, load_retention
from toex_stream.ports.retention import Due, ErasureLog

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)


class FakeStore:
    def __init__(self, rows: dict[RetentionCategory, list[Due]]) -> None:
        self.rows = rows
        self.events: list[str] = []

    def count_due(self, category: RetentionCategory, before: dt.datetime) -> int:
        return len(self.rows.get(category, []))

    def due(self, category: RetentionCategory, before: dt.datetime, limit: int) -> list[Due]:
        return self.rows.get(category, [])[:limit]

    def remove(self, category: RetentionCategory, keys: Sequence[str], now: dt.datetime,
               log: ErasureLog | None = None) -> int:
        self.events.append(f"remove {category} {len(keys)}")
        self.rows[category] = [row for row in self.rows[category] if row.key not in keys]
        if log is not None:
            log.trail.record(log.record(len(keys)))
        return len(keys)


class FakeTombstones:
    def __init__(self, store: FakeStore, fail: bool = False) -> None:
        self.store, self.fail = store, fail

    def erase_nominals(self, nominal_ids: Sequence[str]) -> None:
        if self.fail:
            raise RuntimeError("broker down")
        self.store.events.append(f"tombstone {len(nominal_ids)}")


class ListAudit:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, *records: AuditRecord) -> None:
        self.records.extend(records)


def _store() -> FakeStore:
    return FakeStore({
        "provisional_nominals": [Due(f"prov-{i}", f"prov-{i}") for i in range(5)],
        "match_decisions": [Due(str(i)) for i in range(3)],
    })


def test_tombstones_go_out_before_the_rows_and_each_batch_is_one_erasure() -> None:
    store, audit = _store(), ListAudit()
    progress: list[tuple[str, int]] = []
    report = run_retention(load_retention(), store, FakeTombstones(store), audit, NOW, batch=2,
                           actor="dpo-1", progress=lambda category, done: progress.append((category, done)))
    assert report.counts["provisional_nominals"] == 5 and report.counts["match_decisions"] == 3
    assert store.events[:6] == ["tombstone 2", "remove provisional_nominals 2", "tombstone 2",
                                "remove provisional_nominals 2", "tombstone 1", "remove provisional_nominals 1"]
    assert [(r.category, r.subject) for r in audit.records] == [("erasure", "provisional_nominals")] * 3 + [
        ("erasure", "match_decisions")] * 2
    first = audit.records[0]
    assert first.actor == "dpo-1" and first.what.startswith("2 provisional nominals") and "prov-0, prov-1" in first.what
    assert first.why == "retention: provisional_nominals older than 180 days"
    assert audit.records[-1].what.startswith("1 match decisions (decided before 2025-12-03T00:00:00+00:00)")
    assert progress[-1] == ("match_decisions", 3)


def test_nothing_is_deleted_when_the_tombstones_fail() -> None:
    store, audit = _store(), ListAudit()
    with pytest.raises(RuntimeError):
        run_retention(load_retention(), store, FakeTombstones(store, fail=True), audit, NOW)
    assert len(store.rows["provisional_nominals"]) == 5 and audit.records == []


def test_a_dry_run_counts_and_neither_deletes_nor_logs() -> None:
    store, audit = _store(), ListAudit()
    report = run_retention(load_retention(), store, FakeTombstones(store, fail=True), audit, NOW, dry_run=True)
    assert report.counts == {"provisional_nominals": 5, "match_decisions": 3, "alerts": 0, "outbox_payloads": 0,
                             "receipts": 0}
    assert store.events == [] and audit.records == []


def test_the_worker_job_runs_on_one_worker_at_a_time(sqlite_engine) -> None:
    from streams.retention import LEASE_TTL_S, RetentionJob
    from toex_stream.adapters.sql.outbox import Outbox

    store, audit = _store(), ListAudit()
    jobs = [RetentionJob(load_retention(), store, FakeTombstones(store), audit, Outbox(sqlite_engine), f"worker-{i}")
            for i in (1, 2)]
    first = jobs[0].run_once(NOW)
    assert first is not None and first.counts["provisional_nominals"] == 5
    assert jobs[1].run_once(NOW + dt.timedelta(minutes=1)) is None
    assert {r.actor for r in audit.records} == {"system:retention"}
    later = NOW + dt.timedelta(seconds=LEASE_TTL_S + 1)
    assert jobs[1].run_once(later) is not None  # the first let it lapse: the second runs the next one


def test_a_tombstone_for_a_nominal_retention_already_deleted_still_leaves_the_match_index(sqlite_engine) -> None:
    """The worker's follower reads the retention run's tombstone after the run deleted the rows: the index drops it."""
    from streams.followers import _store_nominals
    from tests.unit.test_own_nominals import nominal, record
    from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
    from toex_stream.domain.matching.index import Matcher
    from toex_stream.domain.matching.records import record_from_nominal

    store, matcher = SqlAlchemyNominalStore(sqlite_engine), Matcher()
    matcher.add(record_from_nominal(nominal("prov-9", "Ada")))  # filed by the match agent; its rows already gone
    actions = _store_nominals(store, [record(0, "prov-9", None)])
    assert actions == ["prov-9"]
    matcher.remove("prov-9")  # what follow_nominals does with such an action
    assert "prov-9" not in matcher.index.positions
