"""Fellegi–Sunter match weights: comparison levels, m and u probabilities, EM, term frequencies.

Each field of a pair of records falls into one comparison level (exact,
similar, different, or missing). A level carries the weight log2(m/u), where m
is the chance of that level among true matches and u among non-matches. u is
estimated from random pairs of nominals (almost all non-matches); m and the
prior by expectation–maximisation over blocked candidate pairs. An exact
agreement on a value is weighed by how rare the value is (term frequency): a
shared "Smith" or a hotel switchboard counts for less than a rare name or a
personal mobile. The weights add up with the prior log-odds to a calibrated
match probability, and each field's weight is kept, so a decision reads as a
waterfall.

Each comparison is declared once, as data, in :data:`COMPARISONS`: its levels
with their labels and default m and u, and the values its term frequencies
count. The parameter rows, the model file's keys and the waterfall's labels are
all read from there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from toex_stream.domain.errors import ToexError
from toex_stream.domain.matching.dates import day_month_swapped
from toex_stream.domain.matching.records import MatchRecord, NameVariant

Levels = tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class Level:
    """One comparison level: how a waterfall names it, and its default m and u."""

    label: str
    m: float
    u: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """One field as two records are compared on it: its levels, from most to least alike.

    :func:`compare` gives a pair the index of its level in ``levels`` (None
    where either record lacks the field). A comparison with ``terms`` (the
    values of a record an exact agreement can be on) is term-frequency adjusted:
    its first level, an exact agreement, is weighed by how many nominals hold
    the agreed value.
    """

    name: str
    levels: tuple[Level, ...]
    terms: Callable[[MatchRecord], Iterable[str]] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)


# The model's comparisons, in the order of the levels :func:`compare` returns. Everything else about
# them (the parameter rows, the model file's keys, the term counts, the waterfall's labels) derives
# from this table.
COMPARISONS: tuple[Comparison, ...] = (
    Comparison("given_name", (
        Level("exact", m=0.82, u=0.01),
        Level("nickname of the same name", m=0.06, u=0.002),
        Level("similar (Jaro-Winkler >= 0.92)", m=0.06, u=0.01),
        Level("loosely similar (>= 0.80)", m=0.03, u=0.05),
        Level("different", m=0.03, u=0.928),
    ), terms=lambda record: {v.canonical for v in record.names if v.given}),
    Comparison("family_name", (
        Level("exact", m=0.86, u=0.005),
        Level("similar (>= 0.92) or part of a double name", m=0.08, u=0.005),
        Level("loosely similar (>= 0.80)", m=0.03, u=0.03),
        Level("different", m=0.03, u=0.96),
    ), terms=lambda record: {v.family_text for v in record.names if v.family}),
    Comparison("date_of_birth", (
        Level("exact", m=0.80, u=0.0001),
        Level("day and month swapped", m=0.03, u=0.0001),
        Level("one part differs", m=0.10, u=0.003),
        Level("stated age consistent", m=0.04, u=0.05),
        Level("different", m=0.02, u=0.90),
        Level("stated age inconsistent", m=0.01, u=0.0468),
    )),
    Comparison("phone", (
        Level("a number in common", m=0.70, u=0.0001),
        Level("different numbers", m=0.30, u=0.9999),
    ), terms=lambda record: record.phones),
    Comparison("email", (
        Level("an address in common", m=0.80, u=0.0001),
        Level("different addresses", m=0.20, u=0.9999),
    ), terms=lambda record: record.emails),
    Comparison("postcode", (
        Level("same postcode", m=0.70, u=0.0005),
        Level("same postcode district", m=0.10, u=0.01),
        Level("different", m=0.20, u=0.9895),
    ), terms=lambda record: (record.postcode,) if record.postcode else ()),
    Comparison("address", (
        Level("same address (token set >= 0.90)", m=0.70, u=0.0005),
        Level("similar address (>= 0.70)", m=0.15, u=0.01),
        Level("different", m=0.15, u=0.9895),
    )),
    Comparison("gender", (
        Level("same", m=0.98, u=0.5),
        Level("different", m=0.02, u=0.5),
    )),
)
FIELD_NAMES = tuple(c.name for c in COMPARISONS)
# The term-frequency adjusted comparisons: their names and terms, and their positions in a pair's levels.
TERMS: tuple[tuple[str, Callable[[MatchRecord], Iterable[str]]], ...] = tuple(
    (c.name, c.terms) for c in COMPARISONS if c.terms is not None
)
_TF_INDEX = frozenset(i for i, c in enumerate(COMPARISONS) if c.terms is not None)
DEFAULT_M = MappingProxyType({c.name: tuple(level.m for level in c.levels) for c in COMPARISONS})
DEFAULT_U = MappingProxyType({c.name: tuple(level.u for level in c.levels) for c in COMPARISONS})
PROBABILITY_FLOOR = 1e-6
# The match rate λ the prior uses is held below this: 1 − λ is the chance a mention is no one known,
# and a model that ruled it out would take a mention's only candidate for it however weak the evidence.
MATCH_RATE_CAP = 0.99
# Below this many nominals a value's share of them says little about how common it is: a value one
# nominal of twenty holds is not rare. Term frequencies then never weigh more than the level's own u.
TF_MIN_POPULATION = 1_000
# How many random pairs' worth of evidence the default u of each level counts for when u is estimated.
U_PRIOR_PAIRS = 1_000


def term_u(count: int, population: int, level_u: float) -> float | None:
    """u of an exact agreement on a value ``count`` of ``population`` nominals hold; None: the level's own.

    Term-frequency adjustment: u is the chance a random nominal holds the value,
    its share of the population, so a rare name weighs more than the level's
    average and a shared "Smith" or a hotel switchboard less (a value no nominal
    holds counts as one). In a population under :data:`TF_MIN_POPULATION` a
    share overstates how common a value is: there u is never below the level's
    own, and a value only one nominal holds keeps the level's weight.

    >>> term_u(1, 100_000, 0.005), term_u(500, 100_000, 0.005), term_u(1, 20, 0.005), term_u(2, 20, 0.005)
    (1e-05, 0.005, None, 0.1)
    """
    if population >= TF_MIN_POPULATION:
        return max(count, 1) / population
    if count > 1:
        return max(count / population, level_u)
    return None


# -- comparing two records ----------------------------------------------------------------
# Each level function returns the index of a level in its comparison's ``levels`` above.


def _given_level(x: str, x_canonical: str, y: str, y_canonical: str) -> tuple[int | None, float]:
    if not x or not y:
        return None, 0.0
    if x == y:
        return 0, 1.0
    if x_canonical == y_canonical:
        return 1, 0.97
    similarity = JaroWinkler.normalized_similarity(x, y)
    if similarity >= 0.92:
        return 2, similarity
    if similarity >= 0.80:
        return 3, similarity
    return 4, similarity


def _family_level(a: tuple[str, ...], x: str, b: tuple[str, ...], y: str) -> tuple[int | None, float]:
    if not x or not y:
        return None, 0.0
    if x == y:
        return 0, 1.0
    similarity = JaroWinkler.normalized_similarity(x, y)
    if len(a) + len(b) > 2:
        if set(a) & set(b):
            return 1, max(similarity, 0.95)
        similarity = max(similarity, max(JaroWinkler.normalized_similarity(s, t) for s in a for t in b))
    if similarity >= 0.92:
        return 1, similarity
    if similarity >= 0.80:
        return 2, similarity
    return 3, similarity


def _align(q: Sequence[NameVariant], c: Sequence[NameVariant]) -> tuple[int | None, int | None, str, str]:
    """Best name alignment over variants and both orders: (given level, family level, given, family)."""
    best: tuple[float, int | None, int | None, str, str] = (-1.0, None, None, "", "")
    for qv in q:
        q_given = qv.given[0] if qv.given else ""
        q_family_first = qv.family[0] if qv.family else ""
        for cv in c:
            c_given = cv.given[0] if cv.given else ""
            # As written, then family-name-first (the given name recorded in the family field).
            given_level, given_sim = _given_level(q_given, qv.canonical, c_given, cv.canonical)
            family_level, family_sim = _family_level(qv.family, qv.family_text, cv.family, cv.family_text)
            score = given_sim + family_sim
            if score > best[0]:
                best = (score, given_level, family_level, cv.canonical, cv.family_text)
            if score >= 2.0:
                continue
            given_level, given_sim = _given_level(q_family_first, qv.family_canonical, c_given, cv.canonical)
            family_level, family_sim = _family_level(qv.given, qv.given_text, cv.family, cv.family_text)
            score = given_sim + family_sim - 0.01
            if score > best[0]:
                best = (score, given_level, family_level, cv.canonical, cv.family_text)
    return best[1], best[2], best[3], best[4]


def _dob_level(q: MatchRecord, c: MatchRecord) -> int | None:
    a, b = q.dob, c.dob
    if a is not None and b is not None:
        if a == b:
            return 0
        if day_month_swapped(a, b):
            return 1
        same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
        if same == 2 or (a.month == b.month and a.day == b.day and abs(a.year - b.year) <= 1):
            return 2
        return 4
    years, dob = (q.birth_years, b) if q.birth_years is not None else (c.birth_years, a)
    if years is not None and dob is not None:
        return 3 if years[0] - 1 <= dob.year <= years[1] + 1 else 5
    return None


def _set_level(a: frozenset[str], b: frozenset[str]) -> tuple[int | None, str]:
    if not a or not b:
        return None, ""
    common = a & b
    return (0, min(common)) if common else (1, "")


def compare(q: MatchRecord, c: MatchRecord) -> tuple[Levels, dict[str, str]]:
    """A pair's level on each of :data:`COMPARISONS`, in that order (None where either side lacks the field),
    and the value each term-frequency adjusted comparison agrees on (what its ``terms`` count)."""
    given_level, family_level, given, family = _align(q.names, c.names)
    phone_level, phone = _set_level(q.phones, c.phones)
    email_level, email = _set_level(q.emails, c.emails)
    if q.postcode and c.postcode:
        postcode_level = 0 if q.postcode == c.postcode else 1 if q.district and q.district == c.district else 2
    else:
        postcode_level = None
    if q.address and c.address:
        ratio = token_set_ratio(q.address, c.address) / 100
        address_level = 0 if ratio >= 0.9 else 1 if ratio >= 0.7 else 2
    else:
        address_level = None
    gender_level = None if not q.gender or not c.gender else 0 if q.gender == c.gender else 1
    values = {"given_name": given, "family_name": family, "phone": phone, "email": email,
              "postcode": c.postcode or ""}
    levels = (given_level, family_level, _dob_level(q, c), phone_level, email_level, postcode_level,
              address_level, gender_level)
    return levels, values


# -- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldWeight:
    """One bar of the waterfall: a field's level and the evidence it adds, in bits."""

    field: str
    level: str
    weight: float
    term_frequency_adjusted: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 3),
                "tf_adjusted": self.term_frequency_adjusted}


