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
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from toex_stream.errors import ToexError
from toex_stream.matching.dates import day_month_swapped
from toex_stream.matching.records import MatchRecord, NameVariant

Levels = tuple[int | None, ...]

FIELDS: dict[str, tuple[str, ...]] = {
    "given_name": ("exact", "nickname of the same name", "similar (Jaro-Winkler >= 0.92)",
                   "loosely similar (>= 0.80)", "different"),
    "family_name": ("exact", "similar (>= 0.92) or part of a double name", "loosely similar (>= 0.80)", "different"),
    "date_of_birth": ("exact", "day and month swapped", "one part differs", "stated age consistent", "different",
                      "stated age inconsistent"),
    "phone": ("a number in common", "different numbers"),
    "email": ("an address in common", "different addresses"),
    "postcode": ("same postcode", "same postcode district", "different"),
    "address": ("same address (token set >= 0.90)", "similar address (>= 0.70)", "different"),
    "gender": ("same", "different"),
}
FIELD_NAMES = tuple(FIELDS)
# Fields whose exact level is weighed by the value's frequency among nominals.
TF_FIELDS = {"given_name": 0, "family_name": 0, "phone": 0, "email": 0, "postcode": 0}
_TF_INDEX = frozenset(i for i, name in enumerate(FIELD_NAMES) if name in TF_FIELDS)

DEFAULT_M: dict[str, list[float]] = {
    "given_name": [0.82, 0.06, 0.06, 0.03, 0.03],
    "family_name": [0.86, 0.08, 0.03, 0.03],
    "date_of_birth": [0.80, 0.03, 0.10, 0.04, 0.02, 0.01],
    "phone": [0.70, 0.30],
    "email": [0.80, 0.20],
    "postcode": [0.70, 0.10, 0.20],
    "address": [0.70, 0.15, 0.15],
    "gender": [0.98, 0.02],
}
DEFAULT_U: dict[str, list[float]] = {
    "given_name": [0.01, 0.002, 0.01, 0.05, 0.928],
    "family_name": [0.005, 0.005, 0.03, 0.96],
    "date_of_birth": [0.0001, 0.0001, 0.003, 0.05, 0.90, 0.0468],
    "phone": [0.0001, 0.9999],
    "email": [0.0001, 0.9999],
    "postcode": [0.0005, 0.01, 0.9895],
    "address": [0.0005, 0.01, 0.9895],
    "gender": [0.5, 0.5],
}
PROBABILITY_FLOOR = 1e-6


