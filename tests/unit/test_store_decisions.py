"""Many match decisions in one transaction: ``record_decisions`` on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import datetime as dt

from tests.integration.test_store import AT, decision
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore


def test_many_decisions_are_kept_at_once_and_each_once_per_mention_and_model_version(
    store: SqlAlchemyNominalStore,
) -> None:
    store.record_decision(decision("toex.referrals:p1:R-0#0"))  # kept before, one at a time
    later = AT + dt.timedelta(days=1)
    batch = [
        decision("toex.referrals:p1:R-0#0", probability=0.4, decided_at=later),  # already kept: skipped
        decision("toex.referrals:p1:R-1#0"),
        decision("toex.referrals:p1:R-1#0", model_version="fs-2"),  # another model: kept too
        decision("toex.referrals:p1:R-2#0", decision="new", nominal_id=None),
        decision("toex.referrals:p1:R-2#0", probability=0.1),  # twice in the batch: the first is kept
    ]

    assert store.record_decisions(batch) == 3
    assert store.record_decisions(batch) == 0, "a replay of the batch keeps nothing new"
    assert store.record_decisions([]) == 0

    assert store.decisions_for("toex.referrals:p1:R-0#0") == [decision("toex.referrals:p1:R-0#0")]
    assert [d.model_version for d in store.decisions_for("toex.referrals:p1:R-1#0")] == ["fs-1", "fs-2"]
    assert store.decisions_for("toex.referrals:p1:R-2#0") == [
        decision("toex.referrals:p1:R-2#0", decision="new", nominal_id=None)
    ]


def test_a_large_batch_of_decisions_is_kept_whole(store: SqlAlchemyNominalStore) -> None:
    batch = [decision(f"toex.adverts:a:{n}#0") for n in range(1_200)]  # more ids than one IN (...) list holds

    assert store.record_decisions(batch) == 1_200
    assert store.record_decisions(batch[500:]) == 0
    assert store.decisions_for("toex.adverts:a:1199#0") == [batch[-1]]
