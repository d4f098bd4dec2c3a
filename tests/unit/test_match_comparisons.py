"""The comparisons are declared once, in ``COMPARISONS``: compare() lands on each level the table names.

A pair chosen for every level of every comparison must read, in the
waterfall, as that level's label; so the order compare() returns its levels in
and the table's order cannot drift apart. The table's default m and u are the
parameters the default model has always had (its version is pinned), and the
term counts kept nominal by nominal are those counted over all nominals at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from toex_stream.domain.matching.model import COMPARISONS, FIELD_NAMES, FellegiSunter, compare
from toex_stream.domain.matching.records import MatchRecord, NameVariant


def person(given: str = "reka", family: tuple[str, ...] = ("kovacs",), **fields: Any) -> MatchRecord:
    return MatchRecord("r", names=(NameVariant((given,), family),), **fields)


BORN = dt.date(1990, 4, 5)
# (comparison, the level's label, query, candidate)
CASES: list[tuple[str, str, MatchRecord, MatchRecord]] = [
    ("given_name", "exact", person("reka"), person("reka")),
    ("given_name", "nickname of the same name", person("zoli"), person("zoltan")),
    ("given_name", "similar (Jaro-Winkler >= 0.92)", person("jonathan"), person("jonathon")),
    ("given_name", "loosely similar (>= 0.80)", person("maria"), person("marta")),
    ("given_name", "different", person("reka"), person("olivia")),
    ("family_name", "exact", person(), person()),
    ("family_name", "similar (>= 0.92) or part of a double name", person(family=("nagy", "kovacs")), person()),
    ("family_name", "loosely similar (>= 0.80)", person(family=("smith",)), person(family=("smyth",))),
    ("family_name", "different", person(), person(family=("clarke",))),
    ("date_of_birth", "exact", person(dob=BORN), person(dob=BORN)),
    ("date_of_birth", "day and month swapped", person(dob=BORN), person(dob=dt.date(1990, 5, 4))),
    ("date_of_birth", "one part differs", person(dob=BORN), person(dob=dt.date(1991, 4, 5))),
    ("date_of_birth", "stated age consistent", person(birth_years=(1989, 1990)), person(dob=BORN)),
    ("date_of_birth", "different", person(dob=BORN), person(dob=dt.date(1975, 10, 20))),
    ("date_of_birth", "stated age inconsistent", person(birth_years=(1960, 1961)), person(dob=BORN)),
    ("phone", "a number in common", person(phones=frozenset({"+447700900123", "+447700900456"})),
     person(phones=frozenset({"+447700900123"}))),
    ("phone", "different numbers", person(phones=frozenset({"+447700900123"})),
     person(phones=frozenset({"+447700900456"}))),
    ("email", "an address in common", person(emails=frozenset({"reka@example.com"})),
     person(emails=frozenset({"reka@example.com"}))),
    ("email", "different addresses", person(emails=frozenset({"reka@example.com"})),
     person(emails=frozenset({"r.k@example.com"}))),
    ("postcode", "same postcode", person(postcode="B1 1AA", district="B1"), person(postcode="B1 1AA", district="B1")),
    ("postcode", "same postcode district", person(postcode="B1 1AA", district="B1"),
     person(postcode="B1 2BB", district="B1")),
    ("postcode", "different", person(postcode="B1 1AA", district="B1"), person(postcode="CV1 1AA", district="CV1")),
    ("address", "same address (token set >= 0.90)", person(address="12 high street birmingham"),
     person(address="12 high street birmingham")),
    ("address", "similar address (>= 0.70)", person(address="12 high street birmingham"),
     person(address="14 high road birmingham")),
    ("address", "different", person(address="12 high street birmingham"), person(address="3 mill lane leeds")),
    ("gender", "same", person(gender="female"), person(gender="female")),
    ("gender", "different", person(gender="female"), person(gender="male")),
]


@pytest.mark.parametrize(("field", "label", "query", "candidate"), CASES,
                         ids=[f"{field}: {label}" for field, label, *_ in CASES])
def test_each_level_reads_as_the_label_the_table_gives_it(field, label, query, candidate):
    levels, values = compare(query, candidate)
    assert len(levels) == len(COMPARISONS)
    weights = {w.field: w.level for w in FellegiSunter().weights(levels, values)}
    assert weights[field] == label


def test_the_cases_reach_every_level_of_every_comparison():
    declared = {(c.name, level.label) for c in COMPARISONS for level in c.levels}
    assert {(field, label) for field, label, *_ in CASES} == declared


def test_a_field_either_side_lacks_has_no_level():
    levels, _ = compare(MatchRecord("q"), MatchRecord("c"))
    assert levels == (None,) * len(COMPARISONS)


def test_the_default_parameters_are_the_table_and_the_version_every_earlier_model_had():
    model = FellegiSunter()
    assert model.version() == "fs-bfe135d2ee"  # a default model written before the table loads the same
    parameters = json.loads(model.to_json())
    assert sorted(parameters["m"]) == sorted(parameters["u"]) == sorted(FIELD_NAMES)
    for comparison in COMPARISONS:
        assert parameters["m"][comparison.name] == [level.m for level in comparison.levels]
        assert parameters["u"][comparison.name] == [level.u for level in comparison.levels]


def test_term_counts_kept_nominal_by_nominal_are_those_counted_at_once():
    nominals = [
        person("reka", ("kovacs",), phones=frozenset({"+447700900123"}), postcode="B1 1AA"),
        MatchRecord("n2", names=(NameVariant(("zoli",), ("nagy", "kovacs")), NameVariant(("zoltan",), ())),
                    emails=frozenset({"z@example.com"}), postcode="B1 1AA"),
        person("anna", ("nagy",), phones=frozenset({"+447700900123", "+447700900456"})),
    ]
    nominals = [dataclasses.replace(n, record_id=f"n{i}") for i, n in enumerate(nominals)]
    at_once, one_by_one = FellegiSunter(), FellegiSunter()
    at_once.count_terms(nominals)
    for nominal in nominals:
        one_by_one.count_record(nominal, +1)
    assert one_by_one.population == at_once.population == 3
    assert one_by_one.term_counts == at_once.term_counts
    assert at_once.term_counts["given_name"]["zoltan"] == 1  # two variants, one canonical name: counted once
    assert at_once.term_counts["phone"]["+447700900123"] == 2
    one_by_one.count_record(nominals[0], -1)
    assert +one_by_one.term_counts["postcode"] == {"B1 1AA": 1}
