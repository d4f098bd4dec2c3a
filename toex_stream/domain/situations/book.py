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
>>> sorted(book.situation("N-w1").members)
['N-boss', 'N-w1']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from toex_stream.domain import contract
from toex_stream.domain.alerting.suppression import unsilenceable
from toex_stream.domain.scoring.profiles import ThreatProfile
from toex_stream.domain.situations.evidence import as_evidence
from toex_stream.domain.situations.links import DAY, WINDOW_DAYS, Links, Situation


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
    """Links, each nominal's latest score per threat, and the region each scored event was in."""

    def __init__(self) -> None:
        self.links = Links()
        self.scores: dict[str, dict[str, Latest]] = {}
        self.event_regions: dict[str, str] = {}  # event -> the region its place resolved to (scored events)
        self.next_offset = 0  # the live agent's: the next offset of its partition not yet folded in
        self.pruned_day = 0  # the stream-time day of the last pruning

    def add(self, item: contract.SituationInput,
            profiles: Mapping[str, ThreatProfile] | None = None) -> None:
        """Fold one message in.

        A score meets a critical rule when its profile's always-critical
        features are set or it is about a child (``profiles`` tells which).
        """
        if item.kind == "erased":
            self.forget(item.nominal_id)
            return
        if item.kind != "scored":
            return
        if item.evidence is not None:
            self.links.observe(as_evidence(item.evidence))
            self._prune_daily()
        critical = {s.threat for s in item.scores if unsilenceable(s.band, s.features) == "a child"
                    or (profiles is not None and s.threat in profiles
                        and profiles[s.threat].critical_rules(s.features))}
        for score in item.scores:
            held = self.scores.setdefault(score.nominal_id, {})
            known = held.get(score.threat)
            if known is None or score.occurred_at.timestamp() >= known.at:
                held[score.threat] = _latest(score, score.threat in critical)
            self.event_regions[f"{score.event_ref.topic}:{score.event_ref.key}"] = score.region

    def _prune_daily(self) -> None:
        """Once a day of stream time, forget what fell out of the window (a worker runs for months): at the
        same points of the same input, so a replay prunes as the live step did."""
        day = int(self.links.now // DAY)
        if day <= self.pruned_day:
            return
        self.pruned_day = day
        since = self.links.now - WINDOW_DAYS * DAY
        for event in self.links.prune(since):
            self.event_regions.pop(event, None)
        for nominal in [n for n in self.scores if n not in self.links.first_seen]:
            if all(latest.at < since for latest in self.scores[nominal].values()):
                del self.scores[nominal]

    def forget(self, nominal: str) -> None:
        self.links.forget(nominal)
        self.scores.pop(nominal, None)

    def situation(self, nominal: str) -> Situation | None:
        """The situation ``nominal`` is in; None when it is linked to no one."""
        return self.links.situation_of(nominal)

    def region_counts(self, events: Iterable[str]) -> dict[str, int]:
        """How many of ``events`` (scored ones) were in each region."""
        counts: dict[str, int] = {}
        for event in events:
            region = self.event_regions.get(event)
            if region is not None:
                counts[region] = counts.get(region, 0) + 1
        return counts
