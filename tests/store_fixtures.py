"""Nominal-store fixtures: a throwaway PostgreSQL server, and a migrated store on SQLite or PostgreSQL.

``postgres_url`` starts PostgreSQL from the distribution's own binaries
(Debian: ``apt-get install postgresql``; ``/usr/lib/postgresql/*/bin``) on a
free port of 127.0.0.1 with a data folder of its own, once per session, unless
TOEX_TEST_POSTGRES_URL names a server to use instead (its user must be allowed
to create databases). When PostgreSQL cannot be started the tests fail with the
reason: they never skip.

``postgres_database_url`` is a fresh, empty database on that server for one
test. ``store`` is parametrised over both databases: each test gets a fresh,
migrated database (a file under tmp_path, or a new PostgreSQL database);
``store_engine`` is the same database before migration. ``sqlite_store`` is a
migrated SQLite store alone, for fast unit tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import free_port
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate

POSTGRES_URL_ENV = "TOEX_TEST_POSTGRES_URL"
POSTGRES_OS_USER = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(Exception):
    """The throwaway server could not be set up; the message says why and what to install."""


def _major_version(initdb: str) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin/initdb: the newest installed server is used."""
    version = Path(initdb).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _server_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH; "
        "install them (Debian: apt-get install -y postgresql) or set TOEX_TEST_POSTGRES_URL"
    )


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {POSTGRES_OS_USER!r} OS user to run PostgreSQL as; "
            "install the postgresql package, which creates it"
        ) from None


def _as_server_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: as root, run the server tools as the postgres user."""
    if os.geteuid() != 0:
        return command
    _server_account()
    return ["runuser", "-u", POSTGRES_OS_USER, "--", *command]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip()
        raise PostgresUnavailable(f"{what} failed (exit {result.returncode}): {output}")


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder, trusting local TCP connections, for one test session."""

    def __init__(self) -> None:
        self.bin = _server_binaries()
        self.port = free_port()
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="toex-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def start(self) -> str:
        """Create the cluster and start the server; the URL of its maintenance database."""
        if os.geteuid() == 0:
            account = _server_account()
            os.chown(self.root, account.pw_uid, account.pw_gid)
        _run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            "initdb",
        )  # fmt: skip
        self.resume()
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def resume(self) -> None:
        """Start the server on its cluster (again, after :meth:`halt`)."""
        # Durability is not wanted of a throwaway server: fsync off makes the tests faster.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run(
                [str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-l", str(self.log), "-w",
                 "-t", str(START_TIMEOUT_S), "-o", options],
                "pg_ctl start",
            )  # fmt: skip
        except PostgresUnavailable as exc:
            raise PostgresUnavailable(f"{exc}; server log: {self.log_tail()}") from None

    def halt(self) -> None:
        """Stop the server at once, as an outage would (every connection dropped), keeping its data."""
        _run([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"], "pg_ctl stop")

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return "(no server log)"
        return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                _as_server_user([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]),
                capture_output=True,
                timeout=START_TIMEOUT_S,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _shown(url: str) -> str:
    """The URL for a message: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _wait_until_connectable(server_url: str, timeout: float = 30.0) -> None:
    engine = create_engine(server_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except Exception as exc:  # any failure means "not yet", until the deadline
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"cannot connect to {_shown(server_url)}: {exc}") from None
                time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The SQLAlchemy URL (postgresql+psycopg://...) of a PostgreSQL server's maintenance database."""
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        try:
            _wait_until_connectable(external, timeout=10.0)
        except PostgresUnavailable as exc:
            pytest.fail(f"{POSTGRES_URL_ENV}: {exc}", pytrace=False)
        yield external
        return
    server: ThrowawayPostgres | None = None
    try:
        server = ThrowawayPostgres()
        url = server.start()
        _wait_until_connectable(url)
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as exc:
        if server is not None:
            server.stop()
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield url
    finally:
        server.stop()


def create_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"toex_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database made by :func:`create_database`, closing whatever is still connected to it."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_database_url(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database for one test, dropped afterwards."""
    database_url = create_database(postgres_url)
    yield database_url
    drop_database(postgres_url, database_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty (not migrated) database of each kind, as the composition root builds it."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'toex.sqlite3'}"
    else:
        database_url = request.getfixturevalue("postgres_database_url")
    engine = build_engine(Settings(database_url=database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def store(store_engine: Engine) -> SqlAlchemyNominalStore:
    """A migrated nominal store on a fresh database (SQLite and PostgreSQL)."""
    migrate(store_engine)
    return SqlAlchemyNominalStore(store_engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database on a fresh SQLite file, ``tmp_path / "toex.sqlite3"``: for fast unit tests."""
    engine = build_engine(Settings(database_url=f"sqlite:///{tmp_path / 'toex.sqlite3'}"))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_engine: Engine) -> SqlAlchemyNominalStore:
    """A migrated nominal store on a fresh SQLite file: for fast unit tests."""
    return SqlAlchemyNominalStore(sqlite_engine)
