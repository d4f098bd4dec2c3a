"""The alert outbox's tables: alerts, the outbox of messages to deliver, the audit log, and the sender's lease.

They share :data:`toex_stream.adapters.sql.models.Base`'s metadata, so that the
migrations (``0002_alert_outbox``, ``0006_outbox_lease``) and these classes can
be compared like the nominal store's (import this module before comparing).

>>> sorted(t for t in Base.metadata.tables if t in ("alerts", "outbox", "audit_log", "outbox_lease"))
['alerts', 'audit_log', 'outbox', 'outbox_lease']
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from toex_stream.adapters.sql.models import Base, UtcDateTime
from toex_stream.domain.contract import AlertStatus, Band, Region
from toex_stream.ports.alerts import OutboxKind

__all__ = ["AlertRow", "AuditRow", "Base", "LeaseRow", "OutboxRow"]



class AlertRow(Base):
    """An alert as sent to ``toex.alerts``, with its lifecycle (status, assignee, outcome)."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name="status"),
        # The queue: a region's alerts by status, newest first (migration 0018).
        Index("ix_alerts_region_status_created", "region", "status", "created_at"),
    )

    alert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    region: Mapped[Region] = mapped_column(String(16), index=True)
    force_code: Mapped[str | None] = mapped_column(String(64))
    threat: Mapped[str] = mapped_column(String(32))
    band: Mapped[Band] = mapped_column(String(16))
    risk_score: Mapped[float] = mapped_column(Float)
    nominal_ids: Mapped[list[str]] = mapped_column(JSON)
    event_refs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[AlertStatus] = mapped_column(String(16), index=True)
    assignee: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(32))
    # Its situation (None for alerts made before situations): the id, and the rest as the contract has it
    # (threats, bands, members, version, merged_into).
    situation_id: Mapped[str | None] = mapped_column(String(128), index=True)
    situation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Its last change: the retention run deletes alerts unchanged for the alerts' period.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class OutboxRow(Base):
    """One message to deliver to one receiver: a first post of an alert, or an update of it.

    ``version`` is chosen by the caller (the situate agent and the lifecycle use
    the change's time in epoch seconds): enqueueing the same (alert, receiver,
    kind, version) again is a no-op, so a replay of the alert stream never
    queues a message twice. ``attempts`` is counted up *before* each try, and
    ``first_attempt_at`` kept, so that a sender restarted after a crash knows
    the message may already be out.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("alert_id", "receiver", "kind", "version"),
        CheckConstraint("kind IN ('post', 'update')", name="kind"),
        Index("ix_outbox_delivered_at_not_before", "delivered_at", "not_before"),
        Index("ix_outbox_alert_id_receiver", "alert_id", "receiver"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(128))
    receiver: Mapped[str] = mapped_column(String(128))
    kind: Mapped[OutboxKind] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # When the retention run emptied the payload of this delivered message (the row stays: it stops a
    # replay from queueing the message again, and an update finds its thread by it).
    payload_erased_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Which goes first in a channel: 0 the first post of a critical alert, 1 any other first post,
    # 2 an update (see PRIORITY_*), so that a storm of updates never delays a first post.
    priority: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    # An update never sent because a later update of the same alert to the same receiver carries the
    # latest state: the later one's id. Such a row is done (delivered_at is when it was superseded),
    # disclosed to nobody (no s.62 entry), and its payload goes with the others' at retention.
    superseded_by: Mapped[int | None] = mapped_column(Integer)


class AuditRow(Base):
    """One disclosure to a channel: what (a description, never the personal data), to whom, when, by which route."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    alert_id: Mapped[str] = mapped_column(String(128), index=True)
    receiver: Mapped[str] = mapped_column(String(128))
    route: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(String(500))


class LeaseRow(Base):
    """Who may deliver the outbox now: one row per lease, with its holder, fencing token and expiry.

    ``token`` goes up by one each time the lease changes hands and stays the
    same while one holder renews it, so a sender that was paused past its
    expiry finds, before it sends, that its token is no longer the current
    one. ``holder`` and ``expires_at`` are NULL until someone first takes it.
    """

    __tablename__ = "outbox_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255))
    token: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
