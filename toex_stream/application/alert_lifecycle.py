"""The alert lifecycle: open an alert, acknowledge, assign and close it, and tell every channel that was sent it.

The situate agent opens (and updates) alerts with :func:`queue_alert`: the alert
stored, and its message queued for the route's receiver in that receiver's
form. Then one use case for every entry point: ``toex-stream alerts
ack|assign|close`` calls :class:`AlertLifecycle` (as a dashboard would), so a
change reaches each channel as the situate agent would have written it. The
receivers are the ones the alert was actually queued for: the agent stores, per outbox item, the receiver its
route named and the route's path. Each receiver's settings (its kind, and
whether it is cleared for personal data) are read from the routes file, as the
sender finds its notifier, never guessed from an earlier payload. So a Teams
channel gets the marked Adaptive Card, a channel cleared for it gets the
nominal ids, and the outbox version is in seconds, as the agent writes it.

Closing publishes the outcome on ``toex.feedback`` (one :class:`Feedback` per
nominal of the alert, keyed by that nominal, as the feedback agent requires)
through an injected :class:`FeedbackPublisher`, *before* the alert is closed:
when Kafka does not take it, nothing has changed and the analyst can try again.

>>> import datetime as dt
>>> from sqlalchemy import create_engine
>>> from toex_stream.adapters.sql.outbox import Outbox
>>> from toex_stream.domain.alerting.routes_file import load_routes
>>> from toex_stream.adapters.sql.models import Base
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine); outbox = Outbox(engine)
>>> at = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
>>> alert = Alert(schema_version=1, alert_id="A-1", created_at=at, region="ERSOU", threat="msht", band="high",
...               risk_score=0.8, nominal_ids=["N-1"], model_version="msht@v1/l0")
>>> outbox.save_alert(alert), outbox.enqueue("A-1", "slack-ersou", "post", 1793491200, {}, at, route="root/ERSOU")
(True, True)
>>> published = []
>>> an_hour_later = at + dt.timedelta(hours=1)
>>> lifecycle = AlertLifecycle(outbox, load_routes(), lambda key, feedback: published.append(key),
...                            clock=lambda: an_hour_later)
>>> lifecycle.close("A-1", outcome="safeguarded", by="analyst-9").updates_queued, published
(1, [b'N-1'])
>>> [update] = [item for item in outbox.items("A-1") if item.kind == "update"]
>>> update.version, update.payload["reply"]["text"]
(1793494800, '[OFFICIAL-SENSITIVE] Update on A-1: closed: safeguarded')
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from toex_stream.domain.alerting.messages import alert_link, render
from toex_stream.domain.alerting.routes import RoutingConfig, RoutingError
from toex_stream.domain.alerting.routes_file import RoutesFile
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import Alert, Feedback, Outcome
from toex_stream.domain.errors import ToexError
from toex_stream.ports.alerts import AlertQueue, AlertRecords, FeedbackPublisher
from toex_stream.ports.audit import AuditTrail

if TYPE_CHECKING:
    from toex_stream.domain.alerting.decide import AlertDecision
    from toex_stream.domain.contract import Score

__all__ = [
    "AlertLifecycle", "AlertNotFound", "AlertQueue", "AlertRecords", "FeedbackPublisher", "LifecycleChange",
    "feedback_key", "queue_alert",
]

log = logging.getLogger(__name__)

# Versions to try past the first when another change took it (two changes in one second, by two
# analysts at once): the outbox keeps one message per (alert, receiver, kind, version).
_VERSION_ATTEMPTS = 10


class AlertNotFound(ToexError):
    """An alert id that names no stored alert."""


def queue_alert(outbox: AlertQueue, decision: AlertDecision, score: Score, now: dt.datetime,
                public_url: str | None = None) -> None:
    """Store the alert a decision opened or changed, and queue its message for the route's receiver.

    The decision's time is event time; delivery waits the same delay from
    ``now``. A first post's version is its event time in seconds; an update's
    is the alert's own ``version`` (it rises once per event that changed the
    situation), so every change is queued once, and the same change decided
    again (a redelivery, a replay) is not queued twice. A grown alert is
    edited in place on Slack (no reply, so no one is notified) and not sent
    elsewhere. With ``public_url`` (the dashboard's address) the message links
    to the alert's page; the alert as stored and published does not carry it,
    so that a replay gives the same alerts whatever the deployment's address.
    """
    outbox.save_alert(decision.alert)
    receiver = decision.route.receiver
    if decision.action == "grow" and receiver.kind != "slack":
        return  # grown without a reason to tell the team again, and no card to edit: the record has it
    first = decision.action == "open"
    wait = max(0.0, (decision.notify_at - score.occurred_at).total_seconds())
    # Events arrive out of event-time order: a late one's wait would run to the last notification, days ahead.
    # The wait is the route's timing, never more.
    wait = min(wait, decision.route.group_wait_s if first else decision.route.group_interval_s)
    change = (None if decision.action == "open"
              else f"merged into {decision.alert.merged_into or 'another alert'}" if decision.alert.merged_into
              else f"{decision.action}: band {decision.alert.band}")
    payload = render(receiver.kind, _linked(decision.alert, public_url), change=change,
                     include_personal_data=receiver.include_personal_data)
    if decision.alert.merged_into is not None:
        payload["withdraws_post"] = True  # not posted yet: then never (the sender withdraws both)
    if decision.action == "grow":
        # Slack: the card edited in place, without the thread reply that would notify the channel.
        payload.pop("reply", None)
        payload["quiet"] = True
    outbox.enqueue(
        decision.alert.alert_id, receiver.name, "post" if first else "update",
        int(decision.notify_at.timestamp()) if first else decision.alert.version, payload,
        now + dt.timedelta(seconds=wait),
        route=decision.route.route_path, band=decision.alert.band,
    )


def _linked(alert: Alert, public_url: str | None) -> Alert:
    return alert.model_copy(update={"url": alert_link(public_url, alert.alert_id)}) if public_url else alert


def feedback_key(feedback: Feedback) -> bytes:
    """The key an outcome is published under: its nominal, so the feedback agent finds the nominal's features.

    >>> import datetime as dt
    >>> feedback_key(Feedback(schema_version=1, alert_id="A-1", nominal_id="N-1", outcome="arrest",
    ...                       analyst_id="analyst-9", at=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)))
    b'N-1'
    """
    return (feedback.nominal_id or feedback.alert_id).encode()


@dataclass(frozen=True)
class LifecycleChange:
    """What one change did: the alert as it now is, the updates queued, and the outcomes published.

    ``receivers_not_told`` names receivers the alert was sent to that the
    routes no longer define: their channels still show the alert as it was.
    """

    alert: Alert
    change: str
    updates_queued: int
    receivers_not_told: tuple[str, ...] = ()
    feedback: tuple[Feedback, ...] = ()


class AlertLifecycle:
    """Acknowledge, assign and close alerts; each change is stored, then queued for every channel that has the alert.

    ``routes`` is the routes file in force (a :class:`RoutesFile` is re-read
    when it changes); ``publish_feedback`` puts closing outcomes on
    ``toex.feedback``; ``clock`` gives the time of each change.
    """

    def __init__(
        self,
        outbox: AlertRecords,
        routes: RoutingConfig | RoutesFile,
        publish_feedback: FeedbackPublisher,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        audit: AuditTrail | None = None,
        public_url: str | None = None,
    ) -> None:
        self._outbox = outbox
        self._routes = routes
        self._publish = publish_feedback
        self._clock = clock
        # The s.62 log: each change is logged (who, why) before it is made; no log, no change.
        self._audit = audit
        self._public_url = public_url  # the dashboard's address: messages link to the alert's page

    def _log(self, alert_id: str, action: str, by: str, what: str, reason: str) -> None:
        if self._audit is not None:
            self._audit.record(AuditRecord("alteration", action, by, alert_id, what, reason))

    def acknowledge(self, alert_id: str, by: str, reason: str = "") -> LifecycleChange:
        """Someone is looking at the alert: it is acknowledged and theirs."""
        self._existing(alert_id)
        self._log(alert_id, "alert.acknowledged", by, "status acknowledged", reason)
        now = self._clock()
        self._outbox.set_status(alert_id, "acknowledged", assignee=by, at=now)
        return self._tell_channels(alert_id, f"acknowledged by {by}", now)

    def assign(self, alert_id: str, to: str, by: str | None = None, reason: str = "") -> LifecycleChange:
        """Give the alert to an analyst or a team (``by`` whoever gave it, when known); it is acknowledged."""
        self._existing(alert_id)
        self._log(alert_id, "alert.assigned", by or "system:unknown", f"assigned to {to}", reason)
        now = self._clock()
        self._outbox.set_status(alert_id, "acknowledged", assignee=to, at=now)
        return self._tell_channels(alert_id, f"assigned to {to}" + (f" by {by}" if by else ""), now)

    def close(self, alert_id: str, outcome: Outcome, by: str, note: str = "", reason: str = "") -> LifecycleChange:
        """Close the alert with what was found, publishing the outcome first for the scorer to learn from.

        ``note`` goes on ``toex.feedback`` for the record: it must hold no personal data.
        """
        alert = self._existing(alert_id)
        self._log(alert_id, "alert.closed", by, f"closed: {outcome}; outcome published on toex.feedback",
                  reason or note)
        now = self._clock()
        nominal_ids: Sequence[str | None] = alert.nominal_ids or [None]  # an alert on no nominal: one outcome
        feedback = tuple(
            Feedback(schema_version=1, alert_id=alert_id, nominal_id=nominal_id, outcome=outcome, analyst_id=by,
                     at=now, note=note)
            for nominal_id in nominal_ids
        )
        for outcome_of_one in feedback:
            self._publish(feedback_key(outcome_of_one), outcome_of_one)
        self._outbox.set_status(alert_id, "closed", outcome=outcome, at=now)
        return replace(self._tell_channels(alert_id, f"closed: {outcome}", now), feedback=feedback)

    # -- telling the channels ---------------------------------------------------------------------

    def _existing(self, alert_id: str) -> Alert:
        alert = self._outbox.get_alert(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id!r}; `toex-stream alerts list` shows them")
        return alert

    def _routing(self) -> RoutingConfig:
        return self._routes.current() if isinstance(self._routes, RoutesFile) else self._routes

    def _tell_channels(self, alert_id: str, change: str, now: dt.datetime) -> LifecycleChange:
        """Queue an update for every receiver the alert was posted to, rendered for that receiver.

        ``change`` is written here, from ids and outcomes: it holds no personal data.
        """
        alert = self._existing(alert_id)  # as stored now: the status the change left
        routes = self._routing()
        routes_of: dict[str, str | None] = {}
        latest: dict[str, int] = {}
        for item in self._outbox.items(alert_id):
            latest[item.receiver] = max(item.version, latest.get(item.receiver, item.version))
            if item.kind == "post":
                routes_of.setdefault(item.receiver, item.route)
        queued, not_told = 0, []
        for name in sorted(routes_of):
            try:
                receiver = routes.receiver(name)
            except RoutingError:
                log.warning("alert %s: receiver %s is no longer in the routes; its channel is not told of the change",
                            alert_id, name)
                not_told.append(name)
                continue
            payload = render(receiver.kind, _linked(alert, self._public_url), change=change,
                             include_personal_data=receiver.include_personal_data)
            if self._enqueue_update(alert_id, name, routes_of[name], payload, now, after=latest[name]):
                queued += 1
            else:
                not_told.append(name)
        return LifecycleChange(alert=alert, change=change, updates_queued=queued, receivers_not_told=tuple(not_told))

    def _enqueue_update(self, alert_id: str, receiver: str, route: str | None, payload: dict[str, Any],
                        now: dt.datetime, after: int) -> bool:
        """Queue the update under the next free version: seconds, as the agent's, and after every earlier one.

        Two changes within one second (or an agent's version from a later event
        time) would otherwise share a version, and the outbox would keep only the first.
        """
        version = max(int(now.timestamp()), after + 1)
        for _ in range(_VERSION_ATTEMPTS):
            if self._outbox.enqueue(alert_id, receiver, "update", version, payload, now, route=route):
                return True
            version += 1
        log.error("alert %s: no free update version for receiver %s after %d tries; its channel is not told",
                  alert_id, receiver, _VERSION_ATTEMPTS)
        return False
