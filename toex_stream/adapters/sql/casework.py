"""The regional teams' workspace over the database: the queue, an alert's case file, views and comments.

The queue reads only the alerts table's own columns (and the viewer's last
look): a region's active alerts by band and age come from the
``ix_alerts_region_status_created`` index. A case file reads the match
decisions of the alert's events (``ix_match_decisions_event``), its members'
nominal records, and its history from the s.62 log (by subject) and the
channels' delivery log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import Engine, case, func, or_, select
from sqlalchemy.orm import Session

from toex_stream.adapters.sql.audit import AuditChainRow
from toex_stream.adapters.sql.casework_models import AlertCommentRow, AlertViewRow
from toex_stream.adapters.sql.models import MatchDecisionRow
from toex_stream.adapters.sql.outbox import _alert
from toex_stream.adapters.sql.outbox_models import AlertRow, AuditRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, _decision
from toex_stream.adapters.sql.users_models import UserRow
from toex_stream.domain.access import User, can
from toex_stream.domain.contract import Alert
from toex_stream.ports.casework import CaseRecords, Comment, Details, HistoryEntry, QueueFilter, QueueRow, View

__all__ = ["SqlCaseFiles"]

_BAND_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_ACTIVE = ("open", "acknowledged")
# The most members whose records a case file reads (a larger situation lists the rest by id).
MAX_MEMBER_RECORDS = 60
_CHUNK = 500


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _view(row: AlertViewRow | None) -> View | None:
    if row is None:
        return None
    return View(row.reason, row.version_seen, row.events_seen, row.members_seen, row.first_at, row.last_at)


def _size(alert: Alert) -> tuple[int, int, int]:
    """Events, members and possible victims of an alert."""
    victims = sum(1 for m in alert.members if m.role == "possible_victim")
    return len(alert.event_refs), len(alert.members) or len(alert.nominal_ids), victims


class SqlCaseFiles:
    """:class:`toex_stream.ports.casework.CaseFiles` over a migrated engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._nominals = SqlAlchemyNominalStore(engine)

    # -- the queue ---------------------------------------------------------------------------

    def queue(self, regions: Collection[str] | None, filters: QueueFilter, viewer: str,
              limit: int = 100) -> list[QueueRow]:
        rank = case(*((AlertRow.band == band, n) for band, n in _BAND_RANK.items()), else_=9)
        query = self._scoped(select(AlertRow).order_by(rank, AlertRow.created_at.desc(), AlertRow.alert_id)
                             .limit(limit), regions, filters)
        with Session(self._engine) as session:
            shown = list(session.scalars(query))
            # The viewer's looks at the alerts shown, by primary key, once they are chosen. Joined before the
            # limit, a viewer whose looks the statistics do not know yet (a new user, looks since the last
            # ANALYZE) is planned as one row, and every active alert is compared with every look of theirs.
            views = {view.alert_id: view for view in session.scalars(
                select(AlertViewRow).where(AlertViewRow.user_name == viewer,
                                           AlertViewRow.alert_id.in_([row.alert_id for row in shown])))}
        rows = []
        for row in shown:
            alert = _alert(row)
            events, members, victims = _size(alert)
            rows.append(QueueRow(
                alert_id=row.alert_id, created_at=row.created_at, updated_at=row.updated_at, region=row.region,
                force_code=row.force_code, threat=row.threat, threats=alert.threats or [row.threat],
                band=row.band, status=row.status, assignee=row.assignee, version=alert.version,
                events=events, members=members, victims=victims, seen=_view(views.get(row.alert_id))))
        return rows

    @staticmethod
    def _scoped(query: Any, regions: Collection[str] | None, filters: QueueFilter) -> Any:
        if regions is not None:
            query = query.where(AlertRow.region.in_(sorted(regions)))
        if filters.status == "active":
            query = query.where(AlertRow.status.in_(_ACTIVE))
        elif filters.status:
            query = query.where(AlertRow.status == filters.status)
        if filters.band:
            query = query.where(AlertRow.band == filters.band)
        if filters.threat:
            query = query.where(AlertRow.threat == filters.threat)
        if filters.assignee == "-":
            query = query.where(AlertRow.assignee.is_(None))
        elif filters.assignee:
            query = query.where(AlertRow.assignee == filters.assignee)
        if filters.force:
            query = query.where(AlertRow.force_code == filters.force)
        if filters.reference:
            query = query.where(AlertRow.alert_id.startswith(filters.reference, autoescape=True))
        return query

    def band_counts(self, regions: Collection[str] | None) -> dict[str, int]:
        """Active alerts per band in ``regions`` (None: every region)."""
        query = select(AlertRow.band, func.count()).where(AlertRow.status.in_(_ACTIVE)).group_by(AlertRow.band)
        if regions is not None:
            query = query.where(AlertRow.region.in_(sorted(regions)))
        counts = dict.fromkeys(_BAND_RANK, 0)
        with Session(self._engine) as session:
            counts.update({band: n for band, n in session.execute(query)})
        return counts

    def last_change(self, regions: Collection[str] | None) -> tuple[dt.datetime | None, int]:
        """The latest change to an alert in ``regions``, and how many alerts there are: what the live queue
        watches (a new alert or a change moves one or the other)."""
        query = select(func.max(AlertRow.updated_at), func.count())
        if regions is not None:
            query = query.where(AlertRow.region.in_(sorted(regions)))
        with Session(self._engine) as session:
            latest, count = session.execute(query).one()
        return latest, int(count)

    # -- an alert ----------------------------------------------------------------------------

    def alert(self, alert_id: str) -> tuple[Alert, Details] | None:
        with Session(self._engine) as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                return None
            return _alert(row), Details(row.status, row.assignee, row.outcome, row.updated_at)

    def case_records(self, alert: Alert, details: Details) -> CaseRecords:
        events = sorted({f"{ref.topic}:{ref.key}" for ref in alert.event_refs})
        decisions = []
        with Session(self._engine) as session:
            for chunk in _chunks(events):
                query = (select(MatchDecisionRow).where(MatchDecisionRow.event.in_(chunk))
                         .order_by(MatchDecisionRow.occurred_at, MatchDecisionRow.mention_id))
                decisions += [_decision(row) for row in session.scalars(query)]
        members = [m.nominal_id for m in alert.members] or list(alert.nominal_ids)
        nominals = {}
        for nominal_id in members[:MAX_MEMBER_RECORDS]:
            nominal = self._nominals.get_nominal(nominal_id)
            if nominal is not None:
                nominals[nominal_id] = nominal
        return CaseRecords(alert, details, decisions, nominals)

    def source_of(self, event: str) -> tuple[int, int] | None:
        query = (select(MatchDecisionRow.source_partition, MatchDecisionRow.source_offset)
                 .where(MatchDecisionRow.event == event, MatchDecisionRow.source_offset.is_not(None)).limit(1))
        with Session(self._engine) as session:
            found = session.execute(query).first()
        if found is None or found[0] is None or found[1] is None:
            return None
        return int(found[0]), int(found[1])

    def view(self, user: str, alert_id: str) -> View | None:
        with Session(self._engine) as session:
            return _view(session.get(AlertViewRow, (user, alert_id)))

    def record_view(self, user: str, alert: Alert, reason: str, at: dt.datetime) -> None:
        events, members, _ = _size(alert)
        with Session(self._engine) as session, session.begin():
            row = session.get(AlertViewRow, (user, alert.alert_id))
            if row is None:
                session.add(AlertViewRow(user_name=user, alert_id=alert.alert_id, reason=reason[:500],
                                         version_seen=alert.version, events_seen=events, members_seen=members,
                                         first_at=at, last_at=at))
            else:
                row.version_seen, row.events_seen, row.members_seen, row.last_at = (
                    alert.version, events, members, at)

    def comments(self, alert_id: str) -> list[Comment]:
        query = select(AlertCommentRow).where(AlertCommentRow.alert_id == alert_id).order_by(AlertCommentRow.id)
        with Session(self._engine) as session:
            return [Comment(row.author, row.at, row.text) for row in session.scalars(query)]

    def add_comment(self, alert_id: str, author: str, text: str, at: dt.datetime) -> None:
        with Session(self._engine) as session, session.begin():
            session.add(AlertCommentRow(alert_id=alert_id, author=author, at=at, text=text[:2000]))

    def history(self, alert_id: str) -> list[HistoryEntry]:
        """What happened to the alert: the s.62 log's entries about it and its deliveries to channels, in time
        order (the log's consultations included: who looked, and why)."""
        out = []
        with Session(self._engine) as session:
            for entry in session.scalars(select(AuditChainRow).where(AuditChainRow.subject == alert_id)
                                         .order_by(AuditChainRow.seq)):
                out.append(HistoryEntry(entry.at, entry.action, entry.actor, entry.what, entry.why))
            for row in session.scalars(select(AuditRow).where(AuditRow.alert_id == alert_id).order_by(AuditRow.id)):
                out.append(HistoryEntry(row.at, f"channel.{row.action}", row.receiver, row.what))
        return sorted(out, key=lambda h: h.at)

    def assignable(self, region: str) -> list[str]:
        """The active users who may handle alerts in ``region``."""
        query = select(UserRow).where(UserRow.disabled_at.is_(None), or_(UserRow.role == "analyst",
                                                                         UserRow.role == "supervisor"))
        with Session(self._engine) as session:
            users = [User(row.name, row.role, frozenset(row.scopes)) for row in session.scalars(query)]  # type: ignore[arg-type]
        return sorted(u.name for u in users if can(u, "alerts.handle", region))
