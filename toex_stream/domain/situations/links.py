"""Who is linked to whom, on what evidence, and the situations (connected groups) that makes.

Nominals are linked when one event names them together (a suspect and the
victims in one referral or intelligence report) or when they show the same
identifier (a phone, an email, an address, a photograph's hash). A shared value
links only as strongly as it is rare among the nominals that showed it: a
hotel switchboard or the address of a large building that many unrelated
nominals share links no one (:func:`identifier_weight`), not even the first
few who showed it before it was seen to be common. Every link keeps the
events that are its evidence and fades with stream time (half its strength
every :data:`HALF_LIFE_DAYS`); a link too faint to count is forgotten.

A situation is a connected group of nominals over the links that count. Its
id is made from its oldest member (the nominal first seen, then the lowest
id), and when two situations merge the older one's id lives on: the other is
reported as merged into it. Everything here is a function of the evidence and
its event times, never of the wall clock, and the groups and ids do not depend
on the order the evidence arrives in, so a replay finds the same situations.

>>> links = Links()
>>> _ = links.observe(Evidence("toex.referrals:p:R-1", 0.0, (("N-boss", "suspect"), ("N-w1", "potential_victim"))))
>>> [sorted(s.members) for s in links.situations()]
[['N-boss', 'N-w1']]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DAY = 86_400.0
HALF_LIFE_DAYS = 30.0
# A link whose strength has faded below this counts for nothing and is forgotten.
MIN_STRENGTH = 0.2
# An identifier more nominals than this have shown links none of them (a switchboard, a big building).
MAX_HOLDERS = 5
# Roles as an event names them, and what they make of a member of a situation.
CONTROLLER, VICTIM, UNKNOWN = "suspected controller", "possible victim", "unknown"
_ROLE_OF_MENTION = {"suspect": CONTROLLER, "potential_victim": VICTIM}


def identifier_weight(holders: int) -> float:
    """How strongly an identifier ``holders`` nominals have shown links two of them.

    Two holders: fully (1.0); each more holder halves it; past
    :data:`MAX_HOLDERS`, not at all (it says nothing about any one of them).

    >>> [identifier_weight(k) for k in (1, 2, 3, 5, 6, 40)]
    [0.0, 1.0, 0.5, 0.25, 0.0, 0.0]
    """
    if holders < 2 or holders > MAX_HOLDERS:
        return 0.0
    return 1.0 / (holders - 1)


@dataclass(frozen=True)
class Evidence:
    """What one event says about who is linked.

    ``members`` are the nominals it names, with the role each was named in;
    ``identifiers`` the (nominal, identifier) pairs it showed, an identifier as
    ``kind:value`` (``p:+447700900123``, ``e:...``, ``a:...``, ``i:<hash>``).
    """

    event: str
    at: float  # event time, epoch seconds
    members: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...] = ()


@dataclass
class Link:
    """Two nominals linked: how strongly as of ``seen``, and the events that are its evidence."""

    strength: float
    seen: float  # the latest evidence's event time
    events: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)  # "named together", "shared phone", ...
    via: set[str] = field(default_factory=set)  # the identifiers it rests on

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


_KIND_NAMES = {"p": "shared phone", "e": "shared email", "a": "shared address", "i": "shared photograph"}


class Links:
    """The link graph and what is known of each nominal in it; JSON-able through :meth:`to_json`."""

    def __init__(self) -> None:
        self.now = 0.0
        self.links: dict[tuple[str, str], Link] = {}
        self.first_seen: dict[str, float] = {}
        self.roles: dict[str, dict[str, int]] = {}  # nominal -> role -> times named so
        self.events: dict[str, list[tuple[float, str]]] = {}  # nominal -> (event time, event)
        self.holders: dict[str, set[str]] = {}  # identifier -> nominals that showed it
        self.names: dict[str, str] = {}  # situation id -> the id it was merged into (merged ones only)

    # -- evidence ----------------------------------------------------------------------------

    def observe(self, evidence: Evidence) -> list[tuple[str, str]]:
        """Add one event's evidence; the (merged, surviving) situation ids of any merge it caused."""
        before = {s.situation_id: set(s.members) for s in self.situations()}
        self.now = max(self.now, evidence.at)
        named = sorted({nominal for nominal, _ in evidence.members})
        for nominal, role in evidence.members:
            self.first_seen[nominal] = min(self.first_seen.get(nominal, evidence.at), evidence.at)
            counts = self.roles.setdefault(nominal, {})
            counts[role] = counts.get(role, 0) + 1
            seen = self.events.setdefault(nominal, [])
            if (evidence.at, evidence.event) not in seen:
                seen.append((evidence.at, evidence.event))
                seen.sort()
        for i, a in enumerate(named):
            for b in named[i + 1:]:
                self._link(a, b, 1.0, evidence, "named together")
        for nominal, identifier in evidence.identifiers:
            holders = self.holders.setdefault(identifier, set())
            holders.add(nominal)
            if len(holders) > MAX_HOLDERS:
                self._unlink_generic(identifier)
                continue
            weight = identifier_weight(len(holders))
            kind = _KIND_NAMES.get(identifier.split(":", 1)[0], "shared identifier")
            for other in sorted(holders - {nominal}):
                self._link(nominal, other, weight, evidence, kind, identifier)
        self._forget_faint()
        return self._merges(before)

    def _unlink_generic(self, identifier: str) -> None:
        """An identifier too many nominals show links none of them: the links that rested on it alone go,
        even those made while few had shown it."""
        for key in [k for k, link in self.links.items() if identifier in link.via]:
            link = self.links[key]
            link.via.discard(identifier)
            if not link.via and "named together" not in link.kinds:
                del self.links[key]

    def _link(self, a: str, b: str, weight: float, evidence: Evidence, kind: str, via: str | None = None) -> None:
        if weight <= 0.0 or a == b:
            return
        key = (a, b) if a < b else (b, a)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = Link(0.0, evidence.at)
        # Evidence adds to what is left of the link at its own time (a late event adds to the link as it was).
        at = max(link.seen, evidence.at)
        link.strength = min(4.0, link.strength_at(at) + weight * 0.5 ** ((at - evidence.at) / (HALF_LIFE_DAYS * DAY)))
        link.seen = at
        link.events.add(evidence.event)
        link.kinds.add(kind)
        if via is not None:
            link.via.add(via)

    def _forget_faint(self) -> None:
        for key in [k for k, link in self.links.items() if link.strength_at(self.now) < MIN_STRENGTH]:
            del self.links[key]

    # -- situations ----------------------------------------------------------------------------

    def situations(self) -> list[Situation]:
        """Every connected group of two or more nominals, by id; a nominal linked to no one is in none."""
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.get(x, x) != x:
                parent[x] = parent.get(parent[x], parent[x])
                x = parent[x]
            return x

        for a, b in sorted(self.links):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        groups: dict[str, list[str]] = {}
        for nominal in sorted({n for pair in self.links for n in pair}):
            groups.setdefault(find(nominal), []).append(nominal)
        return sorted((self._situation(members) for members in groups.values()), key=lambda s: s.situation_id)

    def situation_of(self, nominal: str) -> Situation | None:
        return next((s for s in self.situations() if nominal in s.members), None)

    def _situation(self, members: list[str]) -> Situation:
        oldest = min(members, key=lambda n: (self.first_seen.get(n, math.inf), n))
        in_group = set(members)
        links = tuple(
            (a, b, tuple(sorted(link.kinds)), tuple(sorted(link.events)))
            for (a, b), link in sorted(self.links.items()) if a in in_group
        )
        events = sorted({e for n in members for e in self.events.get(n, [])})
        return Situation(
            situation_id=situation_id(oldest),
            members={n: self.role(n) for n in members},
            events=tuple(event for _, event in events),
            links=links,
            first_seen=self.first_seen.get(oldest, 0.0),
        )

    def role(self, nominal: str) -> str:
        """What the events make of a nominal: a suspected controller or a possible victim when they agree."""
        made = {_ROLE_OF_MENTION.get(role, UNKNOWN) for role in self.roles.get(nominal, {})} - {UNKNOWN}
        return made.pop() if len(made) == 1 else UNKNOWN

    def _merges(self, before: dict[str, set[str]]) -> list[tuple[str, str]]:
        merged = []
        for situation in self.situations():
            absorbed = sorted(sid for sid, members in before.items()
                              if sid != situation.situation_id and members <= set(situation.members))
            merged += [(sid, situation.situation_id) for sid in absorbed]
        for old, new in merged:
            self.names[old] = new
        return merged

    # -- persistence -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "links": [[a, b, link.strength, link.seen, sorted(link.events), sorted(link.kinds), sorted(link.via)]
                      for (a, b), link in sorted(self.links.items())],
            "first_seen": dict(sorted(self.first_seen.items())),
            "roles": {n: dict(sorted(r.items())) for n, r in sorted(self.roles.items())},
            "events": {n: [list(e) for e in es] for n, es in sorted(self.events.items())},
            "holders": {i: sorted(h) for i, h in sorted(self.holders.items())},
            "names": dict(sorted(self.names.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Links:
        links = cls()
        links.now = float(data["now"])
        for a, b, strength, seen, events, kinds, via in data["links"]:
            links.links[(a, b)] = Link(strength, seen, set(events), set(kinds), set(via))
        links.first_seen = dict(data["first_seen"])
        links.roles = {n: dict(r) for n, r in data["roles"].items()}
        links.events = {n: [(t, e) for t, e in es] for n, es in data["events"].items()}
        links.holders = {i: set(h) for i, h in data["holders"].items()}
        links.names = dict(data["names"])
        return links


def situation_id(oldest_member: str) -> str:
    """A situation's id: from its oldest member, so the same group has the same id wherever it is computed.

    >>> situation_id("N-1") == situation_id("N-1"), len(situation_id("N-1"))
    (True, 20)
    """
    return "sit-" + hashlib.sha256(oldest_member.encode()).hexdigest()[:16]


def members_named(situations: Iterable[Situation]) -> set[str]:
    return {n for s in situations for n in s.members}
