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
