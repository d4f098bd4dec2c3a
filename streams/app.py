"""The Faust application, built from settings (never at import time)."""

from __future__ import annotations

import faust

from streams import agents
from streams.agents import Services
from toex_stream.intake.service import Intake
from toex_stream.intake.web import add_intake_routes
from toex_stream.settings import Settings

APP_ID = "toex-stream"


def build_app(settings: Settings, services: Services, intake: Intake | None = None) -> faust.App:
    """The worker's app with every agent registered; nothing connects until it starts.

    With ``intake``, the worker's web server (TOEX_WEB_PORT) also serves the
    partner API and form: Faust's web server is an aiohttp application
    (``app.web.web_app``), and the intake's routes carry their own guards, so
    they are added to it as they are to ``toex-stream intake serve``.
    """
    app = faust.App(
        APP_ID,
        broker=settings.faust_broker_url,
        # rocksdb keeps table state on disk beside a changelog; tables arrive with scoring.
        store="rocksdb://",
        datadir=str((settings.data_dir / "faust").resolve()),
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # A worker that dies hands its partitions on within seconds, not Faust's default minute:
        # alerts wait on it.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host=settings.web_bind,
    )
    agents.register(app, services)
    if intake is not None:
        add_intake_routes(app.web.web_app, intake, settings.intake_max_body_bytes)
    return app
