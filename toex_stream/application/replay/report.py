"""Writing a replay's report: JSON lines (everything), CSV (one row per event), or a table for the terminal.

A JSON lines report is a header line (``kind: replay``: range, topics, the
configuration and model versions), one line per event (``kind: event``), one
per difference when compared (``kind: difference``), and a summary line
(``kind: summary``). Keys are sorted and no line holds a wall-clock time, so
the same replay gives the same bytes.

The report may hold personal data (names, phones in the observations): it is
OFFICIAL-SENSITIVE, like the topics it was read from.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal, Protocol, TypeGuard, get_args

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toex_stream.application.replay.core import Record, canonical_json
from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.profiles import BAND_ORDER

Format = Literal["jsonl", "csv", "table"]
_SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv",
                                ".txt": "table"}

CSV_COLUMNS = [
    "timestamp", "topic", "partition", "offset", "key", "observation_id", "source", "occurred_at", "dead_letter",
    "mentions", "decisions", "nominal_ids", "scores", "top_band", "alerts", "suppressed",
]
DIFFERENCE_COLUMNS = ["what", "event", "mention_id", "nominal_id", "threat", "alert_id", "situation_id", "replay",
                      "recorded", "causes"]


def _is_format(name: str) -> TypeGuard[Format]:
    return name in get_args(Format)


class ReportError(ToexError):
    """The report cannot be written or read as asked."""


def report_format(out: Path | None, chosen: str | None) -> Format:
    """The format asked for, or the one ``out``'s suffix implies.

    >>> report_format(Path("r.csv"), None), report_format(None, "table"), report_format(Path("r.jsonl"), "csv")
    ('csv', 'table', 'csv')
    """
    if chosen is not None:
        if not _is_format(chosen):
            raise ReportError(f"--format {chosen!r}: choose jsonl, csv or table")
        if chosen != "table" and out is None:
            raise ReportError(f"--format {chosen} needs --out FILE")
        return chosen
    if out is None:
        raise ReportError("give --out FILE (.jsonl or .csv) or --format table")
    found = _SUFFIXES.get(out.suffix.lower())
    if found is None:
        raise ReportError(f"--out {out}: cannot tell the format from '{out.suffix}'; use .jsonl or .csv, or --format")
    return found


def read_report(path: Path) -> list[Record]:
    """The records of a JSON lines report written by an earlier replay."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReportError(f"cannot read the report {path}: {exc.strerror or exc}") from None
    try:
        records = [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not a JSON lines replay report (line {exc.lineno}: {exc.msg})") from None
    if not records or records[0].get("kind") != "replay":
        raise ReportError(f"{path} is not a replay report (written with --format jsonl)")
    return records


def _top_band(record: Record) -> str:
    bands = [s["band"] for s in record["scores"]]
    return max(bands, key=BAND_ORDER.index) if bands else ""


def csv_row(record: Record) -> dict[str, object]:
    """One event as a flat row: the main columns, several values joined with ';'."""
    event, observation = record["event"], record["observation"] or {}
    letter = record["dead_letter"]
    return {
        "timestamp": event["timestamp"], "topic": event["topic"], "partition": event["partition"],
        "offset": event["offset"], "key": event["key"], "observation_id": observation.get("observation_id", ""),
        "source": observation.get("source", ""), "occurred_at": observation.get("occurred_at", ""),
        "dead_letter": f"{letter['kind']}: {letter['reason']}" if letter else "",
        "mentions": len(record["matches"]),
        "decisions": ";".join(m["decision"] for m in record["matches"]),
        "nominal_ids": ";".join(m["nominal_id"] for m in record["matches"]),
        "scores": ";".join(f"{s['threat']}:{s['band']}:{s['risk_score']:.4f}" for s in record["scores"]),
        "top_band": _top_band(record),
        "alerts": ";".join(f"{a['alert_id']}:{a['action']}:{a['band']}:{a['region']}" for a in record["alerts"]),
        "suppressed": ";".join(f"{s['threat']}:{s['why']}" for s in record["suppressed"]),
    }


def _difference_row(difference: Record) -> dict[str, object]:
    row = {k: difference.get(k, "") for k in DIFFERENCE_COLUMNS}
    for side in ("replay", "recorded"):
        row[side] = json.dumps(difference.get(side), sort_keys=True)
    row["causes"] = ";".join(difference["causes"])
    return row


def open_private(path: Path) -> IO[str]:
    """Open ``path`` for writing, readable by its owner only (0600): a report holds personal data."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file that was there before keeps its mode otherwise
    return os.fdopen(descriptor, "w", newline="", encoding="utf-8")


class ReportSink(Protocol):
    """Where a replay's report goes, record by record: the header, each event, then differences and summary."""

    def header(self, record: Record) -> None: ...

    def event(self, record: Record) -> None: ...

    def finish(self, differences: list[Record] | None, summary: Record) -> None: ...


class CollectingSink:
    """Keeps every record in memory (for a table, a test or a benchmark)."""

    def __init__(self) -> None:
        self.header_record: Record = {}
        self.events: list[Record] = []
        self.differences: list[Record] | None = None
        self.summary: Record = {}

    def header(self, record: Record) -> None:
        self.header_record = record

    def event(self, record: Record) -> None:
        self.events.append(record)

    def finish(self, differences: list[Record] | None, summary: Record) -> None:
        self.differences, self.summary = differences, summary


class JsonLinesSink:
    """Each record written as it comes: a long range needs no memory for its report."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def _write(self, record: Record) -> None:
        self._handle.write(canonical_json(record) + "\n")

    def header(self, record: Record) -> None:
        self._write(record)

    def event(self, record: Record) -> None:
        self._write(record)

    def finish(self, differences: list[Record] | None, summary: Record) -> None:
        for difference in differences or []:
            self._write(difference)
        self._write(summary)


class CsvSink:
    """One row per event to ``path``; differences, when compared, to ``<stem>.differences.csv`` beside it."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self._writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        self._writer.writeheader()
        self.path = path
        self.differences_path: Path | None = None

    def header(self, record: Record) -> None:
        pass  # a CSV has one shape of row: the configuration is in the audit and the JSON lines report

    def event(self, record: Record) -> None:
        self._writer.writerow(csv_row(record))

    def finish(self, differences: list[Record] | None, summary: Record) -> None:
        if differences is None:
            return
        self.differences_path = self.path.with_name(f"{self.path.stem}.differences.csv")
        with open_private(self.differences_path) as handle:
            writer = csv.DictWriter(handle, fieldnames=DIFFERENCE_COLUMNS)
            writer.writeheader()
            writer.writerows(_difference_row(d) for d in differences)


def _event_rows(events: Iterable[Record]) -> Iterator[list[str]]:
    for record in events:
        row = csv_row(record)
        scores = "\n".join(f"{s['threat']} {s['band']} {s['risk_score']:.2f}: "
                           + (s["reasons"][0]["text"] if s["reasons"] else "") for s in record["scores"])
        alerts = "\n".join(f"{a['action']} {a['band']} {a['region']} {a['alert_id']}" for a in record["alerts"])
        yield [str(row["timestamp"]), str(row["observation_id"] or row["key"]), str(row["dead_letter"]),
               str(row["decisions"]), scores, alerts]


def print_tables(console: Console, events: list[Record], differences: list[Record] | None, summary: Record) -> None:
    """The report for a person at a terminal: events, differences when compared, and the summary."""
    table = Table(title="Replayed events")
    for column in ("received", "event", "dead letter", "decisions", "scores (top reason)", "alerts"):
        table.add_column(column)
    for row in _event_rows(events):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    if differences is not None:
        diff = Table(title=f"Differences ({len(differences)})")
        for column in ("what", "event", "threat", "replay", "recorded", "causes"):
            diff.add_column(column)
        for d in differences:
            diff.add_row(*(escape(str(x)) for x in (d["what"], d.get("mention_id") or d["event"], d.get("threat", ""),
                                                    json.dumps(d["replay"]), json.dumps(d["recorded"]),
                                                    ", ".join(d["causes"]))))
        console.print(diff)
    print_summary(console, summary)


def print_summary(console: Console, summary: Record) -> None:
    """The summary: events, dead letters, decisions, alerts by region and band."""
    console.print(escape(
        f"{summary['events']} events ({summary['dead_letters']} dead letters), match decisions "
        f"{summary['match_decisions']}, scores by band {summary['scores_by_band']}, "
        f"{summary['alert_decisions']} alert decisions on {summary['distinct_alerts']} alerts"
    ))
    if summary["alerts_by_region_and_band"]:
        table = Table(title="Alert decisions by region and band")
        table.add_column("region")
        for band in BAND_ORDER:
            table.add_column(band, justify="right")
        for region, counts in summary["alerts_by_region_and_band"].items():
            table.add_row(region, *(str(counts.get(band, 0)) for band in BAND_ORDER))
        console.print(table)
