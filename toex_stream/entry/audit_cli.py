"""``toex-stream audit``: prove the s.62 log is whole, and give the data protection officer a copy."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.errors import ToexError
from toex_stream.entry.cli_support import acting_user, cli_audit_trail, cli_database, cli_settings, console

audit_app = typer.Typer(
    help="The s.62 log (DPA 2018 Part 3): who collected, read, changed, disclosed, combined or erased "
    "personal data, when and why.",
    no_args_is_help=True,
)


def _day(value: str, option: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ToexError(f"{option} {value!r} is not a date or time; write it as 2026-12-01 or "
                        "2026-12-01T09:30") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every entry's hash and link, and the head kept outside the database; exit 1 on any problem."""
    from toex_stream.adapters.sql.audit import verify

    settings = cli_settings()
    result = verify(cli_database(), settings.audit_head_path)
    if not result.ok:
        raise ToexError(f"the audit log does not verify ({result.checked} entries read):\n"
                        + "\n".join(f"  {problem}" for problem in result.problems))
    head = f"; head {result.head.seq} {result.head.hash[:16]}…" if result.head else ""
    console.print(f"the audit log verifies: {result.checked} entries, unbroken{head}")


@audit_app.command("export")
def audit_export(
    start: Annotated[str, typer.Option("--from", help="First day (or time, UTC) to include, e.g. 2026-12-01.")],
    end: Annotated[str, typer.Option("--to", help="Day (or time) to stop before, e.g. 2026-12-08.")],
    reason: Annotated[str, typer.Option(help="Why it is exported (kept in the log).")],
    out: Annotated[Path, typer.Option(help="JSON lines file to write (created 0600).")],
) -> None:
    """Write the entries between --from and --to as JSON lines, with their hashes; the export is itself logged."""
    from toex_stream.adapters.sql.audit import entries

    user = acting_user("audit.manage")
    since, until = _day(start, "--from"), _day(end, "--to")
    if until <= since:
        raise ToexError("--to must be after --from")
    if not reason.strip():
        raise ToexError("--reason must say why the log is exported")
    engine = cli_database()
    trail = cli_audit_trail(engine)
    # Logged before a line is written: an export that fails halfway was still a disclosure attempt.
    trail.record(AuditRecord("disclosure", "audit.export", user.name, "audit",
                             f"entries from {since.isoformat()} to {until.isoformat()} to a file", reason.strip()))
    written = 0
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for entry in entries(engine, start=since, end=until):
            record = entry.record
            assert record.at is not None
            handle.write(json.dumps({
                "seq": entry.seq, "at": record.at.isoformat(), "category": record.category,
                "action": record.action, "actor": record.actor, "subject": record.subject, "what": record.what,
                "why": record.why, "prev_hash": entry.prev_hash, "hash": entry.hash,
            }, ensure_ascii=False) + "\n")
            written += 1
    console.print(f"wrote {written} entries to {out}")
