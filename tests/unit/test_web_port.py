"""What the worker's web port serves, checked from its router without a broker, and the README that says so."""

from __future__ import annotations

import re
from pathlib import Path

import faust
import pytest

from streams.__main__ import build_worker_app
from streams.app import WORKER_ROUTES, UnlistedRoutes, check_routes
from toex_stream.adapters.settings import Settings
from toex_stream.entry.web import served_routes

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'toex.sqlite3'}")


def started_web(app: faust.App) -> faust.web.Web:
    """The app's web server with its blueprints applied, as the worker's start applies them."""
    app.web.init_server()
    return app.web


def test_the_worker_router_holds_exactly_the_allow_list(settings: Settings) -> None:
    web_app = started_web(build_worker_app(settings)).web_app
    assert served_routes(web_app) == WORKER_ROUTES
    check_routes(web_app, WORKER_ROUTES)


def test_the_guard_refuses_what_stock_faust_would_serve(settings: Settings) -> None:
    """Faust's own app serves its table, router and statistics views; the start-up check refuses them.

    This also fails if a Faust release changes how it picks its views in a way our web class misses.
    """
    stock = faust.App("stock", broker="kafka://127.0.0.1:1", web_port=1, datadir=str(settings.data_dir / "faust"))
    served = served_routes(started_web(stock).web_app)
    assert {"/table/", "/router/"} <= {path for _method, path in served}
    with pytest.raises(UnlistedRoutes, match="/table/"):
        check_routes(started_web(stock).web_app, WORKER_ROUTES)


def test_the_readme_security_notes_list_every_route_the_port_serves() -> None:
    section = README.read_text(encoding="utf-8").split("## Security", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(GET|POST) (/[^`]*)`", section))
    assert listed == set(WORKER_ROUTES)
