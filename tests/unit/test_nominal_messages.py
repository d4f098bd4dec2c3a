"""A batch of toex.nominals messages applied to the store: in order, upserts between tombstones in one transaction."""

from __future__ import annotations

from tests.unit.test_nominal_import import nominal_json
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore
from toex_stream.application.nominal_import import AppliedMessage, InvalidNominalMessage, apply_nominal_messages


def outcomes(results: list) -> list[str]:
    return [r.outcome if isinstance(r, AppliedMessage) else "invalid" for r in results]


def test_a_batch_is_applied_in_order_and_again_changes_nothing(sqlite_store: SqlAlchemyNominalStore) -> None:
    batch = [
        (b"N-1", nominal_json("N-1"), "toex.nominals:0:1"),
        (b"N-2", nominal_json("N-2", phone="07700 900555"), "toex.nominals:0:2"),
        (b"N-9", nominal_json("N-1"), "toex.nominals:0:3"),  # key and value disagree: passed, changes nothing
        (b"N-1", None, "toex.nominals:0:4"),  # erases the N-1 stored just before it
        (b"N-3", nominal_json("N-3", phone="07700 900666"), "toex.nominals:0:5"),
        (b"N-3", None, "toex.nominals:0:6"),
        (b"N-3", nominal_json("N-3", phone="07700 900777"), "toex.nominals:0:7"),  # back after its tombstone
    ]

    results = apply_nominal_messages(sqlite_store, batch)

    assert outcomes(results) == ["upserted", "upserted", "invalid", "erased", "upserted", "erased", "upserted"]
    assert isinstance(results[2], InvalidNominalMessage) and "key differs" in str(results[2])
    assert sqlite_store.get_nominal("N-1") is None
    assert sqlite_store.get_nominal("N-3").phones == ["07700 900777"]
    assert [p.source_ref for p in sqlite_store.provenance_of("N-2")] == ["toex.nominals:0:2"]
    again = apply_nominal_messages(sqlite_store, batch[4:])
    assert outcomes(again) == ["upserted", "erased", "upserted"]
    assert outcomes(apply_nominal_messages(sqlite_store, batch[1:2])) == ["unchanged"]
    assert sqlite_store.count_nominals() == 2
