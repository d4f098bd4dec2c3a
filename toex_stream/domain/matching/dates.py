"""Dates as records write them: ISO, British day-first, compact, or impossible.

>>> parse_date("1998-02-23"), parse_date("23/02/1998"), parse_date("19980223")
(datetime.date(1998, 2, 23), datetime.date(1998, 2, 23), datetime.date(1998, 2, 23))
>>> parse_date("1990-02-30") is None, parse_date("") is None, parse_date("unknown") is None
(True, True, True)
>>> day_month_swapped(datetime.date(1998, 2, 3), datetime.date(1998, 3, 2))
True
"""

from __future__ import annotations

import datetime
import re

_FORMATS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"), (3, 2, 1)),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), (1, 2, 3)),
)


class DateProblem(ValueError):
    """A date that cannot be read; the message says why, without the value."""


def read_date(text: str) -> datetime.date:
    """A calendar date from the common written forms (day first when slashed), or :class:`DateProblem`."""
    text = text.strip()
    for pattern, (y, m, d) in _FORMATS:
        match = pattern.match(text)
        if match:
            try:
                return datetime.date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                raise DateProblem("no such day in the calendar") from None
    raise DateProblem("not a date written YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD")


def parse_date(text: str) -> datetime.date | None:
    """A calendar date from the common written forms; None when absent or impossible."""
    try:
        return read_date(text)
    except DateProblem:
        return None


def day_month_swapped(a: datetime.date, b: datetime.date) -> bool:
    """Whether two different dates are the same with day and month exchanged."""
    return a != b and a.year == b.year and a.month == b.day and a.day == b.month
