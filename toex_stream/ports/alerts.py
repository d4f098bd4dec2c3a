"""The alerting ports: what the use cases and the sender need of the outbox, a channel and the feedback topic.

:class:`~toex_stream.adapters.sql.outbox.Outbox` implements the outbox's
protocols, the notifiers in :mod:`toex_stream.adapters.senders` implement
:class:`Notifier`, and the CLI's Kafka producer :class:`FeedbackPublisher`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from toex_stream.domain.contract import Alert, AlertStatus, Feedback

__all__ = ["AlertQueue", "AlertRecords", "DeliveryResult", "FeedbackPublisher", "Notifier", "OutboxItem", "OutboxKind"]

# A receiver's first message about an alert is a post; every later one an update of it.
OutboxKind = Literal["post", "update"]


@dataclass(frozen=True)
class OutboxItem:
    """One message to deliver, as the sender sees it.

    ``thread_ts`` and ``thread_channel`` locate the alert's first post to this
    receiver in Slack, filled in for updates once that post is delivered.
    ``attempts`` counts the attempt in progress when the sender hands it over.
    """

    id: int
    alert_id: str
    receiver: str
    kind: OutboxKind
    version: int
    route: str | None
    payload: dict[str, Any]
    not_before: dt.datetime
    attempts: int
    first_attempt_at: dt.datetime | None
    last_error: str | None
    delivered_at: dt.datetime | None
    slack_channel: str | None
    slack_ts: str | None
    thread_ts: str | None = None
    thread_channel: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What a notifier made of one item.

    ``action`` goes to the audit log: ``posted``, ``found_existing`` (an earlier
    attempt had posted it), ``updated``, ``logged``. ``retry_after`` is the
    wait, in seconds, that the channel asked for (HTTP 429).
    """

    ok: bool
    action: str = "posted"
    slack_channel: str | None = None
    slack_ts: str | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False

    @classmethod
    def failed(cls, error: str, retry_after: float | None = None, permanent: bool = False) -> DeliveryResult:
        return cls(ok=False, action="failed", error=error, retry_after=retry_after, permanent=permanent)


class Notifier(Protocol):
    """Delivers one outbox item to one receiver; never raises for a channel's failure, returns it."""

    async def send(self, item: OutboxItem) -> DeliveryResult: ...


class AlertRecords(Protocol):
    """What the lifecycle needs of the outbox (:class:`~toex_stream.adapters.sql.outbox.Outbox` is the adapter)."""

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def set_status(self, alert_id: str, status: AlertStatus, assignee: str | None = None, outcome: str | None = None,
                   at: dt.datetime | None = None) -> None: ...

    def items(self, alert_id: str | None = None) -> list[OutboxItem]: ...

    def enqueue(self, alert_id: str, receiver: str, kind: OutboxKind, version: int, payload: dict[str, Any],
                not_before: dt.datetime, route: str | None = None) -> bool: ...


class AlertQueue(Protocol):
    """What opening an alert needs of the outbox."""

    def save_alert(self, alert: Alert) -> bool: ...

    def enqueue(self, alert_id: str, receiver: str, kind: OutboxKind, version: int, payload: dict[str, Any],
                not_before: dt.datetime, route: str | None = None, band: str | None = None) -> bool: ...


class FeedbackPublisher(Protocol):
    """Publishes one outcome on ``toex.feedback`` under ``key`` and returns once Kafka has it; raises otherwise."""

    def __call__(self, key: bytes, feedback: Feedback) -> None: ...
