"""The situation step's state: the links between nominals, and what each nominal's latest scores say.

A :class:`Book` is a fold over ``toex.situation-input`` (one partition): each
``scored`` message adds its event's evidence to the :class:`Links` and keeps
its scores as the nominal's latest under each threat; an ``erased`` one
forgets the nominal. Reading the same messages in the same order gives the
same book, so the live agent rebuilds it by reading the topic again when it
takes the partition, and replay builds its own as it goes. Reading a message
twice changes nothing.

>>> import datetime as dt
>>> from toex_stream.domain import contract
>>> at = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
>>> evidence = contract.SituationEvidence(event="toex.referrals:p:R-1", at=at,
...     members=[("N-boss", "suspect"), ("N-w1", "potential_victim")])
>>> book = Book()
>>> book.add(contract.SituationInput(schema_version=1, kind="scored", nominal_id="N-w1", evidence=evidence))
[]
>>> sorted(book.members_of("N-w1"))
['N-boss', 'N-w1']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from toex_stream.domain import contract
from toex_stream.domain.alerting.suppression import unsilenceable
from toex_stream.domain.scoring.profiles import ThreatProfile
from toex_stream.domain.situations.evidence import as_evidence
from toex_stream.domain.situations.links import DAY, WINDOW_DAYS, Links, Situation, situation_id


@dataclass(frozen=True)
class Latest:
    """A nominal's latest score under one threat, as much of it as a situation's alert needs."""

    risk: float
    band: str
    region: str
    force_code: str | None
    at: float
    event: str
    reasons: tuple[contract.Reason, ...]
    model_version: str
    critical_rules: bool  # a child, immediate risk: the profile's always-critical features set


def _latest(score: contract.Score, critical: bool) -> Latest:
    return Latest(score.risk_score, score.band, score.region, score.force_code, score.occurred_at.timestamp(),
                  f"{score.event_ref.topic}:{score.event_ref.key}", tuple(score.reasons), score.model_version,
                  critical)


class Book:
    """Links, each nominal's latest score per threat, and the regions (and when) its scored events were in."""

    def __init__(self) -> None:
        self.links = Links()
        self.scores: dict[str, dict[str, Latest]] = {}
        self.regions: dict[str, dict[str, float]] = {}
        self.next_offset = 0  # the live agent's: the next offset of its partition not yet folded in

    def add(self, item: contract.SituationInput,
            profiles: Mapping[str, ThreatProfile] | None = None) -> list[tuple[str, str]]:
        """Fold one message in; the (merged, surviving) situation ids of any merge its evidence caused.

        A score meets a critical rule when its profile's always-critical
        features are set or it is about a child (``profiles`` tells which).
        """
        if item.kind == "erased":
            self.forget(item.nominal_id)
            return []
        if item.kind != "scored":
            return []
        merges: list[tuple[str, str]] = []
        if item.evidence is not None:
            evidence = as_evidence(item.evidence)
            # A nominal linked to no one has a situation of its own (it may have an alert): joining a
            # group is a merge too, which the links do not report (they know groups of two or more).
            alone = sorted({n for n, _ in evidence.members} | {n for n, _ in evidence.identifiers})
            alone = [n for n in alone if n in self.scores and self.links.situation_of(n) is None]
            merges = self.links.observe(evidence)
            for nominal in alone:
                joined = self.links.situation_of(nominal)
                if joined is not None and joined.situation_id != situation_id(nominal):
                    merges.append((situation_id(nominal), joined.situation_id))
        critical = {s.threat for s in item.scores if unsilenceable(s.band, s.features) == "a child"
                    or (profiles is not None and s.threat in profiles
                        and profiles[s.threat].critical_rules(s.features))}
        for score in item.scores:
            held = self.scores.setdefault(score.nominal_id, {})
            known = held.get(score.threat)
            if known is None or score.occurred_at.timestamp() >= known.at:
                held[score.threat] = _latest(score, score.threat in critical)
            regions = self.regions.setdefault(score.nominal_id, {})
            regions[score.region] = max(regions.get(score.region, 0.0), score.occurred_at.timestamp())
        return merges

    def forget(self, nominal: str) -> None:
        self.links.forget(nominal)
        self.scores.pop(nominal, None)
        self.regions.pop(nominal, None)

    def situation(self, nominal: str) -> Situation | None:
        """The situation ``nominal`` is in; None when it is linked to no one."""
        return self.links.situation_of(nominal)

    def members_of(self, nominal: str) -> list[str]:
        found = self.situation(nominal)
        return sorted(found.members) if found is not None else [nominal]

    def regions_of(self, members: Iterable[str]) -> list[str]:
        """The regions the members' scored events were in over the window (UNKNOWN only when there is no other)."""
        since = self.links.now - WINDOW_DAYS * DAY
        found = {region for n in members for region, at in self.regions.get(n, {}).items() if at >= since}
        known = found - {"UNKNOWN"}
        return sorted(known or found)