# -- comparing two records ----------------------------------------------------------------


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
    """Comparison levels of a pair (None where either side lacks the field), and the agreeing values."""
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
    """``given`` as immutable rows, checked against :data:`FIELDS`: one probability per comparison level."""
    if set(given) != set(FIELDS):
        missing, unknown = sorted(set(FIELDS) - set(given)), sorted(set(given) - set(FIELDS))
        raise MatchModelError(f"{which} must give every field of {', '.join(FIELD_NAMES)} and no other "
                              f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})")
    rows = {}
    for name in FIELD_NAMES:
        row = tuple(given[name])  # as given, not coerced: the version hashes the values as written
        if len(row) != len(FIELDS[name]):
            raise MatchModelError(f"{which}[{name!r}] has {len(row)} probabilities; it needs one per level, "
                                  f"{len(FIELDS[name])}: {', '.join(FIELDS[name])}")
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
            term_counts if term_counts is not None else {f: Counter() for f in TF_FIELDS}
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
            [self.level_weight(name, level) for level in range(len(FIELDS[name]))] for name in FIELD_NAMES
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
                count = self.term_counts[name].get(values.get(name, ""), 0)
                if count > 1:
                    total += math.log2(self._m_exact[i] / max(count / self.population, self._u[name][0]))
                    continue
            total += self._table[i][level]
        return total

    def level_weight(self, field_name: str, level: int) -> float:
        m = max(self._m[field_name][level], PROBABILITY_FLOOR)
        u = max(self._u[field_name][level], PROBABILITY_FLOOR)
        return math.log2(m / u)

    def weights(self, levels: Levels, values: dict[str, str]) -> list[FieldWeight]:
        out = []
        for name, level in zip(FIELD_NAMES, levels, strict=True):
            if level is None:
                continue
            weight = self.level_weight(name, level)
            adjusted = False
            if level == 0 and name in TF_FIELDS and self.population:
                count = self.term_counts[name].get(values.get(name, ""), 0)
                if count > 1:
                    # Term-frequency adjustment: u of an exact agreement on a value several
                    # nominals share is the value's share of the population, never below the
                    # level's own u. A value only one nominal holds keeps the level's weight:
                    # in a small population count/N would overstate how common it is.
                    u_value = max(count / self.population, self._u[name][0])
                    weight = math.log2(max(self._m[name][0], PROBABILITY_FLOOR) / u_value)
                    adjusted = True
            out.append(FieldWeight(name, FIELDS[name][level], weight, adjusted))
        return out

    @property
    def prior(self) -> float:
        return min(0.5, self._match_rate / max(self.population, 1))

    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def probability(self, weights: Iterable[FieldWeight]) -> float:
        total = self.prior_weight() + sum(w.weight for w in weights)
        return 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0

    # -- estimation --

    def count_terms(self, records: Iterable[MatchRecord]) -> None:
        """Term frequencies of the values an exact agreement can be on."""
        counts: dict[str, Counter[str]] = {f: Counter() for f in TF_FIELDS}
        population = 0
        for record in records:
            population += 1
            counts["given_name"].update({v.canonical for v in record.names if v.given})
            counts["family_name"].update({v.family_text for v in record.names if v.family})
            counts["phone"].update(record.phones)
            counts["email"].update(record.emails)
            if record.postcode:
                counts["postcode"][record.postcode] += 1
        self.term_counts, self.population = counts, population

    def estimate_u(self, records: Sequence[MatchRecord], pairs: int = 20_000, seed: int = 0) -> None:
        """u from random pairs of distinct records (nearly all non-matches), smoothed."""
        if len(records) < 30:
            return
        rng = random.Random(seed)
        counts = {f: [1.0] * len(levels) for f, levels in FIELDS.items()}  # add-one smoothing
        for _ in range(pairs):
            a, b = rng.sample(range(len(records)), 2)
            levels, _ = compare(records[a], records[b])
            for name, level in zip(FIELD_NAMES, levels, strict=True):
                if level is not None:
                    counts[name][level] += 1
        self.u = {name: [c / sum(row) for c in row] for name, row in counts.items()}  # refreshes

    def estimate_m(self, pair_levels: Iterable[Levels], mentions: int, iterations: int = 40) -> dict[str, float]:
        """m and the match rate by EM over the candidate pairs of ``mentions`` mentions, u held fixed.

        The prior EM finds is that of a candidate pair; times the pairs per
        mention it gives the expected matches per mention (the match rate).
        """
        patterns = Counter(pair_levels)
        if not patterns or not mentions:
            return {"pairs": 0}
        total = sum(patterns.values())
        prior = 0.05
        m = {k: list(v) for k, v in self._m.items()}
        for _ in range(iterations):
            sums = {f: [0.1] * len(levels) for f, levels in FIELDS.items()}  # a small Dirichlet prior
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
            prior = min(max(expected_matches / total, 1e-6), 0.5)
        self._m = _parameters("m", m)
        self._match_rate = min(1.0, prior * total / mentions)
        self.refresh()
        return {"pairs": total, "patterns": len(patterns), "pair_prior": prior, "match_rate": self.match_rate}

    # -- persistence --

    def to_json(self) -> str:
        """The parameters as JSON: what :func:`~toex_stream.matching.model_files.write_model` writes."""
        return json.dumps({"m": self._m, "u": self._u, "match_rate": self._match_rate}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FellegiSunter:
        data = json.loads(text)
        return cls(m=data["m"], u=data["u"], match_rate=data["match_rate"])

    def version(self) -> str:
        """A short content hash of the parameters as they are now: the same parameters always give the same version."""
        return self._version


