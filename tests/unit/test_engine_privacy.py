"""A failed statement's exception names no value: the values are personal data (issue 15, item 5)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.store import build_engine

CANARY = "Zebedee Canary-Okonkwo"


def test_an_integrity_error_names_no_value(tmp_path) -> None:
    engine = build_engine(Settings(data_dir=tmp_path))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE people (name TEXT PRIMARY KEY)"))
        connection.execute(text("INSERT INTO people VALUES (:name)"), {"name": CANARY})
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(text("INSERT INTO people VALUES (:name)"), {"name": CANARY})
    assert "people" in str(raised.value)  # the statement is there, for the operator
    assert CANARY not in str(raised.value) and CANARY not in repr(raised.value)


def test_a_password_written_into_the_database_url_is_kept_as_a_secret(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://toex:Canary-s3cret@db:5432/toex")
    assert "Canary-s3cret" not in settings.database_url
    assert "Canary-s3cret" not in repr(settings) and "Canary-s3cret" not in str(settings.model_dump())
    assert settings.database_url_with_password() == "postgresql+psycopg://toex:Canary-s3cret@db:5432/toex"
    # A child process given the settings' environment connects with the same password.
    from toex_stream.adapters.settings import settings_env

    env = settings_env(settings)
    assert "Canary-s3cret" not in env["TOEX_DATABASE_URL"] and env["TOEX_DATABASE_PASSWORD"] == "Canary-s3cret"
