"""The commit rule: no offset is committed past one that was not processed in this generation.

Kafka stores one committed offset per partition: the next offset the group
will read. Committing it says "everything before this is done". Stock
faust-streaming can commit past a record no agent processed (it acknowledges
messages it skips in a rebalance, fills offset gaps it inferred itself, and
lets one missing offset through at the head), and records wiped from an
agent's queue in a rebalance are tracked by nobody. An event about a person in
danger must never vanish that way, so the worker keeps its own ledger:

- when a partition is assigned and sought, its **baseline** is set: the
  committed offset, or the start of the log when the group has none;
- an agent reports each record it has **processed** (outputs sent, rows
  written), with the generation it was fetched in; a report from another
  generation, or before the baseline is set, counts for nothing;
- the **committable** offset advances only through offsets contiguous from
  the baseline: processed ones, and gaps **proven** to hold no record (a probe
  of the log found the next record further on: transaction markers,
  compaction);
- a partition whose next offset stays missing (later ones processed, or the
  agent idle with records left in the log) is **stalled**: the worker seeks
  it back to that offset, so a hole costs a few duplicates, which the agents
  tolerate, instead of an event lost or left unread until the next rebalance.

Pure: no Kafka, no Faust. ``tp`` is any hashable partition name.

>>> ledger: CommitLedger[str] = CommitLedger(clock=lambda: 0.0)
>>> ledger.assign("t/0", generation=3); ledger.set_baseline("t/0", 77, generation=3)
>>> ledger.processed("t/0", 78, generation=3), ledger.committable("t/0")
(True, None)
>>> ledger.processed("t/0", 77, generation=3), ledger.committable("t/0")
(True, 79)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

TP = TypeVar("TP", bound=Hashable)


@dataclass
class _Partition:
    generation: int
    baseline: int | None = None
    next: int = 0  # the first offset not yet processed: what a commit would store
    last_committed: int | None = None
    done: set[int] = field(default_factory=set)  # processed offsets beyond ``next``
    gaps: list[tuple[int, int]] = field(default_factory=list)  # proven empty [start, end)
    progressed_at: float = 0.0
    # When records were first seen waiting beyond ``next`` (None: none waiting). A partition quiet for
    # minutes is not stalled the moment a record lands: the record may still be on its way to the agent.
    pending_since: float | None = None
    hole_since: float | None = None
    heals: int = 0
    healed_at: float | None = None


@dataclass(frozen=True)
class Stall(Generic[TP]):
    """A partition to seek back to ``offset``; ``probe`` once a seek alone has not helped."""

    tp: TP
    offset: int
    reason: str  # "hole": later offsets processed; "idle": records left, nothing arriving
    probe: bool


class CommitLedger(Generic[TP]):
    """Per partition, what this worker has processed in the current generation, and what may be committed.

    ``hole_after_s``: how long a missing offset with later ones processed is
    tolerated before a seek; ``idle_after_s``: how long a partition with
    records left in the log may make no progress while its agent is idle;
    ``retry_after_s``: the least time between two seeks of one partition.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, hole_after_s: float = 2.0,
                 idle_after_s: float = 8.0, retry_after_s: float = 5.0) -> None:
        self._clock = clock
        self.hole_after_s = hole_after_s
        self.idle_after_s = idle_after_s
        self.retry_after_s = retry_after_s
        self._partitions: dict[TP, _Partition] = {}

    # -- the rebalance protocol ------------------------------------------------------------------

    def assign(self, tp: TP, generation: int) -> None:
        """``tp`` is ours in ``generation``; nothing counts until its baseline is set."""
        self._partitions[tp] = _Partition(generation=generation)

    def set_baseline(self, tp: TP, offset: int, generation: int) -> None:
        """The consumer was sought to ``offset`` (committed, or log start): processing starts there."""
        part = self._partitions.get(tp)
        if part is None or part.generation != generation:
            return
        now = self._clock()
        part.baseline = part.next = offset
        part.last_committed = offset
        part.done.clear()
        part.progressed_at = now
        part.hole_since = None

    def revoke(self, tp: TP) -> None:
        """``tp`` is no longer ours: later reports about it count for nothing."""
        self._partitions.pop(tp, None)

    def partitions(self) -> list[TP]:
        return [tp for tp, part in self._partitions.items() if part.baseline is not None]

    # -- processing ---------------------------------------------------------------------------------

    def processed(self, tp: TP, offset: int, generation: int | None) -> bool:
        """Record that the record at ``offset`` was processed; False when it does not count."""
        part = self._partitions.get(tp)
        if part is None or part.baseline is None or generation != part.generation:
            return False
        if offset < part.next:
            return True  # a duplicate of something already counted
        part.done.add(offset)
        self._advance(part)
        return True

    def prove_gap(self, tp: TP, start: int, end: int) -> None:
        """Offsets ``start`` to ``end - 1`` hold no record (the log was read there): they need no processing."""
        part = self._partitions.get(tp)
        if part is None or part.baseline is None or end <= start:
            return
        part.gaps.append((start, end))
        self._advance(part)

    def _advance(self, part: _Partition) -> None:
        before = part.next
        moved = True
        while moved:
            moved = False
            if part.next in part.done:
                part.done.discard(part.next)
                part.next += 1
                moved = True
            for start, end in part.gaps:
                if start <= part.next < end:
                    part.next = end
                    moved = True
        part.gaps = [(start, end) for start, end in part.gaps if end > part.next]
        now = self._clock()
        if part.next != before:
            part.progressed_at = now
            part.heals = 0
        if part.done:
            if part.hole_since is None or part.next != before:
                part.hole_since = now
        else:
            part.hole_since = None

    # -- committing ----------------------------------------------------------------------------------

    def committable(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` now, or None when the commit would not move forward."""
        part = self._partitions.get(tp)
        if part is None or part.baseline is None:
            return None
        if part.last_committed is not None and part.next <= part.last_committed:
            return None
        return part.next

    def committed(self, tp: TP, offset: int) -> None:
        """The broker stored ``offset`` for ``tp``."""
        part = self._partitions.get(tp)
        if part is not None and part.baseline is not None:
            part.last_committed = max(offset, part.last_committed or 0)

    def uncommitted(self, tp: TP) -> int:
        """Processed records the commit cannot yet cover (they wait behind a missing offset)."""
        part = self._partitions.get(tp)
        return len(part.done) if part is not None else 0

    def next_offset(self, tp: TP) -> int | None:
        part = self._partitions.get(tp)
        return None if part is None or part.baseline is None else part.next

    # -- healing -------------------------------------------------------------------------------------

    def stalled(self, log_ends: Mapping[TP, int], idle: Callable[[TP], bool]) -> Iterator[Stall[TP]]:
        """Partitions to seek back now: a hole behind processed records, or an idle agent with records left."""
        now = self._clock()
        for tp, part in self._partitions.items():
            if part.baseline is None:
                continue
            if part.healed_at is not None and now - part.healed_at < self.retry_after_s:
                continue
            if part.done and part.hole_since is not None and now - part.hole_since >= self.hole_after_s:
                yield Stall(tp, part.next, "hole", probe=part.heals >= 1)
            elif log_ends.get(tp, 0) > part.next:
                if part.pending_since is None:
                    part.pending_since = now
                waiting = now - max(part.progressed_at, part.pending_since)
                if waiting >= self.idle_after_s and idle(tp):
                    yield Stall(tp, part.next, "idle", probe=part.heals >= 1)
            else:
                part.pending_since = None

    def healing(self, tp: TP) -> None:
        """A seek back to the partition's next offset was made."""
        part = self._partitions.get(tp)
        if part is not None:
            part.heals += 1
            part.healed_at = self._clock()
