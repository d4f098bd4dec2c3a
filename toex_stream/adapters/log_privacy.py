"""Log records carry no identifiers: what looks like an email, a phone number or a postcode is redacted.

The code logs where and why (topic, partition, offset, ids it made), never a
value from an event; this is the net under that rule. It is applied as each
record is made (a log-record factory), so it holds for every logger and
handler, Faust's and aiokafka's included, and for the text of a logged
exception. Names cannot be told from other words by a pattern: keeping them
out is the code's job, and the canary tests check it.

>>> redact("no match for +44 7700 900123 or ada@example.org at SW1A 1AA")
'no match for [phone] or [email] at [postcode]'
>>> redact("offset 1234 of toex.referrals[2] from 2026-12-02 21:04:22 to 2026-12-03T00:00:00+00:00")
'offset 1234 of toex.referrals[2] from 2026-12-02 21:04:22 to 2026-12-03T00:00:00+00:00'
>>> redact("flush took 0.012345678901 (runtime=2.8123456789)")
'flush took 0.012345678901 (runtime=2.8123456789)'
"""

from __future__ import annotations

import logging
import re
from typing import Any

PATTERNS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # Ten digits or more, with the spaces, dashes and brackets numbers are written with; not an
    # ISO date or time (the replay's range, a receipt's time), not a decimal (a duration in seconds).
    (re.compile(r"(?<![\w@:.+-])(?!\d{4}-\d\d-\d\d)\+?\(?\d(?:[\d ()-]{8,}\d)(?![\w:]|\.\d)"), "[phone]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"), "[postcode]"),
)
_MARK = "_toex_redacted"


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: logging reports it when the record is emitted
        return
    record.msg, record.args = redact(message), ()  # a tuple: Faust's formatter wraps anything else in one
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_redaction() -> None:
    """Redact every log record this process makes from now on (once; calling it again changes nothing)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, _MARK, False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        return record

    setattr(redacting, _MARK, True)
    logging.setLogRecordFactory(redacting)
