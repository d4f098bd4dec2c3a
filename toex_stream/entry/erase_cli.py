"""``toex-stream erase NOMINAL_ID --reason``: erase one person from every store, in the admin's name.

What goes where, and in which order, is :mod:`toex_stream.application.erasure`'s.
"""

from __future__ import annotations

from typing import Annotated

import typer

from toex_stream.entry.cli_support import acting_user, cli_audit_trail, cli_database, cli_settings, console


def erase(
    nominal_id: Annotated[str, typer.Argument(help="The nominal to erase (a force's id or a provisional one).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the person is erased (logged in the s.62 log).")],
) -> None:
    """Erase one person from the database, toex.nominals and every worker's index and state; keep them out of
    the topics that delete by age (the erasure register) until retention has removed their events."""
    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import durable_producer
    from toex_stream.adapters.kafka_retention import NominalTombstones
    from toex_stream.adapters.sql.erasure import SqlErasureStore
    from toex_stream.application.erasure import erase_person
    from toex_stream.domain.clock import utc_now
    from toex_stream.domain.retention import load_retention

    user = acting_user("retention.manage")
    settings = cli_settings()
    engine = cli_database()
    tombstones = NominalTombstones(durable_producer(KafkaAccess.from_settings(settings)))
    report = erase_person(nominal_id, reason, user.name, SqlErasureStore(engine), tombstones,
                          cli_audit_trail(engine), load_retention(settings.retention_file), utc_now())
    rows = report.rows
    console.print(
        f"erased {nominal_id}{' (again: it had been erased before)' if report.again else ''}: "
        f"{rows.nominals} nominal rows, {rows.match_decisions} match decisions, {rows.alerts_deleted} alerts deleted, "
        f"{rows.alerts_changed} alerts about others too no longer name it, {rows.muted} muted records; "
        f"tombstone on toex.nominals; {len(report.entry.identifier_hashes)} identifiers in the erasure register "
        f"until {report.entry.keep_until.date().isoformat()}", highlight=False)
