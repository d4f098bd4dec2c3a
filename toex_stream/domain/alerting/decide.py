"""From a score to alert decisions: route it, drop what is silenced or inhibited, group, and build the Alert.

The pipeline's decide step, which the alert agent and replay both run, calls
:func:`nominal_alert_decisions`. The groups of one nominal (``NominalGroups``, a
JSON-able dict kept in a Faust table keyed by nominal, like the scoring states)
are the only state; everything else is an argument, so the same scores give
the same decisions and the same alert ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from toex_stream.domain import contract
from toex_stream.domain.alerting.grouping import Action, GroupState, decide, group_key
from toex_stream.domain.alerting.routes import RouteMatch, RoutingConfig, labels_of
from toex_stream.domain.alerting.suppression import Silence, inhibited, silenced, unsilenceable
from toex_stream.domain.scoring.profiles import BAND_ORDER, ThreatProfile

NominalGroups = dict[str, dict[str, Any]]  # group key -> GroupState as a dict, plus its labels


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
    why: str  # "silenced by <id>" or "inhibited"
    silence_id: str | None = None  # the silence that muted it


def alerting_bands(profile: ThreatProfile) -> frozenset[str]:
    """The bands at or above the profile's alert band."""
    return frozenset(BAND_ORDER[BAND_ORDER.index(profile.alert_band):])


def _active_labels(groups: NominalGroups) -> list[Mapping[str, str]]:
    return [g["labels"] | {"band": g["state"]["band"]} for g in groups.values() if not g["state"]["closed"]]


def _alert(score: contract.Score, state: GroupState) -> contract.Alert:
    return contract.Alert(
        schema_version=1,
        alert_id=state.alert_id,
        created_at=dt.datetime.fromtimestamp(state.first_at, dt.timezone.utc),
        region=score.region,
        force_code=score.force_code,
        threat=score.threat,
        band=score.band,
        risk_score=score.risk_score,
        nominal_ids=[score.nominal_id],
        event_refs=[score.event_ref],
        reasons=list(score.reasons),
        model_version=score.model_version,
        status="open",
    )


def alert_decisions(
    score: contract.Score,
    groups: NominalGroups,
    routes: RoutingConfig,
    profiles: Mapping[str, ThreatProfile],
    silences: Iterable[Silence] = (),
    silence_time: dt.datetime | None = None,
) -> tuple[list[AlertDecision], list[Suppressed]]:
    """Decide, for every route the score matches, whether to open, update, repeat or stay quiet.

    ``groups`` (this nominal's) is updated in place. Time is the score's event
    time, so a replay decides as the live stream did; silences are set by
    people in wall-clock time, so the live agent passes ``silence_time`` (now).
    """
    profile = profiles.get(score.threat)
    if profile is None:
        return [], []
    labels = labels_of(score)
    now = score.occurred_at.timestamp()
    silences = list(silences)
    decisions: list[AlertDecision] = []
    suppressed: list[Suppressed] = []
    loud = unsilenceable(score.band, score.features) is not None
    for match in routes.match(labels):
        silence = None if loud else silenced(labels, silences, silence_time or score.occurred_at)
        if silence is not None:
            suppressed.append(Suppressed(match.route_path, f"silenced by {silence.silence_id}", silence.silence_id))
            continue
        # One group per threat too: a nominal scored under two profiles has two alerts.
        key = f"{group_key(match, labels)}|{score.threat}"
        others = {k: g for k, g in groups.items() if k != key}
        if inhibited(labels, _active_labels(others), routes.inhibit_rules):
            suppressed.append(Suppressed(match.route_path, "inhibited"))
            continue
        stored = groups.get(key)
        state = GroupState(**stored["state"]) if stored else None
        action, new_state, notify_at = decide(
            state, match, labels, score.band, score.event_count, now, alerting_bands(profile)
        )
        if new_state is not None:
            groups[key] = {"state": dataclasses.asdict(new_state), "labels": dict(labels)}
        if action != "none" and new_state is not None:
            decisions.append(AlertDecision(
                action, _alert(score, new_state), match, dt.datetime.fromtimestamp(notify_at, dt.timezone.utc)
            ))
    return decisions, suppressed


def nominal_alert_decisions(
    score: contract.Score,
    groups_by_nominal: MutableMapping[str, NominalGroups],
    routes: RoutingConfig,
    profiles: Mapping[str, ThreatProfile],
    silences: Iterable[Silence] = (),
    silence_time: dt.datetime | None = None,
) -> tuple[list[AlertDecision], list[Suppressed]]:
    """:func:`alert_decisions` on the score's nominal's groups in ``groups_by_nominal``, put back updated.

    ``groups_by_nominal`` is the alert agent's Faust table or, in replay, a plain
    dict; the groups are copied and reassigned so a table's changelog records them.
    """
    groups = dict(groups_by_nominal.get(score.nominal_id) or {})
    decided = alert_decisions(score, groups, routes, profiles, silences, silence_time=silence_time)
    groups_by_nominal[score.nominal_id] = groups
    return decided


def close_groups(groups: NominalGroups, alert_id: str) -> bool:
    """Mark the group of a closed alert closed, so the next alerting score opens a new episode."""
    found = False
    for group in groups.values():
        if group["state"]["alert_id"] == alert_id:
            group["state"]["closed"] = True
            found = True
    return found
