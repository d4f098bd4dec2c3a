"""Who is linked to whom, on what evidence, and the situations (connected groups) that makes.

Nominals are linked when one event names them together (a suspect and the
victims in one referral or intelligence report) or when they show the same
identifier (a phone, an email, an address, a photograph's hash). Whether a
shared value links depends on who shares it (:meth:`Links.is_common`): two
people on one mobile are linked; a value shown by several people who are
otherwise nothing to each other (a hotel switchboard, the address of a large
building) links none of them, not even the first few who showed it; and one
shown by people who are otherwise linked (a controller's numbers on the
adverts of the women he runs, each advertised on two or three of them) links
them all; a number a force holds on a nominal's record links the adverts'
posters who show it and nothing else to that nominal, whatever name they sign.
In the same way a nominal named with many people who are nothing to each other
(:meth:`Links.is_hub`) chains none of them together, and an identifier two
nominals showed only in the one event that named them both (its place) adds
nothing to that event's link.

Links fade with stream time: being named together halves in strength every
:data:`HALF_LIFE_DAYS`, and an identifier counts only while it was shown in the
last :data:`WINDOW_DAYS`. A situation is a connected group of nominals over
the links that count. Its id is made from its oldest member (the nominal first
seen, then the lowest id); when two situations merge, the other one's id is
reported as merged into the surviving one. Nothing here reads the wall clock,
and the groups and ids do not depend on the order the evidence arrives in, so
a replay finds the same situations.

>>> links = Links()
>>> _ = links.observe(Evidence("toex.referrals:p:R-1", 0.0, (("N-boss", "suspect"), ("N-w1", "potential_victim"))))
>>> [sorted(s.members) for s in links.situations()]
[['N-boss', 'N-w1']]
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DAY = 86_400.0
HALF_LIFE_DAYS = 30.0
WINDOW_DAYS = 90.0
# Named together: a link counts while its strength (1 per event, fading) is at least this.
MIN_STRENGTH = 0.2
# Named with more partners than this who are nothing to each other, a nominal links none of them.
HUB_PARTNERS = 5
# Holders of an identifier, or partners of a nominal, are related when at least this share of them is
# linked to another of them some other way.
RELATED_SHARE = 0.5
# An identifier more nominals than this showed in the window is common whoever they are (not read through).
MAX_HOLDERS_READ = 200
# Events kept as a shared identifier's evidence, per nominal.
EVIDENCE_KEPT = 10
# Roles as an event names them, and what they make of a member of a situation.
CONTROLLER, VICTIM, UNKNOWN = "suspected controller", "possible victim", "unknown"
_ROLE_OF_MENTION = {"suspect": CONTROLLER, "potential_victim": VICTIM}
_KIND_NAMES = {"p": "shared phone", "e": "shared email", "a": "shared address", "i": "shared photograph"}


@dataclass(frozen=True)
class Evidence:
    """What one event says about who is linked.

    ``members`` are the nominals it names, with the role each was named in;
    ``identifiers`` the (nominal, identifier) pairs it showed, an identifier as
    ``kind:value`` (``p:+447700900123``, ``e:...``, ``a:...``, ``i:<hash>``);
    ``on_record`` which of those pairs are a nominal's because a force holds
    the identifier on their record.
    """

    event: str
    at: float  # event time, epoch seconds
    members: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...] = ()
    on_record: tuple[tuple[str, str], ...] = ()  # of those, shown because a force holds them on the record


@dataclass
class Named:
    """Two nominals named together: how strongly as of ``seen``, and the events that named them."""

    strength: float
    seen: float
    events: set[str] = field(default_factory=set)

    def strength_at(self, now: float) -> float:
        return float(self.strength * 0.5 ** (max(0.0, now - self.seen) / (HALF_LIFE_DAYS * DAY)))


@dataclass(frozen=True)
class Situation:
    """A connected group of linked nominals as of the latest evidence."""

    situation_id: str
    members: dict[str, str]  # nominal -> role: suspected controller, possible victim, unknown
    events: tuple[str, ...]  # every event that named a member, oldest first
    links: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]  # (a, b, kinds, evidence events)
    first_seen: float


class Links:
    """The evidence of links and what is known of each nominal; JSON-able through :meth:`to_json`."""

    def __init__(self) -> None:
        self.now = 0.0
        self.named: dict[tuple[str, str], Named] = {}
        self.partners: dict[str, set[str]] = {}  # nominal -> nominals it was named with
        self.first_seen: dict[str, float] = {}
        self.roles: dict[str, dict[str, int]] = {}  # nominal -> role -> times named so
        self.events: dict[str, dict[str, float]] = {}  # nominal -> event -> event time
        # identifier -> nominal -> (last shown, the events it was shown in, latest EVIDENCE_KEPT)
        self.shown: dict[str, dict[str, tuple[float, list[str]]]] = {}
        self.identifiers: dict[str, set[str]] = {}  # nominal -> identifiers it showed
        self.on_record: dict[str, set[str]] = {}  # identifier -> nominals a force holds it for
        # What is_hub, is_common, _holders and neighbours found since the state last changed (they only read it).
        self._hubs: dict[str, bool] = {}
        self._common: dict[str, bool] = {}
        self._held: dict[str, dict[str, tuple[float, list[str]]]] = {}
        self._neighbours: dict[str, set[str]] = {}

    # -- evidence ----------------------------------------------------------------------------

    def observe(self, evidence: Evidence) -> list[tuple[str, str]]:
        """Add one event's evidence; the (merged, surviving) situation ids of any merge it caused."""
        touched = {n for n, _ in evidence.members} | {n for n, _ in evidence.identifiers}
        touched |= {h for _, i in evidence.identifiers for h in self.shown.get(i, {})}
        before = dict(self._groups(touched))
        self._changed()
        self.now = max(self.now, evidence.at)
        for nominal, role in evidence.members:
            if evidence.event not in self.events.get(nominal, {}):  # the same event again adds nothing
                counts = self.roles.setdefault(nominal, {})
                counts[role] = counts.get(role, 0) + 1
            self._seen(nominal, evidence)
        named = sorted({nominal for nominal, _ in evidence.members})
        for i, a in enumerate(named):
            for b in named[i + 1:]:
                self._name_together(a, b, evidence)
        for nominal, identifier in evidence.identifiers:
            self._seen(nominal, evidence)
            at, events = self.shown.setdefault(identifier, {}).get(nominal, (evidence.at, []))
            if evidence.event not in events:
                events = sorted([*events, evidence.event])[-EVIDENCE_KEPT:]
            self.shown[identifier][nominal] = (max(at, evidence.at), events)
            self.identifiers.setdefault(nominal, set()).add(identifier)
        for nominal, identifier in evidence.on_record:
            self.on_record.setdefault(identifier, set()).add(nominal)
        return self._merges(before, self._groups(touched))

    def _changed(self) -> None:
        self._hubs, self._common, self._held, self._neighbours = {}, {}, {}, {}

    def _seen(self, nominal: str, evidence: Evidence) -> None:
        self.first_seen[nominal] = min(self.first_seen.get(nominal, evidence.at), evidence.at)
        self.events.setdefault(nominal, {})[evidence.event] = evidence.at

    def _name_together(self, a: str, b: str, evidence: Evidence) -> None:
        link = self.named.get((a, b))
        if link is None:
            link = self.named[(a, b)] = Named(0.0, evidence.at)
            self.partners.setdefault(a, set()).add(b)
            self.partners.setdefault(b, set()).add(a)
        elif evidence.event in link.events:
            return  # read again (a redelivery, or each of the event's mentions carrying it)
        # Evidence adds to what is left of the link at the later of the two times (a late event, faded).
        at = max(link.seen, evidence.at)
        faded = 0.5 ** ((at - evidence.at) / (HALF_LIFE_DAYS * DAY))
        link.strength, link.seen = min(4.0, link.strength_at(at) + faded), at
        link.events.add(evidence.event)

    def forget(self, nominal: str) -> None:
        """An erased nominal: every link, identifier and event of theirs goes."""
        for other in self.partners.pop(nominal, set()):
            self.named.pop((min(nominal, other), max(nominal, other)), None)
            self.partners.get(other, set()).discard(nominal)
        for identifier in self.identifiers.pop(nominal, set()):
            holders = self.shown.get(identifier, {})
            holders.pop(nominal, None)
            self.on_record.get(identifier, set()).discard(nominal)
            if not holders:
                self.shown.pop(identifier, None)
                self.on_record.pop(identifier, None)
        for table in (self.first_seen, self.roles, self.events):
            table.pop(nominal, None)
        self._changed()

    def prune(self, before: float) -> set[str]:
        """Forget what no longer counts at any later time: events and shown identifiers older than
        ``before`` (the window's start), and links named together that have faded below what counts with no
        event since. A nominal left with nothing goes too. The events forgotten are returned."""
        gone: set[str] = set()
        for nominal, events in list(self.events.items()):
            old = {event for event, at in events.items() if at < before}
            if old:
                gone |= old
                self.events[nominal] = {e: at for e, at in events.items() if e not in old}
        for identifier, holders in list(self.shown.items()):
            for nominal in [n for n, (at, _) in holders.items() if at < before]:
                del holders[nominal]
                self.identifiers.get(nominal, set()).discard(identifier)
                self.on_record.get(identifier, set()).discard(nominal)
            if not holders:
                del self.shown[identifier]
                self.on_record.pop(identifier, None)
        for (a, b), link in list(self.named.items()):
            if link.seen < before and link.strength_at(self.now) < MIN_STRENGTH:
                del self.named[(a, b)]
                self.partners.get(a, set()).discard(b)
                self.partners.get(b, set()).discard(a)
        for nominal in list(self.first_seen):
            if not self.events.get(nominal) and not self.partners.get(nominal) and not self.identifiers.get(nominal):
                for table in (self.first_seen, self.roles, self.events, self.partners, self.identifiers):
                    table.pop(nominal, None)
        self._changed()
        # Events still named by another nominal stay known.
        return {event for event in gone if not any(event in events for events in self.events.values())}

    def events_of(self, nominal: str) -> dict[str, float]:
        """The events that named or showed ``nominal``, with their times."""
        return dict(self.events.get(nominal, {}))

    # -- what counts as a link, now ---------------------------------------------------------------

    def _holders(self, identifier: str) -> dict[str, tuple[float, list[str]]]:
        """The nominals that showed ``identifier`` in the window."""
        held = self._held.get(identifier)
        if held is None:
            since = self.now - WINDOW_DAYS * DAY
            held = self._held[identifier] = {n: shown for n, shown in self.shown.get(identifier, {}).items()
                                             if shown[0] >= since}
        return held

    def shared(self, a: str, b: str) -> list[tuple[str, list[str]]]:
        """The identifiers ``a`` and ``b`` both showed in the window, each with the events it was shown in."""
        out = []
        for identifier in sorted(self.identifiers.get(a, set()) & self.identifiers.get(b, set())):
            holders = self._holders(identifier)
            if a in holders and b in holders:
                events = sorted(set(holders[a][1]) | set(holders[b][1]))
                out.append((identifier, events))
        return out

    def _partners_now(self, nominal: str) -> set[str]:
        return {other for other in self.partners.get(nominal, set())
                if self.named[min(nominal, other), max(nominal, other)].strength_at(self.now) >= MIN_STRENGTH}

    def _related(self, group: set[str], besides: str | None = None, identifier: str | None = None) -> float:
        """The share of ``group`` linked to another of its members other than through ``besides`` (a nominal
        they were all named with) or ``identifier`` (one they all showed): by being named together, or by
        another identifier they share."""
        if len(group) < 2:
            return 1.0
        related = 0
        for member in group:
            others = group - {member}
            partners = self._partners_now(member) - ({besides} if besides else set())
            ids = self.identifiers.get(member, set()) - ({identifier} if identifier else set())
            if partners & others or any(ids & self.identifiers.get(other, set()) for other in others):
                related += 1
        return related / len(group)

    def is_hub(self, nominal: str) -> bool:
        """Named with more than :data:`HUB_PARTNERS` people who are nothing to each other: someone many
        unrelated events name (a support worker, a common name matched wrongly), whose links would chain
        strangers into one situation. A controller named with the workers of several shops is no hub: each
        worker was named with the others of the shop."""
        if nominal not in self._hubs:
            partners = self._partners_now(nominal)
            self._hubs[nominal] = (len(partners) > HUB_PARTNERS
                                   and self._related(partners, besides=nominal) < RELATED_SHARE)
        return self._hubs[nominal]

    def is_common(self, identifier: str) -> bool:
        """Shown by more than two nominals who are nothing to each other (a switchboard, a large building's
        address), it links none of them; shown by people who are otherwise linked (a controller's numbers
        on his women's adverts), it links them all.

        A number a force holds on a nominal's record is that nominal's: those who showed it and nothing else
        (adverts on it signed with other names, each taken for a person of its own) are no evidence of
        strangers sharing it, so they are not counted as such; people with identifiers of their own still are.
        """
        if identifier not in self._common:
            holders = set(self._holders(identifier))
            judged = holders
            if self.on_record.get(identifier, set()) & holders:
                judged = {h for h in holders if self.identifiers.get(h, set()) != {identifier}
                          or self._partners_now(h)}
            self._common[identifier] = len(judged) > 2 and (
                len(holders) > MAX_HOLDERS_READ or self._related(judged, identifier=identifier) < RELATED_SHARE)
        return self._common[identifier]

    def neighbours(self, nominal: str) -> set[str]:
        """The nominals linked to ``nominal`` by a link that counts now."""
        known = self._neighbours.get(nominal)
        if known is not None:
            return known
        out = set() if self.is_hub(nominal) else {p for p in self._partners_now(nominal) if not self.is_hub(p)}
        for identifier in self.identifiers.get(nominal, set()):
            holders = self._holders(identifier)
            mine = holders.get(nominal)
            if mine is None or self.is_common(identifier):
                continue
            recorded = self.on_record.get(identifier, set())
            for other, (_, events) in holders.items():
                # Shown by both in one event and in no other (the place of a report naming them both): that
                # event named them together, which is a link of its own kind, and says no more than that.
                if nominal in recorded or other in recorded or len(set(mine[1]) | set(events)) > 1:
                    out.add(other)
        out.discard(nominal)
        self._neighbours[nominal] = out
        return out

    # -- situations ----------------------------------------------------------------------------

    def situations(self) -> list[Situation]:
        """Every connected group of two or more nominals, by id; a nominal linked to no one is in none."""
        return self._around(set(self.first_seen))

    def situation_of(self, nominal: str) -> Situation | None:
        found = self._around({nominal})
        return found[0] if found else None

    def _around(self, nominals: set[str]) -> list[Situation]:
        """The situations the given nominals are in (each once), by id."""
        return [self._situation(sorted(group)) for _, group in self._groups(nominals)]

    def _groups(self, nominals: set[str]) -> list[tuple[str, set[str]]]:
        """The connected groups of two or more the given nominals are in (each once), by situation id."""
        done: set[str] = set()
        found = []
        for start in sorted(nominals):
            if start in done:
                continue
            group, queue = {start}, deque([start])
            while queue:
                for other in self.neighbours(queue.popleft()):
                    if other not in group:
                        group.add(other)
                        queue.append(other)
            done |= group
            if len(group) > 1:
                oldest = min(group, key=lambda n: (self.first_seen.get(n, math.inf), n))
                found.append((situation_id(oldest), group))
        return sorted(found, key=lambda g: g[0])

    def _situation(self, members: list[str]) -> Situation:
        oldest = min(members, key=lambda n: (self.first_seen.get(n, math.inf), n))
        in_group = set(members)
        links = []
        for a in members:
            for b in sorted(self.neighbours(a) & in_group):
                if a < b:
                    link = self.named.get((a, b))
                    kinds = {"named together"} if link is not None else set()
                    events = set(link.events) if link is not None else set()
                    for identifier, shown in self.shared(a, b):
                        kinds.add(_KIND_NAMES.get(identifier.split(":", 1)[0], "shared identifier"))
                        events |= set(shown)
                    links.append((a, b, tuple(sorted(kinds)), tuple(sorted(events))))
        named = sorted({(at, event) for n in members for event, at in self.events.get(n, {}).items()})
        return Situation(
            situation_id=situation_id(oldest),
            members={n: self.role(n) for n in members},
            events=tuple(event for _, event in named),
            links=tuple(links),
            first_seen=self.first_seen.get(oldest, 0.0),
        )

    def role(self, nominal: str) -> str:
        """What the events make of a nominal: a suspected controller or a possible victim when they agree."""
        made = {_ROLE_OF_MENTION.get(role, UNKNOWN) for role in self.roles.get(nominal, {})} - {UNKNOWN}
        return made.pop() if len(made) == 1 else UNKNOWN

    @staticmethod
    def _merges(before: dict[str, set[str]], after: list[tuple[str, set[str]]]) -> list[tuple[str, str]]:
        merged = []
        for surviving, group in after:
            merged += [(sid, surviving) for sid, members in sorted(before.items())
                       if sid != surviving and members <= group]
        return merged

    # -- persistence -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "named": [[a, b, link.strength, link.seen, sorted(link.events)]
                      for (a, b), link in sorted(self.named.items())],
            "first_seen": dict(sorted(self.first_seen.items())),
            "roles": {n: dict(sorted(r.items())) for n, r in sorted(self.roles.items())},
            "events": {n: dict(sorted(es.items())) for n, es in sorted(self.events.items())},
            "shown": {i: {n: [at, events] for n, (at, events) in sorted(h.items())}
                      for i, h in sorted(self.shown.items())},
            "on_record": {i: sorted(n) for i, n in sorted(self.on_record.items()) if n},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Links:
        links = cls()
        links.now = float(data["now"])
        for a, b, strength, seen, events in data["named"]:
            links.named[(a, b)] = Named(strength, seen, set(events))
            links.partners.setdefault(a, set()).add(b)
            links.partners.setdefault(b, set()).add(a)
        links.first_seen = dict(data["first_seen"])
        links.roles = {n: dict(r) for n, r in data["roles"].items()}
        links.events = {n: dict(es) for n, es in data["events"].items()}
        for identifier, holders in data["shown"].items():
            links.shown[identifier] = {n: (at, list(events)) for n, (at, events) in holders.items()}
            for nominal in holders:
                links.identifiers.setdefault(nominal, set()).add(identifier)
        links.on_record = {i: set(n) for i, n in data.get("on_record", {}).items()}
        return links


def situation_id(oldest_member: str) -> str:
    """A situation's id: from its oldest member, so the same group has the same id wherever it is computed.

    >>> situation_id("N-1") == situation_id("N-1"), len(situation_id("N-1"))
    (True, 20)
    """
    return "sit-" + hashlib.sha256(oldest_member.encode()).hexdigest()[:16]

