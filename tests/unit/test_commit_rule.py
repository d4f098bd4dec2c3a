"""The commit rule without a broker: nothing is committed past an offset no agent processed in this generation."""

from __future__ import annotations

from toex_stream.domain.commit_rule import CommitLedger

TP = ("toex.referrals", 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ledger_at(baseline: int, generation: int = 5, clock: Clock | None = None) -> CommitLedger:
    ledger = CommitLedger(clock=clock or Clock())
    ledger.assign(TP, generation)
    ledger.set_baseline(TP, baseline, generation)
    return ledger


def test_a_missing_head_offset_commits_nothing_where_stock_faust_commits_past_it() -> None:
    ledger = ledger_at(77)
    ledger.processed(TP, 78, generation=5)
    assert ledger.committable(TP) is None, "stock Faust commits 79 here, passing the missing 77"
    ledger.processed(TP, 77, generation=5)
    assert ledger.committable(TP) == 79


def test_the_same_on_a_partition_whose_committed_offset_is_zero() -> None:
    ledger = ledger_at(0)
    ledger.processed(TP, 1, generation=5)
    assert ledger.committable(TP) is None, "0 is an offset, not 'no commit'"
    ledger.processed(TP, 0, generation=5)
    assert ledger.committable(TP) == 2


def test_an_ack_after_revoke_commits_nothing() -> None:
    ledger = ledger_at(10)
    ledger.revoke(TP)
    assert ledger.processed(TP, 10, generation=5) is False
    assert ledger.committable(TP) is None


def test_no_baseline_commits_nothing() -> None:
    ledger = CommitLedger(clock=Clock())
    ledger.assign(TP, generation=5)
    assert ledger.processed(TP, 0, generation=5) is False
    assert ledger.committable(TP) is None
    assert ledger.processed(("other", 1), 0, generation=5) is False


def test_a_record_fetched_in_another_generation_counts_for_nothing() -> None:
    ledger = ledger_at(10, generation=6)
    assert ledger.processed(TP, 10, generation=5) is False
    assert ledger.committable(TP) is None


def test_the_commit_moves_once_and_only_forward() -> None:
    ledger = ledger_at(10)
    for offset in (10, 11, 12):
        ledger.processed(TP, offset, generation=5)
    assert ledger.committable(TP) == 13
    ledger.committed(TP, 13)
    assert ledger.committable(TP) is None
    ledger.processed(TP, 11, generation=5)  # a duplicate after a seek back
    assert ledger.committable(TP) is None


def test_only_a_proven_gap_is_passed() -> None:
    ledger = ledger_at(10)
    ledger.processed(TP, 13, generation=5)
    assert ledger.uncommitted(TP) == 1
    ledger.prove_gap(TP, 10, 13)  # a probe of the log found the first record at 13
    assert ledger.committable(TP) == 14 and ledger.uncommitted(TP) == 0


def test_a_hole_behind_processed_records_is_healed_after_a_few_seconds_then_probed() -> None:
    clock = Clock()
    ledger = ledger_at(10, clock=clock)
    ledger.processed(TP, 11, generation=5)
    busy = lambda tp: False  # noqa: E731 - the agent is working: a hole is a hole all the same
    assert list(ledger.stalled({TP: 20}, busy)) == []
    clock.now += 2.5
    [stall] = ledger.stalled({TP: 20}, busy)
    assert (stall.offset, stall.reason, stall.probe) == (10, "hole", False)
    ledger.healing(TP)
    clock.now += 1
    assert list(ledger.stalled({TP: 20}, busy)) == [], "one seek at a time"
    clock.now += 5
    [again] = ledger.stalled({TP: 20}, busy)
    assert again.probe, "a seek that did not help is followed by a probe of the log"
    ledger.processed(TP, 10, generation=5)
    assert ledger.committable(TP) == 12 and list(ledger.stalled({TP: 20}, busy)) == []


def test_records_left_in_the_log_with_an_idle_agent_are_read_again() -> None:
    clock = Clock()
    ledger = ledger_at(10, clock=clock)
    ends = {TP: 15}
    assert list(ledger.stalled(ends, lambda tp: True)) == [], "just arrived: they may be on their way"
    clock.now += 9
    assert list(ledger.stalled(ends, lambda tp: False)) == [], "a busy agent may still reach them"
    [stall] = ledger.stalled(ends, lambda tp: True)
    assert (stall.offset, stall.reason) == (10, "idle")


def test_a_partition_quiet_for_minutes_is_not_stalled_the_moment_a_record_lands() -> None:
    """The heal fired as soon as a record reached a long-quiet partition (it was still on its way to the
    agent, between the fetch and the batch), so tests with sporadic traffic saw their outputs twice."""
    clock = Clock()
    ledger = ledger_at(10, clock=clock)
    clock.now += 300
    assert list(ledger.stalled({TP: 10}, lambda tp: True)) == [], "nothing left in the log"
    assert list(ledger.stalled({TP: 12}, lambda tp: True)) == [], "two records just landed"
    clock.now += 7
    assert list(ledger.stalled({TP: 12}, lambda tp: True)) == []
    ledger.processed(TP, 10, generation=5)
    clock.now += 7.5
    assert list(ledger.stalled({TP: 12}, lambda tp: True)) == [], "progress 7.5 s ago"
    clock.now += 1
    [stall] = ledger.stalled({TP: 12}, lambda tp: True)
    assert (stall.offset, stall.reason) == (11, "idle")
