"""The durable outbox: alerts and the messages about them, kept in the database until delivered.

An alert is saved, and one outbox item per receiver is enqueued, before
anything is sent. The sender (:mod:`toex_stream.adapters.senders`) takes due
items, counts the attempt *before* it sends, and marks an item delivered only
once the channel has it; on failure the item is rescheduled. So nothing is
lost while a channel is down, and a sender restarted after a crash can tell
which items may already be out (``attempts > 0``) and check before re-sending.

One sender delivers at a time: it holds the lease (:meth:`Outbox.acquire_lease`)
and, before each message, confirms it still does with the token it was given
(:meth:`Outbox.renew_lease`). The token grows whenever the lease changes
hands, so a sender that was paused while another took over sends nothing more.

>>> from sqlalchemy import create_engine
>>> import datetime as dt
>>> from toex_stream.adapters.sql.models import Base
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine)
>>> outbox = Outbox(engine); at = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
>>> outbox.enqueue("A-1", "ersou-slack", "post", 0, {"text": "x"}, at)
True
>>> outbox.enqueue("A-1", "ersou-slack", "post", 0, {"text": "x"}, at)
False
>>> [item.alert_id for item in outbox.due(at)]
['A-1']
>>> outbox.acquire_lease("worker-1", 30, at), outbox.acquire_lease("worker-2", 30, at)
(1, None)
>>> outbox.acquire_lease("worker-2", 30, at + dt.timedelta(seconds=31))  # worker-1 let it lapse
2
>>> outbox.renew_lease("worker-1", 1, 30, at + dt.timedelta(seconds=32))
False
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from toex_stream.adapters.sql.audit import HeadFile, append
from toex_stream.adapters.sql.outbox_models import AlertRow, AuditRow, LeaseRow, OutboxRow
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import Alert, AlertStatus, EventRef, Reason
from toex_stream.domain.errors import ToexError
from toex_stream.ports.alerts import OutboxItem, OutboxKind

MAX_ERROR_CHARS = 2000
# The lease the outbox sender holds; migration 0006 makes its row.
SENDER_LEASE = "outbox-sender"

__all__ = ["SENDER_LEASE", "AuditEntry", "Outbox", "OutboxError"]


# A channel's messages go in this order, each in queue order: a storm of updates never delays a first post.
PRIORITY_CRITICAL_POST = 0
PRIORITY_POST = 1
PRIORITY_UPDATE = 2


def priority_of(kind: str, band: str | None) -> int:
    """Where a message stands in its channel's queue.

    >>> priority_of("post", "critical"), priority_of("post", "high"), priority_of("update", "critical")
    (0, 1, 2)
    """
    if kind != "post":
        return PRIORITY_UPDATE
    return PRIORITY_CRITICAL_POST if band == "critical" else PRIORITY_POST


@dataclass(frozen=True)
class Backlog:
    """What the outbox still holds, for the metrics page: an alert stuck here has reached nobody."""

    pending: int
    failing: int  # pending items whose last attempt failed
    oldest_pending_s: float  # how long the oldest undelivered item has waited; 0 when none
    # Per receiver (a channel): (pending, how long its oldest has waited), for receivers with any pending.
    by_receiver: tuple[tuple[str, int, float], ...] = ()


class OutboxError(ToexError):
    """An outbox operation named something that is not there or not allowed."""


@dataclass(frozen=True)
class AuditEntry:
    """One disclosure: ``what`` describes it (kinds and counts), never holds the personal data."""

    at: dt.datetime
    alert_id: str
    receiver: str
    route: str | None
    action: str
    what: str


def _item(row: OutboxRow, thread: tuple[str | None, str | None] = (None, None)) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        alert_id=row.alert_id,
        receiver=row.receiver,
        kind=row.kind,
        version=row.version,
        route=row.route,
        payload=row.payload,
        not_before=row.not_before,
        attempts=row.attempts,
        first_attempt_at=row.first_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        slack_channel=row.slack_channel,
        slack_ts=row.slack_ts,
        thread_channel=thread[0],
        thread_ts=thread[1],
    )


_SITUATION = {"threats", "bands", "members", "version", "url", "merged_into"}


def _alert(row: AlertRow) -> Alert:
    return Alert(
        schema_version=1,
        alert_id=row.alert_id,
        created_at=row.created_at,
        region=row.region,
        force_code=row.force_code,
        threat=row.threat,
        band=row.band,
        risk_score=row.risk_score,
        nominal_ids=list(row.nominal_ids),
        event_refs=[EventRef(**ref) for ref in row.event_refs],
        reasons=[Reason(**reason) for reason in row.reasons],
        model_version=row.model_version,
        status=row.status,
        situation_id=row.situation_id,
        **(row.situation or {}),
    )


class Outbox:
    """Alerts, their outbox items and the audit log, over a migrated SQLAlchemy engine."""

    def __init__(self, engine: Engine, audit_head: Path | None = None) -> None:
        self._engine = engine
        # Where the s.62 log's head is kept outside the database (each delivery appends a disclosure to it).
        self._audit_head = HeadFile(audit_head) if audit_head is not None else None

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- alerts -----------------------------------------------------------------------------

    def save_alert(self, alert: Alert, at: dt.datetime | None = None) -> bool:
        """Store ``alert``; True if it is new. A stored alert keeps its status, assignee and outcome."""
        now = at or utc_now()
        with Session(self._engine) as session, session.begin():
            row = session.get(AlertRow, alert.alert_id)
            created = row is None
            if row is None:
                row = AlertRow(alert_id=alert.alert_id, created_at=alert.created_at, status=alert.status)
                session.add(row)
            row.region = alert.region
            row.force_code = alert.force_code
            row.threat = alert.threat
            row.band = alert.band
            row.risk_score = alert.risk_score
            row.nominal_ids = list(alert.nominal_ids)
            row.event_refs = [ref.model_dump() for ref in alert.event_refs]
            row.reasons = [reason.model_dump() for reason in alert.reasons]
            row.model_version = alert.model_version
            row.situation_id = alert.situation_id
            row.situation = alert.model_dump(mode="json", include=_SITUATION) if alert.situation_id else None
            if alert.merged_into is not None:
                row.status = "closed"  # closed as merged: the other alert lives on
            row.updated_at = now
        return created

    def get_alert(self, alert_id: str) -> Alert | None:
        with Session(self._engine) as session:
            row = session.get(AlertRow, alert_id)
            return None if row is None else _alert(row)

    def alert_details(self, alert_id: str) -> dict[str, Any] | None:
        """The lifecycle columns the contract does not carry: assignee, outcome, updated_at."""
        with Session(self._engine) as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                return None
            return {
                "status": row.status, "assignee": row.assignee, "outcome": row.outcome, "updated_at": row.updated_at
            }

    def list_alerts(
        self, status: AlertStatus | None = None, region: str | None = None, limit: int = 1000,
        regions: Collection[str] | None = None,
    ) -> list[Alert]:
        """Alerts, newest first, optionally only those with ``status``, in ``region``, or in one of ``regions``.

        ``regions`` is a user's scope (None: every region), applied in SQL.
        """
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.alert_id).limit(limit)
        if status is not None:
            query = query.where(AlertRow.status == status)
        if region is not None:
            query = query.where(AlertRow.region == region)
        if regions is not None:
            query = query.where(AlertRow.region.in_(sorted(regions)))
        with Session(self._engine) as session:
            return [_alert(row) for row in session.scalars(query)]

    def set_status(
        self,
        alert_id: str,
        status: AlertStatus,
        assignee: str | None = None,
        outcome: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Move an alert through its lifecycle; ``assignee`` and ``outcome`` are kept when not given."""
        if status not in ("open", "acknowledged", "closed"):
            raise OutboxError(f"status {status!r} must be 'open', 'acknowledged' or 'closed'")
        with Session(self._engine) as session, session.begin():
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise OutboxError(f"no alert {alert_id!r}: see `toex-stream alerts list`")
            row.status = status
            if assignee is not None:
                row.assignee = assignee
            if outcome is not None:
                row.outcome = outcome
            row.updated_at = at or utc_now()

    # -- the outbox -------------------------------------------------------------------------

    def enqueue(
        self,
        alert_id: str,
        receiver: str,
        kind: OutboxKind,
        version: int,
        payload: dict[str, Any],
        not_before: dt.datetime,
        route: str | None = None,
        band: str | None = None,
    ) -> bool:
        """Queue a message; False (and nothing queued) if this (alert, receiver, kind, version) is queued already.

        ``band`` is the alert's: the first post of a critical alert goes before
        every other message to its receiver (:func:`priority_of`).
        """
        if kind not in ("post", "update"):
            raise OutboxError(f"kind {kind!r} must be 'post' or 'update'")
        row = OutboxRow(
            alert_id=alert_id,
            receiver=receiver,
            kind=kind,
            version=version,
            route=route,
            payload=payload,
            created_at=utc_now(),
            not_before=not_before,
            attempts=0,
            priority=priority_of(kind, band),
        )
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    def coalesce_updates(self, now: dt.datetime) -> int:
        """Mark every pending update that a later pending update of the same alert to the same receiver
        replaces as done (``superseded_by`` the later one); how many were.

        An update carries the alert's whole state, so only the latest need go:
        after a burst, a channel gets one message per alert, not one per change.
        A quiet update (``payload["quiet"]``: the card edited in place, no reply
        that notifies) replaces only quiet ones: a pending update that tells the
        team something (a band risen, a new possible victim) is kept, replaced
        by a later one that tells too. The sender calls it under its lease, so
        no update is superseded while it is being sent.
        """
        with Session(self._engine) as session, session.begin():
            pending = session.execute(
                select(OutboxRow.id, OutboxRow.alert_id, OutboxRow.receiver, OutboxRow.not_before,
                       OutboxRow.payload)
                .where(OutboxRow.kind == "update", OutboxRow.delivered_at.is_(None)).order_by(OutboxRow.id)
            ).all()
            by_thread: dict[tuple[str, str], list[tuple[int, dt.datetime, bool]]] = {}
            for item_id, alert_id, receiver, due, payload in pending:
                by_thread.setdefault((alert_id, receiver), []).append((item_id, due, bool(payload.get("quiet"))))
            replaced: dict[int, list[tuple[int, dt.datetime]]] = {}  # the replacing one -> the updates it replaces
            for updates in by_thread.values():
                latest = updates[-1][0]
                telling = [item_id for item_id, _, quiet in updates if not quiet]
                for item_id, due, quiet in updates[:-1]:
                    # A quiet one goes under the latest; one that tells, under the latest that tells.
                    by = latest if quiet or not updates[-1][2] else telling[-1]
                    if by != item_id:
                        replaced.setdefault(by, []).append((item_id, due))
            for newest, older in replaced.items():
                session.execute(update(OutboxRow).where(OutboxRow.id.in_([item_id for item_id, _ in older]),
                                                        OutboxRow.delivered_at.is_(None))
                                .values(delivered_at=now, superseded_by=newest))
                # The latest goes when the earliest it replaces would have.
                earliest = min(due for _, due in older)
                session.execute(update(OutboxRow).where(OutboxRow.id == newest, OutboxRow.not_before > earliest)
                                .values(not_before=earliest))
        return sum(len(older) for older in replaced.values()) + self._withdraw_unsent(now)

    def _withdraw_unsent(self, now: dt.datetime) -> int:
        """An alert closed as merged before its first post to a receiver was ever tried is never posted there:
        its pending post and its closing update (``payload["withdraws_post"]``) are marked done, the update
        ``superseded_by`` itself, the post by the update. The team gets the alert it merged into instead."""
        post = aliased(OutboxRow)
        with Session(self._engine) as session, session.begin():
            pairs = session.execute(
                select(OutboxRow.id, OutboxRow.payload, post.id)
                .join(post, (post.alert_id == OutboxRow.alert_id) & (post.receiver == OutboxRow.receiver))
                .where(OutboxRow.kind == "update", OutboxRow.delivered_at.is_(None), post.kind == "post",
                       post.delivered_at.is_(None), post.attempts == 0)
            ).all()
            withdrawn = [(closing, posted) for closing, payload, posted in pairs if payload.get("withdraws_post")]
            for closing, posted in withdrawn:
                session.execute(update(OutboxRow).where(OutboxRow.id.in_([closing, posted]),
                                                        OutboxRow.delivered_at.is_(None))
                                .values(delivered_at=now, superseded_by=closing))
        return 2 * len(withdrawn)

    def due(self, now: dt.datetime, limit: int = 100, per_receiver: int | None = None) -> list[OutboxItem]:
        """Items to send now, by priority, then oldest first: per (alert, receiver) only the earliest undelivered one.

        Messages about one alert to one receiver go out in the order they were
        queued: an update waits for its post (and gets the post's ts as ``thread_ts``).
        Across alerts, a receiver's critical first posts come first, then other
        first posts, then updates (:func:`priority_of`). ``per_receiver`` caps how
        many of one receiver's are given, so that one busy channel does not fill
        the batch and hold up the others.
        """
        earlier = aliased(OutboxRow)
        blocked = (
            select(earlier.id)
            .where(
                earlier.alert_id == OutboxRow.alert_id,
                earlier.receiver == OutboxRow.receiver,
                earlier.delivered_at.is_(None),
                earlier.id < OutboxRow.id,
            )
            .exists()
        )
        ready = (OutboxRow.delivered_at.is_(None), OutboxRow.not_before <= now, ~blocked)
        query = select(OutboxRow).where(*ready)
        if per_receiver is not None:
            ranked = (select(OutboxRow.id, func.row_number().over(
                partition_by=OutboxRow.receiver, order_by=(OutboxRow.priority, OutboxRow.id)).label("rank"))
                .where(*ready).subquery())
            query = select(OutboxRow).join(ranked, ranked.c.id == OutboxRow.id).where(ranked.c.rank <= per_receiver)
        query = query.order_by(OutboxRow.priority, OutboxRow.id).limit(limit)
        with Session(self._engine) as session:
            rows = list(session.scalars(query))
            posts: dict[tuple[str, str], tuple[str | None, str | None]] = {}
            wanted = {(row.alert_id, row.receiver) for row in rows if row.kind == "update"}
            if wanted:
                post_rows = session.scalars(
                    select(OutboxRow).where(
                        OutboxRow.kind == "post",
                        OutboxRow.delivered_at.is_not(None),
                        OutboxRow.alert_id.in_({alert_id for alert_id, _ in wanted}),
                    )
                )
                posts = {(row.alert_id, row.receiver): (row.slack_channel, row.slack_ts) for row in post_rows}
            return [_item(row, posts.get((row.alert_id, row.receiver), (None, None))) for row in rows]

    def items(self, alert_id: str | None = None) -> list[OutboxItem]:
        """Every item (of one alert), in queue order: the receivers the lifecycle tells of a change, and tests."""
        query = select(OutboxRow).order_by(OutboxRow.id)
        if alert_id is not None:
            query = query.where(OutboxRow.alert_id == alert_id)
        with Session(self._engine) as session:
            return [_item(row) for row in session.scalars(query)]

    def pending_count(self) -> int:
        return self.backlog(utc_now()).pending

    def backlog(self, now: dt.datetime) -> Backlog:
        """How much is undelivered, how much of it has failed, and how long the oldest has waited."""
        undelivered = OutboxRow.delivered_at.is_(None)
        with Session(self._engine) as session:
            rows = session.execute(
                select(OutboxRow.receiver, func.count(), func.count(OutboxRow.last_error),
                       func.min(OutboxRow.created_at))
                .where(undelivered).group_by(OutboxRow.receiver).order_by(OutboxRow.receiver)
            ).all()

        def age(oldest: dt.datetime) -> float:
            if oldest.tzinfo is None:  # SQLite hands back naive UTC from an aggregate
                oldest = oldest.replace(tzinfo=dt.timezone.utc)
            return max(0.0, (now - oldest).total_seconds())

        by_receiver = tuple((receiver, pending, age(oldest)) for receiver, pending, _failing, oldest in rows)
        return Backlog(pending=sum(r[1] for r in rows), failing=sum(r[2] for r in rows),
                       oldest_pending_s=max((a for _, _, a in by_receiver), default=0.0), by_receiver=by_receiver)

    def mark_attempt(self, item_id: int, at: dt.datetime) -> OutboxItem:
        """Count an attempt before sending (committed first): the message may be out from now on."""
        with Session(self._engine) as session, session.begin():
            row = session.get(OutboxRow, item_id)
            if row is None:
                raise OutboxError(f"no outbox item {item_id}")
            row.attempts += 1
            if row.first_attempt_at is None:
                row.first_attempt_at = at
            return _item(row)

    def mark_delivered(
        self,
        item_id: int,
        slack_channel: str | None,
        slack_ts: str | None,
        at: dt.datetime,
        audit: AuditEntry | None = None,
    ) -> bool:
        """Record the delivery (and its audit entry, in the same transaction); False if already delivered."""
        with Session(self._engine) as session, session.begin():
            # Typed Result, but DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs)
            result = cast("CursorResult[Any]", session.execute(
                update(OutboxRow)
                .where(and_(OutboxRow.id == item_id, OutboxRow.delivered_at.is_(None)))
                .values(delivered_at=at, slack_channel=slack_channel, slack_ts=slack_ts, last_error=None)
            ))
            if result.rowcount == 0:
                return False
            head = None
            if audit is not None:
                session.add(_audit_row(audit))
                # The same disclosure in the s.62 log, in the same transaction: delivered means logged.
                head = append(session, [AuditRecord(
                    "disclosure", f"chat.{audit.action}", "system:sender", audit.alert_id,
                    f"{audit.what} to {audit.receiver} (route {audit.route or '-'})")], now=at)
        if self._audit_head is not None and head is not None:
            self._audit_head.advance(head)
        return True

    def mark_failed(self, item_id: int, error: str, retry_at: dt.datetime) -> None:
        """Keep the item for another try at ``retry_at``, with the error that stopped this one."""
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item_id)
                .values(last_error=error[:MAX_ERROR_CHARS], not_before=retry_at)
            )

    # -- the sender's lease ------------------------------------------------------------------

    def acquire_lease(self, holder: str, ttl_s: float, now: dt.datetime, *, name: str = SENDER_LEASE) -> int | None:
        """Take the lease for ``holder`` until ``now + ttl_s``, or renew it; its fencing token, or None if held.

        The lease is taken when it is free, lapsed (``expires_at <= now``) or
        already ``holder``'s. The token stays the same while one holder renews,
        and goes up by one whenever another takes it over. One conditional
        UPDATE does it, so two senders racing for it cannot both win: on
        PostgreSQL the second waits for the first's row lock and re-reads the
        row, on SQLite writers take turns. ``now`` comes from the sender's
        clock: the senders' clocks must agree to well within ``ttl_s``.
        """
        expires_at = now + dt.timedelta(seconds=ttl_s)
        take = (
            update(LeaseRow)
            .where(
                LeaseRow.name == name,
                or_(LeaseRow.holder == holder, LeaseRow.expires_at.is_(None), LeaseRow.expires_at <= now),
            )
            .values(
                # SET reads the row as it was: a new holder gets the next token, the same holder keeps its own.
                token=case((LeaseRow.holder == holder, LeaseRow.token), else_=LeaseRow.token + 1),
                holder=holder,
                expires_at=expires_at,
            )
            .returning(LeaseRow.token)
        )
        with self._engine.begin() as connection:
            token = connection.scalar(take)
            if token is not None:
                return token
            if connection.scalar(select(LeaseRow.name).where(LeaseRow.name == name)) is not None:
                return None
        # No row: a database made from the models rather than the migrations, or a new lease name.
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(LeaseRow).values(name=name, holder=holder, token=1, expires_at=expires_at))
        except IntegrityError:
            return None  # another sender made the row first, and holds it
        return 1

    def renew_lease(self, holder: str, token: int, ttl_s: float, now: dt.datetime, *, name: str = SENDER_LEASE) -> bool:
        """True, and the lease extended to ``now + ttl_s``, if ``holder`` still holds it with ``token`` unlapsed.

        The check a sender makes before each message, in one statement: False
        once the lease has lapsed or passed to another holder (a higher token),
        and then the sender must send nothing more until it acquires it again.
        """
        with self._engine.begin() as connection:
            result = connection.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == name,
                    LeaseRow.holder == holder,
                    LeaseRow.token == token,
                    LeaseRow.expires_at > now,
                )
                .values(expires_at=now + dt.timedelta(seconds=ttl_s))
            )
            return result.rowcount == 1

    # -- the audit log ------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        """Write one audit record (a disclosure that did not go through :meth:`mark_delivered`)."""
        with Session(self._engine) as session, session.begin():
            session.add(_audit_row(entry))

    def audit_log(self, alert_id: str | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id)
        if alert_id is not None:
            query = query.where(AuditRow.alert_id == alert_id)
        with Session(self._engine) as session:
            return [
                AuditEntry(at=row.at, alert_id=row.alert_id, receiver=row.receiver, route=row.route,
                           action=row.action, what=row.what)
                for row in session.scalars(query)
            ]  # fmt: skip


def _audit_row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        at=entry.at, alert_id=entry.alert_id, receiver=entry.receiver, route=entry.route, action=entry.action,
        what=entry.what
    )
