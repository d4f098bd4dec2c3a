"""What the regional teams' workspace reads and keeps: the queue, an alert's case file, views and comments.

The SQL adapter (:mod:`toex_stream.adapters.sql.casework`) implements
:class:`CaseFiles`; the Kafka one (:mod:`toex_stream.adapters.kafka_io`) reads
an event back where its match decision says it came from (:class:`EventReader`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from toex_stream.domain.contract import Alert, Nominal
from toex_stream.ports.store import MatchDecision

__all__ = [
    "CaseFiles", "CaseRecords", "Comment", "Details", "EventReader", "HistoryEntry", "QueueFilter", "QueueRow", "View",
]


@dataclass(frozen=True)
class QueueFilter:
    """What a user narrowed their queue to; empty values do not narrow it."""

    band: str = ""
    threat: str = ""
    status: str = "active"  # "active": open or acknowledged; or one status; or "" for any
    assignee: str = ""
    force: str = ""
    reference: str = ""  # the start of an alert id


@dataclass(frozen=True)
class View:
    """What a user saw of an alert when they last opened it, and the reason they gave the first time."""

    reason: str
    version_seen: int
    events_seen: int
    members_seen: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class QueueRow:
    """One alert as the queue lists it: no personal data (counts, never names)."""

    alert_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    region: str
    force_code: str | None
    threat: str
    threats: list[str]
    band: str
    status: str
    assignee: str | None
    version: int
    events: int
    members: int
    victims: int
    seen: View | None = None  # the viewing user's last look


@dataclass(frozen=True)
class Comment:
    author: str
    at: dt.datetime
    text: str


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to an alert, from the s.62 log or the channels' delivery log."""

    at: dt.datetime
    action: str
    actor: str
    what: str
    why: str = ""


@dataclass(frozen=True)
class Details:
    status: str
    assignee: str | None
    outcome: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class CaseRecords:
    """What the case file of an alert is made of, as stored."""

    alert: Alert
    details: Details
    decisions: list[MatchDecision] = field(default_factory=list)
    nominals: dict[str, Nominal] = field(default_factory=dict)


class CaseFiles(Protocol):
    def queue(self, regions: Collection[str] | None, filters: QueueFilter, viewer: str,
              limit: int) -> list[QueueRow]: ...

    def band_counts(self, regions: Collection[str] | None) -> dict[str, int]: ...

    def last_change(self, regions: Collection[str] | None) -> tuple[dt.datetime | None, int]: ...

    def alert(self, alert_id: str) -> tuple[Alert, Details] | None: ...

    def case_records(self, alert: Alert, details: Details) -> CaseRecords: ...

    def source_of(self, event: str) -> tuple[int, int] | None:
        """The partition and offset of an event's input message, as its match decisions keep them."""
        ...

    def view(self, user: str, alert_id: str) -> View | None: ...

    def record_view(self, user: str, alert: Alert, reason: str, at: dt.datetime) -> None: ...

    def comments(self, alert_id: str) -> list[Comment]: ...

    def add_comment(self, alert_id: str, author: str, text: str, at: dt.datetime) -> None: ...

    def history(self, alert_id: str) -> list[HistoryEntry]: ...

    def assignable(self, region: str) -> list[str]: ...


class EventReader(Protocol):
    def read(self, topic: str, partition: int, offset: int) -> bytes | None:
        """The value of one input message, or None when Kafka no longer holds it (or it is not there)."""
        ...
