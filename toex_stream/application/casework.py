"""The regional teams' casework: the queue, an alert's case file, and decisions on it, for a signed-in user.

Scope is enforced here, for every entry point: an alert outside the user's
regions is :class:`AlertNotFound`, exactly as an alert that does not exist (a
404 on the web, never a 403 that would confirm it exists). Decisions go
through :class:`~toex_stream.application.alert_lifecycle.AlertLifecycle`, the
use case the command line uses, so closing publishes the outcome on
``toex.feedback`` and the channels are told as they are from the CLI.

Every case file shown is a consultation in the s.62 log (who, when, which
alert, why); every case file exported is a disclosure (who, when, to whom,
why). The reason is the user's own: "assigned to me" when the alert is
theirs; otherwise they are asked the first time they open it, and later looks
carry that reason. The queue shows no personal data (bands, threats, counts
and references), so listing it is not a consultation; an event's text is
served only to a user who has consulted its alert.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toex_stream.application.alert_lifecycle import AlertLifecycle, AlertNotFound, LifecycleChange
from toex_stream.domain.access import Permission, User, can, require, visible_regions
from toex_stream.domain.alerting.messages import MARKING
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.casefile import Bar, Network, Segment, grading, grew, highlight, network, waterfall
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import Alert, Nominal, Outcome
from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.indicators import Lexicon, load_lexicon
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.casework import CaseFiles, Comment, Details, EventReader, HistoryEntry, QueueFilter, QueueRow
from toex_stream.ports.store import MatchDecision

__all__ = ["AlertNotFound", "CaseFile", "Casework", "EventText", "Person", "ReasonNeeded", "TimelineEvent",
           "exported"]

ASSIGNED_TO_ME = "assigned to me"
_SOURCES = {"toex.adverts": "advert", "toex.referrals": "referral", "toex.intel": "intelligence"}


class ReasonNeeded(ToexError):
    """The user opens an alert that is not theirs for the first time: they must say why (the s.62 log)."""


class BadRequest(ToexError):
    """A decision that cannot be made as asked (no reason, an unknown outcome, a user who may not have it)."""


@dataclass(frozen=True)
class Person:
    """A member of the alert's situation as the case file shows them."""

    number: int
    nominal_id: str
    role: str
    provisional: bool
    name: str
    date_of_birth: str
    flags: list[str]
    linked_by: list[str]
    decisions: list[tuple[MatchDecision, list[Bar]]]  # this alert's mentions resolved to them


@dataclass(frozen=True)
class TimelineEvent:
    event: str
    source: str
    occurred_at: dt.datetime | None
    grading: str
    facts: dict[str, Any]
    mentions: list[tuple[str, str, str]]  # (role, decision, person's number or nominal id)
    readable: bool  # where the event's text can be read back (partition and offset known)


@dataclass(frozen=True)
class CaseFile:
    alert: Alert
    details: Details
    people: list[Person]
    timeline: list[TimelineEvent]
    picture: Network
    history: list[HistoryEntry]
    comments: list[Comment]
    assignable: list[str]
    reason: str


@dataclass(frozen=True)
class EventText:
    event: str
    source: str
    title: list[Segment] = field(default_factory=list)
    body: list[Segment] = field(default_factory=list)
    gone: bool = False  # Kafka no longer holds it (retention)