class MatchModelError(ToexError):
    """Match model parameters that do not fit the comparison levels (a hand-edited or foreign model file)."""


Parameters = Mapping[str, tuple[float, ...]]


def _parameters(which: str, given: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    """``given`` as immutable rows, checked against :data:`COMPARISONS`: one probability per comparison level."""
    if set(given) != set(FIELD_NAMES):
        missing, unknown = sorted(set(FIELD_NAMES) - set(given)), sorted(set(given) - set(FIELD_NAMES))
        raise MatchModelError(f"{which} must give every field of {', '.join(FIELD_NAMES)} and no other "
                              f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})")
    rows = {}
    for comparison in COMPARISONS:
        name, labels = comparison.name, comparison.labels
        row = tuple(given[name])  # as given, not coerced: the version hashes the values as written
        if len(row) != len(labels):
            raise MatchModelError(f"{which}[{name!r}] has {len(row)} probabilities; it needs one per level, "
                                  f"{len(labels)}: {', '.join(labels)}")
        rows[name] = row
    return rows


class FellegiSunter:
    """m and u per comparison level, the prior, and term frequencies of exact values.

    The parameters (``m``, ``u``, ``match_rate``) are the model: :meth:`version`
    is a hash of them, and every match decision carries it. So that the version
    can never describe other parameters than the ones a decision was weighed
    with, they change only by assignment or through the estimating methods,
    each of which recomputes the weight table and the version at once; the rows
    are tuples and the mappings read-only, so they cannot be edited in place.

    ``term_counts`` and ``population`` describe the nominals matched against,
    not the model: they change with every nominal and are not in the version
    (replay tells a difference in the nominals from one in the model).

    >>> model = FellegiSunter()
    >>> before = model.version()
    >>> model.match_rate = 0.25
    >>> model.version() != before
    True
    """

    def __init__(
        self,
        m: Mapping[str, Sequence[float]] | None = None,
        u: Mapping[str, Sequence[float]] | None = None,
        match_rate: float = 0.5,
        term_counts: dict[str, Counter[str]] | None = None,
        population: int = 0,
    ) -> None:
        self._m = _parameters("m", DEFAULT_M if m is None else m)
        self._u = _parameters("u", DEFAULT_U if u is None else u)
        # Expected true matches per mention: the prior that a mention and one given
        # nominal are the same person is this over the number of nominals.
        self._match_rate = match_rate
        self.term_counts: dict[str, Counter[str]] = (
            term_counts if term_counts is not None else {name: Counter() for name, _ in TERMS}
        )
        self.population = population
        self.refresh()

    def __repr__(self) -> str:
        return (
            f"FellegiSunter(version={self._version!r}, match_rate={self._match_rate!r}, "
            f"population={self.population})"
        )

    @property
    def m(self) -> Parameters:
        """The chance of each comparison level among true matches, per field (read-only)."""
        return MappingProxyType(self._m)

    @m.setter
    def m(self, value: Mapping[str, Sequence[float]]) -> None:
        self._m = _parameters("m", value)
        self.refresh()

    @property
    def u(self) -> Parameters:
        """The chance of each comparison level among non-matches, per field (read-only)."""
        return MappingProxyType(self._u)

    @u.setter
    def u(self, value: Mapping[str, Sequence[float]]) -> None:
        self._u = _parameters("u", value)
        self.refresh()

    @property
    def match_rate(self) -> float:
        """Expected true matches per mention."""
        return self._match_rate

    @match_rate.setter
    def match_rate(self, value: float) -> None:
        self._match_rate = value
        self.refresh()

    # -- scoring --

    def refresh(self) -> None:
        """Recompute the weight table and the version from the parameters; every change to them calls it."""
        self._table = [
            [self.level_weight(c.name, level) for level in range(len(c.levels))] for c in COMPARISONS
        ]
        self._m_exact = [max(self._m[name][0], PROBABILITY_FLOOR) for name in FIELD_NAMES]
        self._version = "fs-" + hashlib.sha256(self.to_json().encode()).hexdigest()[:10]

    def total_weight(self, levels: Levels, values: dict[str, str]) -> float:
        """The sum of field weights (prior excluded), without building the waterfall: the hot path."""
        total = 0.0
        for i, level in enumerate(levels):
            if level is None:
                continue
            if level == 0 and i in _TF_INDEX and self.population:
                name = FIELD_NAMES[i]
                u_value = term_u(self.term_counts[name].get(values.get(name, ""), 0), self.population,
                                 self._u[name][0])
                if u_value is not None:
                    total += math.log2(self._m_exact[i] / u_value)
                    continue
            total += self._table[i][level]
        return total

    def level_weight(self, field_name: str, level: int) -> float:
        m = max(self._m[field_name][level], PROBABILITY_FLOOR)
        u = max(self._u[field_name][level], PROBABILITY_FLOOR)
        return math.log2(m / u)

    def weights(self, levels: Levels, values: dict[str, str]) -> list[FieldWeight]:
        out = []
        for comparison, level in zip(COMPARISONS, levels, strict=True):
            if level is None:
                continue
            name = comparison.name
            weight = self.level_weight(name, level)
            adjusted = False
            if level == 0 and comparison.terms is not None and self.population:
                u_value = term_u(self.term_counts[name].get(values.get(name, ""), 0), self.population,
                                 self._u[name][0])
                if u_value is not None:
                    weight = math.log2(max(self._m[name][0], PROBABILITY_FLOOR) / u_value)
                    adjusted = True
            out.append(FieldWeight(name, comparison.levels[level].label, weight, adjusted))
        return out

    def prior_weight(self) -> float:
        """The prior log-odds, in bits, that a mention is a given nominal against its being no one known.

        log2((λ/N) / (1 − λ)): the odds of the hypothesis "this nominal" against
        "no nominal", which the candidates compete for (see :meth:`alternatives_weight`).
        λ, the match rate, is the share of mentions that are someone in the index,
        held below :data:`MATCH_RATE_CAP` so that no mention is taken for certain
        to be someone known; spread evenly over the N nominals, it is λ/N each.
        """
        rate = min(self._match_rate, MATCH_RATE_CAP)
        return math.log2(rate / max(self.population, 1) / (1 - rate))

    def alternatives_weight(self, others: Iterable[float]) -> float:
        """What the other candidates take from the best one's log-odds, in bits (0 or less).

        A mention is one nominal at most, so the candidates share the
        probability: P(best) = 2^(p + w_best) / (1 + Σ_j 2^(p + w_j)) over every
        candidate j, p the prior weight and w each candidate's field weights.
        This is the best one's odds, 2^(p + w_best), divided by
        (1 + Σ_{others} 2^(p + w_j)): a namesake as likely as the best candidate
        halves its odds; unlikely ones take nothing.
        """
        prior = self.prior_weight()
        rest = math.fsum(2.0 ** min(prior + w, 1000.0) for w in others)
        return -math.log2(1.0 + rest) if rest > 0 else 0.0

    def probability(self, weights: Iterable[FieldWeight]) -> float:
        total = self.prior_weight() + sum(w.weight for w in weights)
        return 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0

    # -- estimation --

    def count_terms(self, records: Iterable[MatchRecord]) -> None:
        """Term frequencies of the values an exact agreement can be on."""
        counts: dict[str, Counter[str]] = {name: Counter() for name, _ in TERMS}
        population = 0
        for record in records:
            population += 1
            for name, terms in TERMS:
                counts[name].update(terms(record))
        self.term_counts, self.population = counts, population

    def count_record(self, record: MatchRecord, sign: int) -> None:
        """Count one nominal's values in (``sign`` +1) or out (-1) of the term frequencies."""
        for name, terms in TERMS:
            self.term_counts[name].update({term: sign for term in terms(record)})
        self.population += sign

    def estimate_u(self, records: Sequence[MatchRecord], pairs: int = 20_000, seed: int = 0) -> None:
        """u from random pairs of distinct records (nearly all non-matches), smoothed toward the defaults.

        Each level starts with :data:`U_PRIOR_PAIRS` pairs' worth of its default
        u, so that a few nominals cannot give a level a u no pair showed (37
        nominals sampled 20,000 times gave "loosely similar given names" a u of
        1/20,000, +9 bits), and many outweigh the defaults. When there are no more
        distinct pairs than ``pairs``, every pair is compared once.
        """
        if len(records) < 30:
            return
        rng = random.Random(seed)
        counts = {c.name: [U_PRIOR_PAIRS * level.u for level in c.levels] for c in COMPARISONS}
        n = len(records)
        chosen = (itertools.combinations(range(n), 2) if n * (n - 1) // 2 <= pairs
                  else (rng.sample(range(n), 2) for _ in range(pairs)))
        for a, b in chosen:
            levels, _ = compare(records[a], records[b])
            for name, level in zip(FIELD_NAMES, levels, strict=True):
                if level is not None:
                    counts[name][level] += 1
        self.u = {name: [c / sum(row) for c in row] for name, row in counts.items()}  # refreshes

    def estimate_m(self, pair_levels: Iterable[Levels], mentions: int, iterations: int = 40) -> dict[str, float]:
        """m and the match rate by EM over ``mentions`` mentions' pairs, u held fixed.

        Give each mention's best candidate pair (:meth:`Matcher.train` does): a
        mention is one nominal at most, and over every candidate pair the
        non-matches that happen to share a name swamp the matches, which EM then
        learns as its "match" class (FEBRL 4 on names and dates of birth: m of
        "dates of birth differ" 0.45, where it is 0.04). The prior EM finds is
        that of a pair; times the pairs per mention it gives the expected matches
        per mention (the match rate).
        """
        patterns = Counter(pair_levels)
        if not patterns or not mentions:
            return {"pairs": 0}
        total = sum(patterns.values())
        prior = 0.05
        m = {k: list(v) for k, v in self._m.items()}
        for _ in range(iterations):
            sums = {c.name: [0.1] * len(c.levels) for c in COMPARISONS}  # a small Dirichlet prior
            expected_matches = 0.0
            for pattern, count in patterns.items():
                log_m = math.log(prior)
                log_u = math.log(1 - prior)
                for name, level in zip(FIELD_NAMES, pattern, strict=True):
                    if level is not None:
                        log_m += math.log(max(m[name][level], PROBABILITY_FLOOR))
                        log_u += math.log(max(self._u[name][level], PROBABILITY_FLOOR))
                posterior = 1.0 / (1.0 + math.exp(min(700.0, log_u - log_m)))
                expected = posterior * count
                expected_matches += expected
                for name, level in zip(FIELD_NAMES, pattern, strict=True):
                    if level is not None:
                        sums[name][level] += expected
            m = {name: [s / sum(row) for s in row] for name, row in sums.items()}
            prior = min(max(expected_matches / total, 1e-6), 0.999)
        self._m = _parameters("m", m)
        self._match_rate = min(1.0, prior * total / mentions)
        self.refresh()
        return {"pairs": total, "patterns": len(patterns), "pair_prior": prior, "match_rate": self.match_rate}

    # -- persistence --

    def to_json(self) -> str:
        """The parameters as JSON: what :func:`~toex_stream.domain.matching.model_files.write_model` writes."""
        return json.dumps({"m": self._m, "u": self._u, "match_rate": self._match_rate}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FellegiSunter:
        data = json.loads(text)
        return cls(m=data["m"], u=data["u"], match_rate=data["match_rate"])

    def version(self) -> str:
        """A short content hash of the parameters as they are now: the same parameters always give the same version."""
        return self._version


