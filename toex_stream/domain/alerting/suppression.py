"""Whether an alert is kept quiet: silences, set by people for a time (never over a critical one or a child).

A :class:`Silence` mutes the alerts whose labels agree with all its matchers
(``nominal_id``, ``region``, ``threat``), from when it starts until it ends;
:mod:`toex_stream.adapters.sql.silences` stores them.

Everything here is pure: the caller passes the time and the silences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from toex_stream.domain.alerting.routes import RoutingError

__all__ = ["MAX_SILENCE", "Silence", "silenced", "unsilenceable"]

#: The labels a silence can match on.
SilenceLabel = Literal["nominal_id", "region", "threat"]
#: The longest a silence may last: a team that needs longer sets another, and says why again.
MAX_SILENCE = dt.timedelta(days=7)
#: The score feature that says a referral in the last 30 days concerns a child.
CHILD_FEATURE = "referral_child"


@dataclass(frozen=True)
class Silence:
    """Mutes matching alerts from ``starts_at`` until ``ends_at``; says who set it and why.

    ``matchers`` are exact values of ``nominal_id``, ``region`` or ``threat``; all must agree.
    """

    silence_id: str
    matchers: dict[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str
    comment: str = ""
    ended_by: str | None = None  # who ended it before its time

    def __post_init__(self) -> None:
        allowed = get_args(SilenceLabel)
        if not self.matchers:
            raise RoutingError(f"silence {self.silence_id} has no matchers: it would mute every alert")
        unknown = sorted(set(self.matchers) - set(allowed))
        if unknown:
            raise RoutingError(f"silence {self.silence_id} matches on {unknown}; a silence matches on {allowed}")
        if any(not value for value in self.matchers.values()):
            raise RoutingError(f"silence {self.silence_id} has an empty matcher value")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise RoutingError(f"silence {self.silence_id}: starts_at and ends_at need a time zone (UTC)")
        if self.ends_at <= self.starts_at:
            raise RoutingError(f"silence {self.silence_id} ends ({self.ends_at}) before it starts ({self.starts_at})")
        if self.ends_at - self.starts_at > MAX_SILENCE:
            raise RoutingError(f"silence {self.silence_id} would last {self.ends_at - self.starts_at}; a silence "
                               f"lasts at most {MAX_SILENCE.days} days (set another when it ends)")
        if not self.created_by:
            raise RoutingError(f"silence {self.silence_id} needs created_by: who set it")

    def active(self, now: dt.datetime) -> bool:
        """Whether the silence is in force at ``now`` (from ``starts_at``, until but not at ``ends_at``)."""
        return self.starts_at <= now < self.ends_at


def unsilenceable(band: str, features: Mapping[str, float]) -> str | None:
    """Why no silence may mute an alert with this band and these score features, or None when one may.

    A critical alert, or one about a child, always reaches its team.

    >>> unsilenceable("critical", {}), unsilenceable("high", {"referral_child": 1.0}), unsilenceable("high", {})
    ('critical', 'a child', None)
    """
    if band == "critical":
        return "critical"
    if features.get(CHILD_FEATURE, 0.0) >= 1.0:
        return "a child"
    return None


def silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: dt.datetime | float) -> Silence | None:
    """The first silence in force at ``now`` whose matchers all agree with ``labels``; None if none does.

    ``now`` is an aware datetime or epoch seconds.
    """
    at = dt.datetime.fromtimestamp(now, dt.timezone.utc) if isinstance(now, (int, float)) else now
    for silence in silences:
        if silence.active(at) and all(labels.get(label) == value for label, value in silence.matchers.items()):
            return silence
    return None
