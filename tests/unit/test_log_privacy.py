"""The net under "no personal data in logs": identifiers are redacted as each log record is made."""

from __future__ import annotations

import io
import logging

import pytest

from toex_stream.adapters.log_privacy import install_redaction

CANARY_PHONE = "07700 900461"
CANARY_EMAIL = "zebedee.canary@example.org"


@pytest.fixture
def captured() -> io.StringIO:
    factory = logging.getLogRecordFactory()
    install_redaction()
    install_redaction()  # once is enough; twice changes nothing
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("toex_stream.test_log_privacy")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logging.setLogRecordFactory(factory)


def test_identifiers_in_a_message_its_arguments_and_its_exception_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("toex_stream.test_log_privacy")
    log.info("could not parse %s for %s", CANARY_PHONE, CANARY_EMAIL)
    try:
        raise ValueError(f"bad contact {CANARY_EMAIL} / {CANARY_PHONE} at B1 1AA")
    except ValueError:
        log.exception("failed at offset %d", 1234)
    text = captured.getvalue()
    assert CANARY_PHONE not in text and CANARY_EMAIL not in text and "B1 1AA" not in text
    assert "could not parse [phone] for [email]" in text
    assert "failed at offset 1234" in text and "ValueError: bad contact [email] / [phone] at [postcode]" in text
