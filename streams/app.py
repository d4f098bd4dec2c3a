"""The Faust application, built from settings (never at import time)."""

from __future__ import annotations

import asyncio
import logging

import faust
from aiohttp import web

from streams import agents, topics
from streams.kafka_auth import broker_credentials
from streams.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from streams.runtime import OrderedTableManager, ToexApp
from streams.services import Services
from toex_stream.adapters.settings import Settings
from toex_stream.application.intake import Intake
from toex_stream.domain.clock import utc_now
from toex_stream.entry.web import HEALTH_ROUTE, INTAKE_ROUTES, add_health_route, add_intake_routes, served_routes

log = logging.getLogger(__name__)

APP_ID = topics.APP_ID

METRICS_ROUTE = ("GET", "/metrics")
# Everything the worker's port (TOEX_WEB_PORT) serves: the partner intake, health and metrics. The
# README's security notes list the same; the worker refuses to start if its router holds anything else.
WORKER_ROUTES = INTAKE_ROUTES | {HEALTH_ROUTE, METRICS_ROUTE}


class UnlistedRoutes(RuntimeError):
    """The worker's web app holds a route the allow-list does not name (or lacks one it names)."""


def check_routes(web_app: web.Application, expected: frozenset[tuple[str, str]]) -> None:
    """Raise :class:`UnlistedRoutes` unless ``web_app`` serves exactly ``expected``."""
    served = served_routes(web_app)
    if served != expected:
        raise UnlistedRoutes(f"the web port would serve {sorted(served - expected)} beyond its allow-list "
                             f"and lacks {sorted(expected - served)}; refusing to start")


def build_app(settings: Settings, services: Services, intake: Intake | None = None) -> faust.App:
    """The worker's app with every agent registered; nothing connects until it starts.

    The worker's web server (TOEX_WEB_PORT) serves :data:`WORKER_ROUTES` and
    nothing else: with ``intake``, the partner API and form (Faust's web server
    is an aiohttp application, ``app.web.web_app``, and the intake's routes
    carry their own guards, so they are added to it as they are to
    ``toex-stream intake serve``), ``/healthz`` and ``/metrics``.
    """
    app = ToexApp(
        APP_ID,
        broker=settings.faust_broker_url,
        broker_credentials=broker_credentials(services.kafka),
        # rocksdb keeps the tables' state (each nominal's scoring state and alert groups) on disk, beside
        # their changelogs.
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
        # Off here too, for anyone reading the settings; runtime.AllowListedWeb serves none of them anyway.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        # Recovery that seeks before the partitions are read again (streams/runtime.py).
        TableManager=OrderedTableManager,
    )
    agents.register(app, services)
    web_app = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's application
    expected = WORKER_ROUTES
    if intake is not None:
        add_intake_routes(web_app, intake, settings.intake_max_body_bytes)
    else:
        expected = frozenset({HEALTH_ROUTE, METRICS_ROUTE})
    add_health_route(web_app, ready=services.nominals_loaded.is_set)

    async def metrics(_request: web.Request) -> web.Response:
        backlog = await asyncio.to_thread(services.outbox.backlog, utc_now())
        # Rendered here, on the event loop where the agents change the models: no lock needed.
        return web.Response(body=services.metrics.render(services.scorer, backlog),
                            headers={"Content-Type": METRICS_CONTENT_TYPE})

    web_app.router.add_get(METRICS_ROUTE[1], metrics)

    async def refuse_unlisted(started: web.Application) -> None:
        check_routes(started, expected)
        log.info("web port %s serves %s", settings.web_port,
                 ", ".join(f"{method} {path}" for method, path in sorted(expected)))

    web_app.on_startup.append(refuse_unlisted)
    return app
