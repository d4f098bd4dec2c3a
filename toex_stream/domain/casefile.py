"""What a reviewer is shown of an alert, worked out: match waterfalls, the network's picture, indicator terms
in an advert's text, intelligence grading, and how an alert grew since someone last looked.

Pure functions over the contract's records; the templates only draw them.

>>> bars = waterfall(-9.0, [{"field": "given_name", "level": "exact", "weight": 6.0},
...                         {"field": "date_of_birth", "level": "different", "weight": -2.0}])
>>> [(b.label, b.start, b.end) for b in bars]
[('prior (before any field)', 0.0, -9.0), ('given_name: exact', -9.0, -3.0), ('date_of_birth: different', -3.0, -5.0)]
>>> grading({"source_evaluation": 1, "intelligence_assessment": "B", "handling_code": "P"})
'1 / B / P'
>>> grew(version_seen=2, events_seen=3, members_seen=2, version=4, events=6, members=3)
'grew: 3 new events, 1 new person'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toex_stream.domain.scoring.indicators import IndicatorHit, Lexicon, fold, fold_pattern

__all__ = [
    "Bar", "Edge", "Network", "Node", "Segment", "drawn", "grading", "grew", "highlight", "linked_to", "network",
    "probability",
    "waterfall",
]

_ROLE_ORDER = {"suspected_controller": 0, "possible_victim": 1, "unknown": 2}


@dataclass(frozen=True)
class Bar:
    """One step of a match's log-odds, from ``start`` to ``end``."""

    label: str
    weight: float
    start: float
    end: float


def waterfall(prior_weight: float | None, weights: Sequence[Mapping[str, Any]]) -> list[Bar]:
    """The prior, then each field's weight added in turn: where the match's log-odds came from."""
    bars, at = [], 0.0
    if prior_weight is not None:
        bars.append(Bar("prior (before any field)", round(prior_weight, 3), 0.0, round(prior_weight, 3)))
        at = round(prior_weight, 3)
    for item in weights:
        weight = round(float(item.get("weight", 0.0)), 3)
        bars.append(Bar(f"{item.get('field', '?')}: {item.get('level', '?')}", weight, at, round(at + weight, 3)))
        at = round(at + weight, 3)
    return bars


def probability(log_odds: float) -> float:
    """The probability a log-odds stands for.

    >>> round(probability(0.0), 2)
    0.5
    """
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))


def grading(facts: Mapping[str, Any] | None) -> str:
    """Intelligence's 3x5x2 grading (source evaluation, intelligence assessment, handling code); '' for others."""
    if not facts or facts.get("source_evaluation") is None:
        return ""
    return " / ".join(str(facts.get(k) or "?") for k in ("source_evaluation", "intelligence_assessment",
                                                           "handling_code"))


def grew(*, version_seen: int, events_seen: int, members_seen: int, version: int, events: int,
         members: int) -> str:
    """How an alert changed since a user last saw it; '' when it did not."""
    if version <= version_seen and events <= events_seen and members <= members_seen:
        return ""
    parts = []
    if events > events_seen:
        parts.append(f"{events - events_seen} new event{'s' if events - events_seen != 1 else ''}")
    if members > members_seen:
        new = members - members_seen
        parts.append(f"{new} new {'person' if new == 1 else 'people'}")
    return "grew: " + (", ".join(parts) if parts else "updated")


# -- the network ------------------------------------------------------------------------------

_LINKED = re.compile(r"^(?P<kinds>.+) with (?P<other>\S+) \((?P<events>\d+) events?\)$")


def linked_to(text: str) -> tuple[str, str, int] | None:
    """A member's ``linked_by`` text read back: (kinds, the other nominal, events).

    >>> linked_to("named together, shared phone with prov-1a (3 events)")
    ('named together, shared phone', 'prov-1a', 3)
    """
    found = _LINKED.match(text)
    return (found["kinds"], found["other"], int(found["events"])) if found else None


@dataclass(frozen=True)
class Node:
    number: int
    nominal_id: str
    role: str
    x: float
    y: float


@dataclass(frozen=True)
class Edge:
    a: Node
    b: Node
    kinds: str
    events: int


@dataclass(frozen=True)
class Network:
    nodes: list[Node]
    edges: list[Edge]
    size: int  # the picture's width and height


