"""The one wall clock: now, in UTC.

Stream decisions use event time (each event's own timestamp); this is for
what happens now (a row written, a message sent, a lease taken). Code that
must be tested at a given moment takes a clock argument defaulting to
:func:`utc_now`.

>>> utc_now().tzinfo
datetime.timezone.utc
"""

from __future__ import annotations

import datetime as dt


def utc_now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)
