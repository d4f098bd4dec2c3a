"""Grouping and the notification decision: which alerts are one, their stable ids, and what to send when.

An alert's route and the values of the route's ``group_by`` labels make its
group (:func:`group_key`); the group, the threat and the episode make its id
(:func:`alert_id_for`), so a restart or a replay gives the same id. After each
score, :func:`decide` says whether to open, update or repeat the group's
alert, and when the notification may go (the route's ``group_wait``,
``group_interval`` and ``repeat_interval``).

Everything here is pure: the situate agent keeps the :class:`GroupState` in a
table and the clock outside, and :func:`decide` says what to send and when.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from toex_stream.domain.alerting.routes import RouteMatch

__all__ = ["Action", "GroupState", "alert_id_for", "decide", "group_key"]

# "grow": a situation's alert grew without a reason to tell its team again (stored and published, not posted).
Action = Literal["open", "update", "repeat", "grow", "none"]


@dataclass
class GroupState:
    """What has been decided for one group (one route and group key); JSON-able through ``dataclasses.asdict``.

    ``last_notified_at`` is when the last notification was scheduled to go
    (``notify_at``): the outbox delivers it then or later, never not at all.
    ``closed`` is set by the lifecycle (an analyst closes the alert).
    """

    alert_id: str
    episode: int
    band: str
    first_at: float
    last_notified_at: float | None
    last_changed_at: float
    event_count: int
    closed: bool = False


def group_key(match: RouteMatch, labels: Mapping[str, str]) -> str:
    """The route path and the values of its ``group_by`` labels, in label order: one key per group.

    >>> from toex_stream.domain.alerting.routes import Receiver
    >>> route = RouteMatch("root/ERSOU", Receiver(name="log", kind="log"), ("nominal_id",), 30, 300, 14400)
    >>> group_key(route, {"nominal_id": "N-1", "band": "high"})
    'root/ERSOU{nominal_id=N-1}'
    """
    values = ",".join(f"{label}={labels.get(label, '')}" for label in sorted(match.group_by))
    return f"{match.route_path}{{{values}}}"


def alert_id_for(group_key: str, threat: str, episode: int) -> str:
    """A stable alert id: the same group, threat and episode give the same id, after a restart too.

    >>> alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1) == alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1)
    True
    >>> len(alert_id_for("root/ERSOU{nominal_id=N-1}", "msht", 1))
    26
    """
    digest = hashlib.sha256(f"{group_key}\x1f{threat}\x1f{episode}".encode()).hexdigest()
    return "alert-" + digest[:20]


def decide(
    state: GroupState | None,
    match: RouteMatch,
    labels: Mapping[str, str],
    band: str,
    event_count: int,
    now: float,
    alerting_bands: Collection[str],
) -> tuple[Action, GroupState | None, float]:
    """What to send for one group after a score, the group's new state, and when the notification may go.

    - no group, or a closed one: a band in ``alerting_bands`` opens the group (a
      closed one as a new episode, with a new alert id), to be sent after
      ``group_wait``; any other band gives ``"none"`` and the state unchanged
      (None when there was no group).
    - an open group whose band changed or whose event count grew: ``"open"``
      again while its first notification is still waiting (the pending one is
      replaced, same alert id, same time); otherwise ``"update"``, held to
      ``group_interval`` after the last notification (a still-pending update
      keeps its time: the two are one notification).
    - an open group with nothing new: ``"repeat"`` once ``repeat_interval`` has
      passed since the last notification, else ``"none"``.

    ``now`` and the returned time are epoch seconds. The decision depends on
    its arguments only: the caller stores the state and acts on the action.
    """
    threat = labels.get("threat", "")
    if state is None or state.closed:
        if band not in alerting_bands:
            return "none", state, now
        episode = 1 if state is None else state.episode + 1
        notify_at = now + match.group_wait_s
        opened = GroupState(
            alert_id=alert_id_for(group_key(match, labels), threat, episode),
            episode=episode,
            band=band,
            first_at=now,
            last_notified_at=notify_at,
            last_changed_at=now,
            event_count=event_count,
            closed=False,
        )
        return "open", opened, notify_at

    changed = band != state.band or event_count > state.event_count
    last = state.last_notified_at if state.last_notified_at is not None else state.first_at + match.group_wait_s
    if changed:
        if now < state.first_at + match.group_wait_s:
            action: Action = "open"
            notify_at = state.first_at + match.group_wait_s
        else:
            action = "update"
            notify_at = last if now < last else max(now, last + match.group_interval_s)
        new = dataclasses.replace(
            state, band=band, event_count=event_count, last_changed_at=now, last_notified_at=notify_at
        )
        return action, new, notify_at
    # A lower count (old events leaving the 30-day window) is kept so that a later rise is measured from it.
    kept = dataclasses.replace(state, event_count=event_count) if event_count != state.event_count else state
    if now >= last + match.repeat_interval_s:
        return "repeat", dataclasses.replace(kept, last_notified_at=now), now
    return "none", kept, now
