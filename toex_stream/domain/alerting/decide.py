"""What an alert decision is: the action for one receiver's part in one alert, and what was kept quiet.

Situations make the decisions (:mod:`toex_stream.domain.situations.alerts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from toex_stream.domain import contract
from toex_stream.domain.alerting.grouping import Action
from toex_stream.domain.alerting.routes import RouteMatch
from toex_stream.domain.scoring.profiles import BAND_ORDER, ThreatProfile


@dataclass(frozen=True)
class AlertDecision:
    """One receiver's part in one alert: what to do, for which alert, and from when."""

    action: Action
    alert: contract.Alert
    route: RouteMatch
    notify_at: dt.datetime


@dataclass(frozen=True)
class Suppressed:
    route_path: str
    why: str  # "silenced by <id>"
    silence_id: str | None = None  # the silence that muted it


def alerting_bands(profile: ThreatProfile) -> frozenset[str]:
    """The bands at or above the profile's alert band."""
    return frozenset(BAND_ORDER[BAND_ORDER.index(profile.alert_band):])
