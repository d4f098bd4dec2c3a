"""The s.62 log: append-only and hash-chained; `audit verify` finds an edit, a deletion and a rewrite.

On SQLite and PostgreSQL (``store_engine``'s params), tampering done as an
attacker with database access would do it: plain SQL on the tables.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from toex_stream.adapters.sql.audit import SqlAuditTrail, append, entries, verify
from toex_stream.adapters.sql.store import migrate
from toex_stream.domain.audit import GENESIS, AuditError, AuditRecord, chain_hash


def _reads(n: int, actor: str = "analyst-9") -> list[AuditRecord]:
    return [AuditRecord("consultation", "alert.read", actor, f"A-{i}", "alert page", "assigned to me")
            for i in range(n)]


@pytest.fixture
def trail(store_engine: Engine, tmp_path: Path) -> SqlAuditTrail:
    migrate(store_engine)
    trail = SqlAuditTrail(store_engine, tmp_path / "head" / "audit-head.json")
    trail.record(*_reads(5))
    trail.record(AuditRecord("combination", "match.decide", "system:match", "N-1", "match, weight 14.2"))
    return trail


def test_an_untouched_chain_verifies_and_its_head_is_kept_outside(trail: SqlAuditTrail,
                                                                  store_engine: Engine) -> None:
    result = verify(store_engine, trail.head_file.path)

    assert result.ok, result.problems
    assert result.checked == 6
    assert trail.head_file.read() == result.head
    assert trail.head_file.path.stat().st_mode & 0o777 == 0o600


def test_a_person_must_give_a_reason_and_nothing_is_written_without_one(trail: SqlAuditTrail,
                                                                        store_engine: Engine) -> None:
    with pytest.raises(AuditError, match="must give a reason"):
        trail.record(AuditRecord("alteration", "alert.close", "analyst-9", "A-1", "closed: arrest"))

    assert [e.seq for e in entries(store_engine)] == [1, 2, 3, 4, 5, 6]


def test_an_edited_entry_is_found(trail: SqlAuditTrail, store_engine: Engine) -> None:
    with store_engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain SET why = 'routine' WHERE seq = 3"))

    result = verify(store_engine, trail.head_file.path)

    assert not result.ok
    assert any("entry 3 was changed" in p for p in result.problems), result.problems


def test_a_deleted_entry_in_the_middle_is_found(trail: SqlAuditTrail, store_engine: Engine) -> None:
    with store_engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain WHERE seq = 2"))

    problems = verify(store_engine, trail.head_file.path).problems

    assert any("entries 2 to 2 are missing" in p for p in problems), problems


def test_the_last_entries_deleted_with_the_head_row_moved_back_are_found(trail: SqlAuditTrail,
                                                                         store_engine: Engine) -> None:
    with store_engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_chain WHERE seq > 4"))
        kept = connection.execute(text("SELECT hash FROM audit_chain WHERE seq = 4")).scalar_one()
        connection.execute(text("UPDATE audit_chain_head SET seq = 4, hash = :h"), {"h": kept})

    problems = verify(store_engine, trail.head_file.path).problems

    assert any("the last entries were deleted" in p for p in problems), problems


def test_a_chain_rewritten_and_rehashed_end_to_end_is_found(trail: SqlAuditTrail, store_engine: Engine) -> None:
    # The attacker changes one entry and recomputes every hash after it, and the head row: the
    # database alone is consistent again; only the head kept outside tells.
    with store_engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain SET actor = 'someone-else', why = 'routine' WHERE seq = 2"))
    previous = GENESIS
    for entry in list(entries(store_engine)):
        digest = chain_hash(previous, entry.seq, entry.record)
        with store_engine.begin() as connection:
            connection.execute(text("UPDATE audit_chain SET prev_hash = :p, hash = :h WHERE seq = :s"),
                               {"p": previous, "h": digest, "s": entry.seq})
        previous = digest
    with store_engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": previous})

    problems = verify(store_engine, trail.head_file.path).problems

    assert problems == ["entry 6 is not the one the head kept outside recorded: the chain was rewritten"]


def test_writers_in_many_threads_make_one_unbroken_chain(trail: SqlAuditTrail, store_engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for _ in range(10):
                trail.record(*_reads(3, actor=f"system:worker-{worker}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    result = verify(store_engine, trail.head_file.path)
    assert result.ok, result.problems
    assert result.checked == 6 + 4 * 10 * 3


def test_entries_appended_in_a_callers_transaction_roll_back_with_it(trail: SqlAuditTrail,
                                                                    store_engine: Engine) -> None:
    with pytest.raises(RuntimeError), Session(store_engine) as session, session.begin():
        append(session, _reads(2))
        raise RuntimeError("the caller's work failed")

    assert verify(store_engine, trail.head_file.path).ok
    assert len(list(entries(store_engine, start=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)))) == 6
