"""Match quality and speed against known links: what ``toex-stream eval match`` prints.

The events are streamed one at a time through :meth:`Matcher.decide`, the
code the match agent runs, and timed each.
"""

from __future__ import annotations

import csv
import resource
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from toex_stream.domain.errors import ToexError
from toex_stream.domain.matching.index import MatchDecision, Matcher
from toex_stream.domain.matching.records import MatchRecord, record_from_row


def read_person_csv(path: Path) -> Iterator[MatchRecord]:
    """Rows of a Person CSV as match records (the columns of DESIGN.md)."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or "record_id" not in reader.fieldnames:
            raise ToexError(f"{path}: not a Person CSV (no record_id column in the header)")
        for row in reader:
            yield record_from_row(row)


def read_links(path: Path) -> dict[str, str]:
    """event_record_id → nominal_record_id."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or not {"event_record_id", "nominal_record_id"} <= set(reader.fieldnames):
            raise ToexError(f"{path}: a truth file needs the columns event_record_id, nominal_record_id")
        return {row["event_record_id"]: row["nominal_record_id"] for row in reader}


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of already sorted values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate(
    nominals: Iterable[MatchRecord],
    events: list[MatchRecord],
    links: dict[str, str],
    *,
    train: bool = True,
    matcher: Matcher | None = None,
) -> tuple[dict[str, float | int | str], list[MatchDecision]]:
    """Load the nominals, optionally train on the events (unsupervised), decide each event in turn."""
    matcher = matcher or Matcher()
    started = time.perf_counter()
    matcher.load(nominals)
    build_s = time.perf_counter() - started
    if train:
        matcher.train(events)
    decisions, latencies = [], []
    started = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        decisions.append(matcher.decide(event))
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    matched = [d for d in decisions if d.decision == "match"]
    true_positives = sum(1 for d in matched if links.get(d.mention_id) == d.nominal_id)
    relevant = sum(1 for e in events if e.record_id in links)
    precision = true_positives / len(matched) if matched else 1.0
    recall = true_positives / relevant if relevant else 1.0
    possible = [d for d in decisions if d.decision == "possible_match"]
    report: dict[str, float | int | str] = {
        "nominals": len(matcher.index),
        "events": len(events),
        "true_links": relevant,
        "matches": len(matched),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0,
        "possible_matches": len(possible),
        "possible_matches_right": sum(1 for d in possible if links.get(d.mention_id) == d.nominal_id),
        "events_per_second": round(len(events) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "index_build_seconds": round(build_s, 3),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "model_version": matcher.model_version,
        "match_rate": round(matcher.model.match_rate, 4),
    }
    return report, decisions
