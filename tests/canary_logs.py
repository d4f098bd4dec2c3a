"""Canary personal data in every test's logs: the suite fails if a log line or logged exception carries it.

The example events every fixture builds on (``examples/*.json``: Réka Kovács,
her phone, her address) and the store tests' nominal are the suite's planted
personal data; they flow through most tests. Each test's in-process log
records (message and exception text, every logger) are searched for them, and
so is the session worker's whole log when the session ends
(``tests/integration/conftest.py``). A test that logs a planted value on
purpose (the redaction's own tests) says so with ``@pytest.mark.logs_personal_data``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest

# The planted values, in the forms enrich and matching write them.
NEEDLES = ("Réka", "Kovács", "Kovacs", "KOVACS", "kovacs", "kovács", "07700 900123", "447700900123",
           "Example Road", "2003-04-17", "1994-03-12", "Reka.K@Example.com", "reka.k@example.com")


def leaks(text: str) -> list[str]:
    """The planted values ``text`` carries."""
    return [needle for needle in NEEDLES if needle in text]


class _Catcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is searched as it is
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1]))
        found = leaks(text)
        if found:
            self.found.append(f"{record.name} {record.levelname}: carries {found}")


@pytest.fixture(autouse=True)
def _no_planted_personal_data_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("logs_personal_data"):
        yield
        return
    catcher = _Catcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        yield
    finally:
        root.removeHandler(catcher)
    if catcher.found:
        pytest.fail("a log record carries planted personal data:\n" + "\n".join(catcher.found[:10]), pytrace=False)
