"""``toex-stream dashboard serve``: the regional teams' dashboard, apart from the worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aiohttp import web

    from toex_stream.adapters.settings import Settings

dashboard_app = typer.Typer(help="The regional teams' dashboard: the queue, each alert's case, decisions.",
                            no_args_is_help=True)


def build_app(settings: Settings) -> web.Application:
    """The dashboard over the settings' database, routes file and Kafka."""
    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import EventReader
    from toex_stream.adapters.sql.casework import SqlCaseFiles
    from toex_stream.adapters.sql.outbox import Outbox
    from toex_stream.adapters.sql.store import build_engine, migrate
    from toex_stream.adapters.sql.users import Users
    from toex_stream.application.alert_lifecycle import AlertLifecycle
    from toex_stream.application.casework import Casework
    from toex_stream.domain.alerting.routes_file import load_routes
    from toex_stream.entry.cli_support import cli_audit_trail, feedback_publisher
    from toex_stream.entry.dashboard import build_dashboard_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    audit = cli_audit_trail(engine)
    lifecycle = AlertLifecycle(Outbox(engine), load_routes(settings.routes_file), feedback_publisher(settings),
                               audit=audit, public_url=settings.public_url)
    casework = Casework(SqlCaseFiles(engine), lifecycle, audit, EventReader(KafkaAccess.from_settings(settings)))
    return build_dashboard_app(settings, casework, Users(engine))


@dashboard_app.command("serve")
def dashboard_serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on; default TOEX_DASHBOARD_PORT (6070).")] = None,
) -> None:
    """Serve the dashboard: sign in with a `toex-stream users` account; each alert page opened is recorded."""
    from aiohttp import web

    from toex_stream.entry.cli_support import cli_settings, console

    settings = cli_settings()
    app = build_app(settings)
    listen = port or settings.dashboard_port
    console.print(f"dashboard at {settings.public_url or f'http://{settings.web_bind}:{listen}'}/ "
                  "(sign in with a `toex-stream users` account)")
    web.run_app(app, host=settings.web_bind, port=listen, print=None, access_log=None)
