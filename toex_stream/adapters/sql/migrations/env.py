"""Alembic environment of the toex-stream database: the nominal store, the alert outbox, silences,
the intake and the replay audit.

toex-stream runs it from code (``toex_stream.adapters.sql.store.migrate``),
handing over an open connection in ``config.attributes["connection"]``; no
alembic.ini is needed. To start a new revision, in Python from a checkout::

    from alembic import command
    from toex_stream.adapters.sql.store import alembic_config
    command.revision(alembic_config(), "what changes", rev_id="0007")  # the next free number

Both SQLite and PostgreSQL must run every revision: on SQLite, ALTER TABLE is
done in batch mode (copy and move), which ``render_as_batch`` turns on.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from toex_stream.adapters.sql import audit as s62  # noqa: F401 - and the s.62 log
from toex_stream.adapters.sql import erasure as erasure  # noqa: F401 - and the erasure register
from toex_stream.adapters.sql import intake_models as intake_models  # noqa: F401 - and the intake tables
from toex_stream.adapters.sql import outbox_models, silences  # noqa: F401 - register the alert tables on Base
from toex_stream.adapters.sql import replay_audit as audit  # noqa: F401 - and the replay audit table
from toex_stream.adapters.sql import users_models as users_models  # noqa: F401 - and the users and their sessions
from toex_stream.adapters.sql.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with -x url=... (a SQLAlchemy URL)")
    engine = create_engine(url)
    try:
        with engine.begin() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


# Alembic sets context.config before it runs this file. pytest --doctest-modules
# also imports it, outside any migration: then there is nothing to run.
if getattr(context, "config", None) is not None:
    run_migrations()
