"""The in-memory blocking index of nominals and the matcher that decides on each mention.

The index files every nominal under its blocking keys (phonetic name pairs,
date of birth, phone, email, postcode with given initial, family name with
birth year). A mention is looked up under its own keys; the nominals sharing
the most keys are scored with the Fellegi–Sunter model, and the best decides:
``match``, ``possible_match`` (for a person to review) or ``new``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from toex_stream.domain import contract
from toex_stream.domain.matching.model import FellegiSunter, FieldWeight, Levels, compare
from toex_stream.domain.matching.records import MatchRecord, blocking_keys, record_from_nominal

Decision = contract.MatchDecisionKind  # one definition, in the contract

# A key shared by more nominals than this says little (a common name in a common
# year, a switchboard); the other keys still find the right candidates.
MAX_BUCKET = 2_000
MAX_CANDIDATES = 200
MATCH_THRESHOLD = 0.95
REVIEW_THRESHOLD = 0.50
# The other candidates' share of the probability is a line of the waterfall once it is this many bits.
ALTERNATIVES_SHOWN_BITS = 0.01
# A candidate with posterior odds of 2^-RIVAL_BITS or more is checked for being the best one's duplicate.
RIVAL_BITS = 7.0


@dataclass(frozen=True)
class MatchDecision:
    """What was decided for one mention, and why, field by field."""

    mention_id: str
    decision: Decision
    nominal_id: str | None
    probability: float
    prior_weight: float
    weights: tuple[FieldWeight, ...]
    candidates: int
    model_version: str

    @property
    def total_weight(self) -> float:
        return self.prior_weight + sum(w.weight for w in self.weights)

    def waterfall(self) -> str:
        """The decision as a waterfall of evidence in bits, for an analyst.

        Each line is one field: its comparison level and how far it moved the
        log-odds; the prior starts the column and the total ends it.
        """
        lines = [f"{'prior':<14} {'':<42} {self.prior_weight:+7.2f}"]
        running = self.prior_weight
        for w in self.weights:
            running += w.weight
            tf = " (tf)" if w.term_frequency_adjusted else ""
            lines.append(f"{w.field:<14} {w.level + tf:<42} {w.weight:+7.2f}  → {running:+7.2f}")
        lines.append(f"{'total':<14} {'':<42} {running:+7.2f}  = p {self.probability:.4f} → {self.decision}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "mention_id": self.mention_id, "decision": self.decision, "nominal_id": self.nominal_id,
            "probability": round(self.probability, 6), "prior_weight": round(self.prior_weight, 3),
            "weights": [w.as_dict() for w in self.weights], "candidates": self.candidates,
            "model_version": self.model_version,
        }


@dataclass
class MatchIndex:
    """Nominals in comparable form, filed under their blocking keys; kept in step with the store."""

    records: list[MatchRecord | None] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    buckets: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)

    def add(self, record: MatchRecord) -> None:
        """File a nominal (replacing an earlier version with the same id)."""
        if record.record_id in self.positions:
            self.remove(record.record_id)
        position = len(self.records)
        self.records.append(record)
        self.positions[record.record_id] = position
        for key in blocking_keys(record):
            self.buckets.setdefault(key, []).append(position)

    def remove(self, record_id: str) -> MatchRecord | None:
        position = self.positions.pop(record_id, None)
        if position is None:
            return None
        record = self.records[position]
        assert record is not None
        for key in blocking_keys(record):
            bucket = self.buckets.get(key)
            if bucket is not None:
                bucket.remove(position)
                if not bucket:
                    del self.buckets[key]
        self.records[position] = None
        return record

    def holders(self, kind: Literal["p", "e"], value: str) -> list[str]:
        """Ids of the nominals holding a phone (``"p"``) or email (``"e"``)."""
        # A bucket holds only live positions: remove() takes a record out of its buckets before clearing it.
        positions = self.buckets.get((kind, value), ())
        return [self.records[p].record_id for p in positions]  # type: ignore[union-attr]  # live: see above

    def live(self) -> list[MatchRecord]:
        return [r for r in self.records if r is not None]

    def candidates(self, query: MatchRecord, limit: int = MAX_CANDIDATES) -> list[MatchRecord]:
        """Nominals sharing blocking keys with the query, those sharing most first."""
        shared: Counter[int] = Counter()
        # In key order, not set order: a set of strings iterates in a per-process order
        # (hash randomisation), and the order of equal counts must not depend on the process.
        for key in sorted(blocking_keys(query)):
            bucket = self.buckets.get(key)
            if bucket is not None and len(bucket) <= MAX_BUCKET:
                shared.update(bucket)
        return [self.records[p] for p, _ in shared.most_common(limit)]  # type: ignore[misc]  # live, see holders()


@dataclass
class Matcher:
    """Decides on mentions against an index with a Fellegi–Sunter model."""

    index: MatchIndex = field(default_factory=MatchIndex)
    model: FellegiSunter = field(default_factory=FellegiSunter)
    match_threshold: float = MATCH_THRESHOLD
    review_threshold: float = REVIEW_THRESHOLD

    @property
    def model_version(self) -> str:
        """The version of the model's parameters as they are now, however they were last changed.

        Read from the model on every call, never kept here: the worker and
        replay estimate u on ``matcher.model`` directly, and a decision must
        carry the version it was weighed with.
        """
        return self.model.version()

    def load(self, records: Iterable[MatchRecord]) -> None:
        """Index the nominals and count the term frequencies of their values."""
        for record in records:
            self.index.add(record)
        self.model.count_terms(self.index.live())

    def add(self, record: MatchRecord) -> None:
        old = (
            self.index.records[self.index.positions[record.record_id]]
            if record.record_id in self.index.positions
            else None
        )
        self.index.add(record)
        self._count(old, -1)
        self._count(record, +1)

    def remove(self, record_id: str) -> None:
        self._count(self.index.remove(record_id), -1)

    def follow(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one ``toex.nominals`` message, as workers and replay do: file the nominal, or erase it (null value)."""
        if value is None:
            self.remove((key or b"").decode())
        else:
            self.add(record_from_nominal(contract.Nominal.model_validate_json(value)))

    def _count(self, record: MatchRecord | None, sign: int) -> None:
        if record is not None:
            self.model.count_record(record, sign)

    def train(self, mentions: Iterable[MatchRecord], seed: int = 0, rounds: int = 2) -> dict[str, float]:
        """Estimate u from random nominal pairs and m by EM over each mention's best candidate pair.

        The best candidate is chosen by the model as it stands, so a second round
        (``rounds``) chooses again with the m the first one estimated.
        """
        live = self.index.live()
        self.model.count_terms(live)
        self.model.estimate_u(live, seed=seed)
        mentions = list(mentions)
        candidates = [self.index.candidates(mention) for mention in mentions]
        estimate: dict[str, float] = {"pairs": 0}
        for _ in range(rounds):
            pairs: list[Levels] = []
            for mention, found in zip(mentions, candidates, strict=True):
                best: tuple[float, Levels] | None = None
                for candidate in found:
                    levels, values = compare(mention, candidate)
                    total = self.model.total_weight(levels, values)
                    if best is None or total > best[0]:
                        best = (total, levels)
                if best is not None:
                    pairs.append(best[1])
            estimate = self.model.estimate_m(pairs, len(mentions))
        return estimate

    def _rivals(self, best: MatchRecord, totals: list[tuple[float, MatchRecord]]) -> list[float]:
        """The weights of the candidates other than ``best`` that may be someone else.

        One the model takes for the same person as ``best`` (two provisional
        nominals of one phone, a force's duplicate record) is no rival: whichever
        it is, the mention is that person. Only a candidate whose posterior odds
        are at least 2^-RIVAL_BITS is compared with ``best`` for that (the extra
        comparison is the cost); the many unlikely ones count as they are.
        """
        prior = self.model.prior_weight()
        # The same person as best: the pair's log-odds reach the match threshold's.
        same = math.log2(self.match_threshold / (1 - self.match_threshold)) - prior
        rivals = []
        for total, candidate in totals:
            if candidate is best:
                continue
            if prior + total >= -RIVAL_BITS and self.model.total_weight(*compare(best, candidate)) >= same:
                continue
            rivals.append(total)
        return rivals

    def score(self, query: MatchRecord, candidate: MatchRecord) -> tuple[float, tuple[FieldWeight, ...]]:
        """The match probability of one pair, with its waterfall."""
        levels, values = compare(query, candidate)
        weights = tuple(self.model.weights(levels, values))
        return self.model.probability(weights), weights

    def decide(self, query: MatchRecord) -> MatchDecision:
        candidates = self.index.candidates(query)
        best_total, best_candidate = -math.inf, None
        totals: list[tuple[float, MatchRecord]] = []
        for candidate in candidates:
            total = self.model.total_weight(*compare(query, candidate))
            totals.append((total, candidate))
            # Equal evidence for two nominals (two provisional ones of one phone) goes to the lower id:
            # the same choice in every process and whatever order the index was filled in, so a
            # replay, or a worker restarted, decides as the live worker did.
            if total > best_total or (total == best_total and best_candidate is not None
                                      and candidate.record_id < best_candidate.record_id):
                best_total, best_candidate = total, candidate
        best: tuple[float, MatchRecord | None, tuple[FieldWeight, ...]] = (-1.0, None, ())
        if best_candidate is not None:
            # The other candidates share the probability that the mention is someone known.
            alternatives = self.model.alternatives_weight(self._rivals(best_candidate, totals))
            _probability, weights = self.score(query, best_candidate)
            if alternatives <= -ALTERNATIVES_SHOWN_BITS:
                weights += (FieldWeight("alternatives", "other candidates who may be the person instead",
                                        alternatives),)
            best = (self.model.probability(weights), best_candidate, weights)
        probability, nominal, weights = best
        if nominal is None or probability < self.review_threshold:
            decision: Decision = "new"
        elif probability >= self.match_threshold:
            decision = "match"
        else:
            decision = "possible_match"
        return MatchDecision(
            mention_id=query.record_id,
            decision=decision,
            nominal_id=nominal.record_id if nominal is not None and decision != "new" else None,
            probability=max(probability, 0.0),
            prior_weight=self.model.prior_weight(),
            weights=weights if decision != "new" or nominal is not None else (),
            candidates=len(candidates),
            model_version=self.model.version(),
        )
