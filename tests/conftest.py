"""Fixtures shared by every test: example events and free ports."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

# The nominal-store fixtures (store, sqlite_store, postgres_url, postgres_database_url) for every test.
pytest_plugins = ["tests.store_fixtures", "tests.canary_logs"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def example(name: str) -> dict:
    """One of the example events in ``examples/``, decoded."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def referral() -> dict:
    return example("referral")


@pytest.fixture
def advert() -> dict:
    return example("advert")


@pytest.fixture
def intel() -> dict:
    return example("intel")