def network(members: Iterable[Mapping[str, Any]], size: int = 360) -> Network:
    """Members placed for a picture: suspected controllers in the middle, the others around them, numbered
    (the legend names them), and a line for each link. Deterministic: the same alert, the same picture."""
    ordered = sorted(members, key=lambda m: (_ROLE_ORDER.get(m.get("role", "unknown"), 3), m["nominal_id"]))
    centre = size / 2
    inner = [m for m in ordered if m.get("role") == "suspected_controller"]
    outer = [m for m in ordered if m.get("role") != "suspected_controller"]
    if not outer:
        inner, outer = [], inner
    nodes: dict[str, Node] = {}

    def ring(group: list[Mapping[str, Any]], radius: float, turn: float) -> None:
        for i, member in enumerate(group):
            if len(group) == 1 and radius < size / 4:
                x, y = centre, centre
            else:
                angle = 2 * math.pi * i / max(1, len(group)) + turn
                x, y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
            nodes[member["nominal_id"]] = Node(len(nodes) + 1, member["nominal_id"], member.get("role", "unknown"),
                                               round(x, 1), round(y, 1))

    ring(inner, size * 0.14, -math.pi / 2)
    ring(outer, size * 0.40, -math.pi / 2 + 0.3)
    edges, seen = [], set()
    for member in ordered:
        for text in member.get("linked_by", []):
            link = linked_to(text)
            if link is None or link[1] not in nodes:
                continue
            pair = tuple(sorted((member["nominal_id"], link[1])))
            if pair not in seen:
                seen.add(pair)
                edges.append(Edge(nodes[pair[0]], nodes[pair[1]], link[0], link[2]))
    return Network(sorted(nodes.values(), key=lambda n: n.number), edges, size)


# -- indicators in an advert --------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    text: str
    hit: IndicatorHit | None = None


def _folded_with_positions(text: str) -> tuple[str, list[int]]:
    """The text folded as the lexicon reads it, character by character, with each folded character's index
    in the original (so a match in the folded text marks the original's characters)."""
    out: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if char.isspace() or (char in "-_" and 0 < i < len(text) - 1 and text[i - 1].isalpha()
                              and text[i + 1].isalpha()):
            piece = " "
        else:
            piece = fold(char) or char
        out.append(piece)
        where += [i] * len(piece)
    return "".join(out), where


def highlight(lexicon: Lexicon, text: str) -> list[Segment]:
    """The text cut where the lexicon's terms are: each found term's segments carry its hit (category,
    weight, rationale), the rest none. Every place a found term occurs is marked."""
    hits = lexicon.extract(text)
    if not hits:
        return [Segment(text)] if text else []
    folded, where = _folded_with_positions(text)
    owner: list[IndicatorHit | None] = [None] * len(text)
    for hit in hits:
        pattern = re.compile(r"(?<![^\W_])(?:" + fold_pattern(lexicon.term(hit.term).pattern) + r")(?![^\W_])")
        for found in pattern.finditer(folded):
            if found.end() <= found.start():
                continue
            for i in range(where[found.start()], where[found.end() - 1] + 1):
                owner[i] = owner[i] or hit
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or owner[i] is not owner[start]:
            segments.append(Segment(text[start:i], owner[start]))
            start = i
    return segments


def drawn(bars: Sequence[Bar], width: float = 400.0,
          margin: float = 8.0) -> tuple[float, list[tuple[Bar, float, float]]]:
    """Where to draw a waterfall's bars across ``width``: the zero line's x, and each bar's x and width.

    >>> zero, placed = drawn(waterfall(-4.0, [{"field": "f", "level": "l", "weight": 8.0}]), width=100, margin=0)
    >>> zero, [(x, w) for _, x, w in placed]
    (50.0, [(0.0, 50.0), (0.0, 100.0)])
    """
    points = [0.0] + [b.start for b in bars] + [b.end for b in bars]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    usable = width - 2 * margin

    def x(value: float) -> float:
        return round(margin + (value - low) / span * usable, 1)

    return x(0.0), [(b, min(x(b.start), x(b.end)), max(1.0, abs(x(b.end) - x(b.start)))) for b in bars]
