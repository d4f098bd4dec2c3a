"""``toex-stream retention``: the retention policy in force, and deleting what it says is due.

``run`` is what the worker does every hour (``streams/retention.py``), for an
admin who wants it now, or to see first what would go (``--dry-run``). Each
deletion is logged in the s.62 log as an erasure, in the admin's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from toex_stream.entry.cli_support import acting_user, cli_audit_trail, cli_database, cli_settings, console

if TYPE_CHECKING:
    from toex_stream.application.retention import RetentionReport
    from toex_stream.domain.retention import RetentionCategory, RetentionPolicy

retention_app = typer.Typer(
    help="Keep nothing too long: the retention periods per category of data, and deleting what is due.",
    no_args_is_help=True,
)

# Where each database category is kept (the topics' categories are read from their specs).
_IN_DATABASE: dict[str, str] = {
    "provisional_nominals": "database: provisional nominals; toex.nominals (tombstone)",
    "match_decisions": "database: match decisions",
    "alerts": "database: alerts and their outbox messages",
    "outbox_payloads": "database: delivered chat messages' text",
    "receipts": "database: referral receipts",
}


def _policy() -> RetentionPolicy:
    from toex_stream.domain.retention import load_retention

    return load_retention(cli_settings().retention_file)


def _where(category: RetentionCategory) -> str:
    from toex_stream.adapters.topics import ALL

    places = [_IN_DATABASE[category]] if category in _IN_DATABASE else []
    topics = [spec.name for spec in ALL if spec.retention == category]
    if topics:
        places.append(", ".join(topics))
    return "; ".join(places)


@retention_app.command("show")
def retention_show() -> None:
    """The period of every category of data, where it is kept, and why."""
    from toex_stream.domain.retention import CATEGORIES

    policy = _policy()
    table = Table(title=f"retention ({policy.source})", show_lines=True, expand=True)
    table.add_column("category", no_wrap=True)
    table.add_column("kept", ratio=1)
    table.add_column("where", ratio=2)
    table.add_column("why", ratio=5)
    for category in CATEGORIES:
        period = policy.period(category)
        table.add_row(category, period.describe(), _where(category), period.reason)
    console.print(table)


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due; delete and log nothing.")] = False,
) -> None:
    """Delete from the database what the policy says is due; tombstone provisional nominals on toex.nominals."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import durable_producer
    from toex_stream.adapters.kafka_retention import NominalTombstones
    from toex_stream.adapters.sql.retention import SqlRetentionStore
    from toex_stream.application.retention import run_retention
    from toex_stream.domain.clock import utc_now

    user = acting_user("retention.manage")
    settings = cli_settings()
    policy = _policy()
    engine = cli_database()
    store, trail, now = SqlRetentionStore(engine), cli_audit_trail(engine), utc_now()
    tombstones = NominalTombstones(durable_producer(KafkaAccess.from_settings(settings)))
    due = run_retention(policy, store, tombstones, trail, now, dry_run=True)
    if dry_run or not due.total:
        _print(policy, due)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {category: progress.add_task(category, total=count) for category, count in due.counts.items()}
        report = run_retention(policy, store, tombstones, trail, now, actor=user.name,
                               progress=lambda category, done: progress.update(tasks[category], completed=done))
    _print(policy, report)


def _print(policy: RetentionPolicy, report: RetentionReport) -> None:
    from toex_stream.application.retention import topic_categories

    verb = "would delete" if report.dry_run else "deleted"
    table = Table(title=f"retention {'(dry run: nothing deleted)' if report.dry_run else 'run'}")
    for column in ("category", "kept", "last touched before", verb):
        table.add_column(column)
    for category, count in report.counts.items():
        table.add_row(category, policy.period(category).describe(),
                      report.before[category].isoformat(timespec="seconds"), str(count))
    console.print(table)
    for category in topic_categories():
        console.print(f"{category}: on {_where(category)}, deleted by the broker after "
                      f"{policy.period(category).describe()} (retention.ms)")