class Casework:
    def __init__(self, files: CaseFiles, lifecycle: AlertLifecycle, audit: AuditTrail,
                 events: EventReader | None = None, *, lexicon: Lexicon | None = None,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self._files = files
        self._lifecycle = lifecycle
        self._audit = audit
        self._events = events
        self._lexicon = lexicon or load_lexicon()
        self._clock = clock

    # -- the queue ---------------------------------------------------------------------------

    def queue(self, user: User, filters: QueueFilter, limit: int = 100) -> tuple[list[QueueRow], dict[str, int]]:
        require(user, "alerts.read")
        regions = visible_regions(user)
        return self._files.queue(regions, filters, user.name, limit), self._files.band_counts(regions)

    def last_change(self, user: User) -> tuple[dt.datetime | None, int]:
        require(user, "alerts.read")
        return self._files.last_change(visible_regions(user))

    @staticmethod
    def grew(row: QueueRow) -> str:
        if row.seen is None:
            return "new to you"
        return grew(version_seen=row.seen.version_seen, events_seen=row.seen.events_seen,
                    members_seen=row.seen.members_seen, version=row.version, events=row.events, members=row.members)

    # -- one alert ---------------------------------------------------------------------------

    def _in_scope(self, user: User, alert_id: str, permission: Permission = "alerts.read") -> tuple[Alert, Details]:
        """The alert and its lifecycle, when the user may see it (else not found, as if it did not exist), and
        may do ``permission`` to it."""
        found = self._files.alert(alert_id)
        if found is None or not can(user, "alerts.read", found[0].region):
            raise AlertNotFound(f"no alert {alert_id!r} in your regions")
        if permission != "alerts.read":
            require(user, permission, found[0].region)
        return found

    def reason_for(self, user: User, alert_id: str) -> str | None:
        """The reason a look at this alert is logged with, when the user need not give one now."""
        alert, details = self._in_scope(user, alert_id)
        if details.assignee == user.name:
            return ASSIGNED_TO_ME
        view = self._files.view(user.name, alert_id)
        return view.reason if view is not None else None

    def open(self, user: User, alert_id: str, reason: str = "") -> CaseFile:
        """The case file, logged as a consultation; :class:`ReasonNeeded` when the user must first say why."""
        alert, details = self._in_scope(user, alert_id)
        reason = reason.strip() or (self.reason_for(user, alert_id) or "")
        if not reason:
            raise ReasonNeeded("say why you open this alert: it is not assigned to you (kept in the s.62 log)")
        now = self._clock()
        self._audit.record(AuditRecord("consultation", "alert.read", user.name, alert_id,
                                       f"alert page: {_contents(alert)}", reason, at=now))
        self._files.record_view(user.name, alert, reason, now)
        return self._case_file(alert, details, reason)

    def export(self, user: User, alert_id: str, recipient: str, purpose: str) -> dict[str, Any]:
        """The case file as data, for ``recipient``: a disclosure, kept in the s.62 log with who, when, to whom
        and why before it is handed over. Only a user who may handle the alert may export it."""
        alert, details = self._in_scope(user, alert_id, "alerts.handle")
        recipient, purpose = " ".join(recipient.split())[:200], purpose.strip()[:500]
        if not recipient or not purpose:
            raise BadRequest("say who receives the case file and why: both are kept in the s.62 log")
        case = self._case_file(alert, details, purpose)
        now = self._clock()
        self._audit.record(AuditRecord("disclosure", "alert.exported", user.name, alert_id,
                                       f"case file (JSON) to {recipient}: {_contents(alert)}", purpose, at=now))
        return exported(case, by=user.name, to=recipient, purpose=purpose, at=now)

    def _case_file(self, alert: Alert, details: Details, reason: str) -> CaseFile:
        records = self._files.case_records(alert, details)
        members = [m.model_dump() for m in alert.members] or [
            {"nominal_id": n, "role": "unknown", "provisional": False, "linked_by": []} for n in alert.nominal_ids]
        numbered = network(members)  # numbers everyone; drawn only for an alert about a situation
        people = self._people(members, numbered, records.decisions, records.nominals)
        number = {p.nominal_id: p.number for p in people}
        return CaseFile(
            alert=alert, details=details, people=people, timeline=self._timeline(records.decisions, number),
            picture=numbered if alert.members else network([]),
            history=self._files.history(alert.alert_id), comments=self._files.comments(alert.alert_id),
            assignable=self._files.assignable(alert.region), reason=reason)

    @staticmethod
    def _people(members: list[dict[str, Any]], numbered: Network, decisions: list[MatchDecision],
                nominals: dict[str, Nominal]) -> list[Person]:
        numbers = {node.nominal_id: node.number for node in numbered.nodes}
        by_nominal: dict[str, list[MatchDecision]] = defaultdict(list)
        for decision in decisions:
            if decision.nominal_id:
                by_nominal[decision.nominal_id].append(decision)
        people = []
        for member in members:
            nominal = nominals.get(member["nominal_id"])
            name = " ".join(p for p in (nominal.given_name, nominal.family_name) if p) if nominal else ""
            people.append(Person(
                number=numbers.get(member["nominal_id"], 0), nominal_id=member["nominal_id"], role=member["role"],
                provisional=bool(member.get("provisional")), name=name or "(no name on record)",
                date_of_birth=str(nominal.date_of_birth) if nominal and nominal.date_of_birth else "",
                flags=list(nominal.flags) if nominal else [], linked_by=list(member.get("linked_by", [])),
                decisions=[(d, waterfall(d.prior_weight, d.weights)) for d in by_nominal[member["nominal_id"]]]))
        return sorted(people, key=lambda p: p.number)

    @staticmethod
    def _timeline(decisions: list[MatchDecision], number: dict[str, int]) -> list[TimelineEvent]:
        by_event: dict[str, list[MatchDecision]] = defaultdict(list)
        for decision in decisions:
            if decision.event:
                by_event[decision.event].append(decision)
        timeline = []
        for event, mentions in by_event.items():
            first = mentions[0]
            topic = event.split(":", 1)[0]
            timeline.append(TimelineEvent(
                event=event, source=_SOURCES.get(topic, topic), occurred_at=first.occurred_at,
                grading=grading(first.facts), facts=first.facts or {},
                mentions=[(d.role or "?", d.decision, f"#{number[d.nominal_id]}" if d.nominal_id in number
                           else (d.nominal_id or "no one")) for d in mentions],
                readable=first.source_partition is not None and first.source_offset is not None))
        return sorted(timeline, key=lambda t: (t.occurred_at or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                                               t.event))

    def give_reason(self, user: User, alert_id: str, reason: str) -> None:
        """Keep why the user opens an alert not assigned to them; the look itself is logged when the page is
        shown (:meth:`open`)."""
        alert, _ = self._in_scope(user, alert_id)
        if not reason.strip():
            raise ReasonNeeded("say why you open this alert: it is not assigned to you (kept in the s.62 log)")
        self._files.record_view(user.name, alert, reason.strip(), self._clock())

    def event_text(self, user: User, alert_id: str, event: str) -> EventText:
        """An event of the alert read back from Kafka, an advert's indicator terms marked; only for a user who
        has consulted the alert (the page asked them why), and only an event the alert carries."""
        alert, _ = self._in_scope(user, alert_id)
        if self._files.view(user.name, alert_id) is None:
            raise ReasonNeeded("open the alert first: its page asks why you look")
        if event not in {f"{ref.topic}:{ref.key}" for ref in alert.event_refs}:
            raise AlertNotFound("that event is not one of this alert's")
        topic = event.split(":", 1)[0]
        source = _SOURCES.get(topic, topic)
        where = self._files.source_of(event)
        if where is None or self._events is None:
            return EventText(event, source, gone=True)
        raw = self._events.read(topic, *where)
        if raw is None:
            return EventText(event, source, gone=True)
        value = json.loads(raw)
        if source == "advert":
            return EventText(event, source, highlight(self._lexicon, str(value.get("title", ""))),
                             highlight(self._lexicon, str(value.get("body", ""))))
        text = value.get("narrative") if source == "referral" else value.get("text")
        return EventText(event, source, [], [Segment(str(text or ""))])

    # -- decisions ---------------------------------------------------------------------------

    def _handle(self, user: User, alert_id: str) -> Alert:
        alert, _ = self._in_scope(user, alert_id, "alerts.handle")
        return alert

    @staticmethod
    def _reason(reason: str) -> str:
        if not reason.strip():
            raise BadRequest("give a reason: it is kept in the s.62 log with your decision")
        return reason.strip()

    def acknowledge(self, user: User, alert_id: str, reason: str) -> LifecycleChange:
        self._handle(user, alert_id)
        return self._lifecycle.acknowledge(alert_id, by=user.name, reason=self._reason(reason))

    def assign(self, user: User, alert_id: str, to: str, reason: str) -> LifecycleChange:
        alert = self._handle(user, alert_id)
        if to not in self._files.assignable(alert.region):
            raise BadRequest(f"{to or 'nobody'} may not handle alerts in {alert.region}: choose a user of the region")
        return self._lifecycle.assign(alert_id, to=to, by=user.name, reason=self._reason(reason))

    def close(self, user: User, alert_id: str, outcome: Outcome, note: str, reason: str) -> LifecycleChange:
        self._handle(user, alert_id)
        return self._lifecycle.close(alert_id, outcome=outcome, by=user.name, note=note.strip(),
                                     reason=self._reason(reason))

    def comment(self, user: User, alert_id: str, text: str) -> None:
        self._handle(user, alert_id)
        if not text.strip():
            raise BadRequest("write the comment first")
        now = self._clock()
        self._audit.record(AuditRecord("alteration", "alert.commented", user.name, alert_id,
                                       f"comment of {len(text.strip())} characters", "comment on the case", at=now))
        self._files.add_comment(alert_id, user.name, text.strip(), now)


def _contents(alert: Alert) -> str:
    """What a case file of ``alert`` holds, for the s.62 log: counts, never the data."""
    return (f"{len(alert.members) or len(alert.nominal_ids)} people, {len(alert.event_refs)} events, "
            f"match decisions and history (version {alert.version})")


def _at(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def exported(case: CaseFile, *, by: str, to: str, purpose: str, at: dt.datetime) -> dict[str, Any]:
    """The case file as an export carries it: marked, saying who exported it to whom and why."""
    return {
        "marking": MARKING,
        "exported": {"at": _at(at), "by": by, "to": to, "purpose": purpose},
        "alert": case.alert.model_dump(mode="json"),
        "status": {"status": case.details.status, "assignee": case.details.assignee,
                   "outcome": case.details.outcome, "updated_at": _at(case.details.updated_at)},
        "people": [{
            "number": p.number, "nominal_id": p.nominal_id, "role": p.role, "provisional": p.provisional,
            "name": p.name, "date_of_birth": p.date_of_birth, "flags": p.flags, "linked_by": p.linked_by,
            "match_decisions": [{
                "event": d.event, "decision": d.decision, "probability": d.probability, "candidates": d.candidates,
                "model_version": d.model_version, "decided_at": _at(d.decided_at), "prior_weight": d.prior_weight,
                "weights": d.weights} for d, _bars in p.decisions],
        } for p in case.people],
        "events": [{"event": t.event, "source": t.source, "occurred_at": _at(t.occurred_at), "grading": t.grading,
                    "facts": t.facts, "mentions": [{"role": r, "decision": d, "who": w} for r, d, w in t.mentions]}
                   for t in case.timeline],
        "history": [{"at": _at(h.at), "action": h.action, "actor": h.actor, "what": h.what, "why": h.why}
                    for h in case.history],
        "comments": [{"at": _at(c.at), "author": c.author, "text": c.text} for c in case.comments],
    }
