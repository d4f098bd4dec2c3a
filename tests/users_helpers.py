"""Acting as a user in a test: the user added to the test's database, then a real `toex-stream login`.

There is no bypass in the code under test: :func:`signed_in` adds the user
with a password (unless they exist already, as in the integration session's
shared database), runs ``toex-stream login NAME --password-stdin`` in-process,
and returns the environment whose ``TOEX_SESSION_FILE`` holds the session.
Commands run with that environment act as that user.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from typer.testing import CliRunner

from toex_stream.adapters.settings import Settings, load_settings
from toex_stream.adapters.sql.store import build_engine, migrate
from toex_stream.adapters.sql.users import Users
from toex_stream.domain.access import Role, parse_scope

PASSWORD = "correct horse battery staple"


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a command run with ``env`` reads."""
    with mock.patch.dict(os.environ, env):
        return load_settings()


def add_user(env: dict[str, str], name: str, role: Role = "analyst", scope: str = "national", *,
             os_account: str | None = None) -> None:
    """Add ``name`` to ``env``'s database with :data:`PASSWORD`, unless a user of that name exists already."""
    engine = build_engine(settings_of(env))
    try:
        migrate(engine)
        users = Users(engine)
        existing = users.get(name)
        if existing is None:
            users.add(name, role, parse_scope(scope), password=PASSWORD, os_account=os_account)
        else:
            assert (existing.role, existing.scopes) == (role, parse_scope(scope)), f"{name} exists with another role"
    finally:
        engine.dispose()


def login(env: dict[str, str], name: str, password: str = PASSWORD):  # -> click.testing.Result
    """``toex-stream login NAME --password-stdin`` in-process, with ``env``."""
    from toex_stream.entry.cli import app

    return CliRunner().invoke(app, ["login", name, "--password-stdin"], input=password + "\n", env=env)


def signed_in(env: dict[str, str], session_file: Path, name: str, role: Role = "analyst",
              scope: str = "national") -> dict[str, str]:
    """``env`` with ``TOEX_SESSION_FILE`` signed in as ``name`` (added with ``role`` and ``scope`` if new)."""
    env = {**env, "TOEX_SESSION_FILE": str(session_file)}
    add_user(env, name, role, scope)
    result = login(env, name)
    assert result.exit_code == 0, f"login {name}: {result.output} {result.exception!r}"
    return env
