"""``toex-stream replay``: re-run a past time range through the pipeline's core, silently, and report."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toex_stream.domain import contract
from toex_stream.domain.errors import ToexError

# Paragraphs as single lines: typer rewraps them to the terminal.
HELP = "\n\n".join([
    "Re-run a past time range of input events through the live pipeline's core (enrich, match, score, alert "
    "decision) in a sandbox, and write a report: per event the observation, the match decisions with their "
    "weights, the scores with their reasons and the alert decisions, then a summary (alerts by region and band).",
    "It runs as the signed-in user (`toex-stream login`), who needs the analyst or supervisor role and a national "
    "scope: the report holds every region's events.",
    "Nothing is sent: no message to any topic or channel, and nothing is written to the live database but one "
    "audit row (who, range, reason). The topics are read outside the live consumer groups, committing nothing.",
    "--from and --to are message timestamps: when each event reached Kafka (toex-stream's producers leave "
    "Kafka's CreateTime to the sending client), not the event's own submitted_at, observed_at or recorded_at. "
    "ISO 8601, e.g. 2026-11-25T14:00:00Z; a time without a zone is UTC; --to is inclusive.",
    "The sandbox matches against toex.nominals as it stood at --from (forces' nominals published during the "
    "range join when they arrive; provisional nominals are made by the replay itself). Scoring states and alert "
    "groups start empty at --from, unless --history replays an earlier stretch first (unreported) so that the "
    "nominals' history counts. Recorded silences apply, each checked at the message's timestamp. The same "
    "range with the same model and configuration gives the same report.",
])


def _progress_factory(console: Console) -> tuple[Progress, Callable[[str, int], Callable[[int], None]]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeRemainingColumn())
    bar = Progress(*columns, console=console, disable=not console.is_terminal)

    def task(what: str, total: int) -> Callable[[int], None]:
        task_id = bar.add_task(what, total=total, rate="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            bar.advance(task_id, n)
            done = bar.tasks[task_id].completed
            bar.update(task_id, rate=f"{done / max(time.perf_counter() - started, 1e-9):,.0f}/s")

        return advance

    return bar, task


@contextmanager
def _output(out: Path | None) -> Iterator[Console | None]:
    if out is None:
        yield None
        return
    from toex_stream.application.replay.report import open_private

    with open_private(out) as handle:
        yield Console(file=handle, width=200, soft_wrap=True)


def replay(
    from_: Annotated[str, typer.Option("--from", help="Start of the range (ISO 8601, UTC unless a zone is given).")],
    to: Annotated[str, typer.Option("--to", help="End of the range, inclusive.")],
    reason: Annotated[str, typer.Option(help="Why the replay is run: kept in the audit (required).")],
    out: Annotated[Path | None, typer.Option(help="The report: .jsonl or .csv (optional with --format table).")] = None,
    topics: Annotated[list[str] | None, typer.Option("--topics", help="Input topics to replay (repeatable); "
                                                     "default toex.referrals, toex.adverts and toex.intel.")] = None,
    profile: Annotated[Path | None, typer.Option(help="A profiles directory, or one profile YAML replacing "
                                                 "its threat's configured profile.")] = None,
    model: Annotated[str, typer.Option(help="current (the live checkpoint), cold, N (models after the first N "
                                       "examples on toex.training) or a version such as msht@v1/l25.")] = "current",
    routes: Annotated[Path | None, typer.Option(help="A routes YAML; default the configured routes.")] = None,
    format_: Annotated[str | None, typer.Option("--format", help="jsonl, csv or table; default from --out.")] = None,
    compare: Annotated[
        str | None,
        typer.Option(help="'live' (what the live system recorded for the same events) "
                          "or an earlier JSON lines report: lists what differs, and why."),
    ] = None,
    silences: Annotated[bool, typer.Option(help="Honour the recorded silences, each at the message's time.")] = True,
    history: Annotated[str | None, typer.Option(help="Replay this much before --from too (e.g. 30d, the scoring "
                                                "window), unreported, so the nominals' history counts.")] = None,
) -> None:
    from toex_stream.application.replay.kafka import parse_time
    from toex_stream.application.replay.report import (
        CollectingSink,
        CsvSink,
        JsonLinesSink,
        print_summary,
        print_tables,
        report_format,
    )
    from toex_stream.application.replay.run import ReplayRequest, run_replay
    from toex_stream.domain.alerting.routes import parse_duration
    from toex_stream.entry.cli_support import acting_user, console, err_console
    from toex_stream.entry.cli_support import cli_database as _database
    from toex_stream.entry.cli_support import cli_settings as _settings

    start, end = parse_time(from_, "--from"), parse_time(to, "--to")
    try:
        before = dt.timedelta(seconds=parse_duration(history)) if history else dt.timedelta(0)
    except ValueError as exc:
        raise ToexError(f"--history: {exc}") from None
    chosen = report_format(out, format_)
    if compare is not None and compare != "live" and not Path(compare).is_file():
        raise ToexError(f"--compare {compare}: write 'live' or the path of an earlier .jsonl report")
    # Who runs it is the signed-in user (audited): a replay's report holds every region's events.
    user = acting_user("replay")
    request = ReplayRequest(start=start, end=end, reason=reason, who=user.name,
                            topics=tuple(topics or contract.INPUT_TOPICS), model=model, profile=profile,
                            routes=routes, out=str(out or "-"), compare=compare, silences=silences, history=before)
    settings = _settings()
    engine = _database()
    bar, task = _progress_factory(err_console)
    if chosen == "table":
        collected = CollectingSink()
        with bar:
            result = run_replay(settings, request, engine, collected, progress=task)
        with _output(out) as file_console:
            print_tables(file_console or console, collected.events, collected.differences, result.summary)
    else:
        assert out is not None
        # Written as it goes, to a partial file renamed once complete: a failed replay leaves no report.
        from toex_stream.application.replay.report import open_private

        partial = out.with_name(out.name + ".partial")
        try:
            with open_private(partial) as handle:
                sink = JsonLinesSink(handle) if chosen == "jsonl" else CsvSink(handle, out)
                with bar:
                    result = run_replay(settings, request, engine, sink, progress=task)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(out)
        if isinstance(sink, CsvSink) and sink.differences_path is not None:
            console.print(f"differences in {sink.differences_path}")
    if chosen != "table" or out is not None:
        print_summary(console, result.summary)
    if result.differences is not None:
        console.print(f"{len(result.differences)} differences from {compare}")
    console.print(f"replay {result.audit_id} audited; report {out or 'above'}")


replay.__doc__ = HELP
