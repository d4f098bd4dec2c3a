"""Advert indicators: the lexicon finds what adverts say, in three languages, and a bad lexicon is caught."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from toex_stream.domain.errors import ToexError
from toex_stream.domain.scoring.feature_names import INDICATOR_CATEGORIES
from toex_stream.domain.scoring.indicators import Lexicon, LexiconError, fold, fold_pattern, load_lexicon
from toex_stream.tools.simulate import simulate
from toex_stream.tools.simulate import text as sim_text


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


def terms(lexicon: Lexicon, *texts: str) -> set[str]:
    return {hit.term for hit in lexicon.extract(*texts)}


def categories(lexicon: Lexicon, *texts: str) -> set[str]:
    return {hit.category for hit in lexicon.extract(*texts)}


# -- what a user sees on real-looking adverts ---------------------------------------------------


def test_network_advert_with_hungarian_phrases(lexicon: Lexicon) -> None:
    title = "New in town - Bella, 21"
    body = "Hi, I'm Bella. Szia! Young and fresh. My friend answers the phone. Outcalls only with driver."
    hits = lexicon.extract(title, body)
    assert {h.term for h in hits} == {"new_in_town", "greeting_hu", "young_and_fresh", "third_party_answers",
                                      "with_driver"}
    weights = lexicon.category_weights(hits)
    assert weights["third_party_control"] == 0.7
    assert weights["restricted_movement"] == 0.6
    assert weights["youth_language"] == 0.6
    assert weights["newness_touring"] == pytest.approx(0.6 + 0.1)
    assert weights["independence"] == 0.0
    assert {h.language for h in hits} == {"en", "hu"}


def test_romanian_job_offer_is_labour_recruitment(lexicon: Lexicon) -> None:
    advert = "Locuri de muncă în Anglia. Cazare asigurată. Transport gratuit. Nu este nevoie de engleză."
    hits = lexicon.extract("Angajăm urgent", advert)
    assert {h.term for h in hits} == {
        "recruitment_abroad_ro", "hiring_urgently_ro", "free_transport_ro",  # the recruiter arranges everything
        "accommodation_provided_ro", "no_english_needed_ro",  # tied housing, isolation
    }
    assert {h.language for h in hits} == {"ro"}
    weights = lexicon.category_weights(hits)
    assert weights["third_party_control"] > 0.8 and weights["restricted_movement"] == 0.8
    assert all(any(source in h.rationale for source in ("GLA 2015", "ILO 2012", "Polaris 2017")) for h in hits)


def test_independent_worker_scores_negative_and_low(lexicon: Lexicon) -> None:
    title = "Sophie, 34 - Leeds"
    body = ("Hi, I'm Sophie. Independent, I answer my own phone. My own private flat, verified reviews. "
            "Please read my rules before booking. Discreet and friendly. Parking nearby.")
    weights = lexicon.category_weights(lexicon.extract(title, body))
    assert weights["independence"] <= -2.0
    assert all(weight == 0.0 for category, weight in weights.items() if category != "independence")
    assert sum(weights.values()) < 0


def test_ordinary_job_adverts_raise_nothing(lexicon: Lexicon) -> None:
    for phrase in sim_text.ORDINARY_JOBS + ["Warehouse jobs in Corby", "15 min walk from the station"]:
        assert lexicon.extract(phrase) == [], phrase


@pytest.mark.parametrize("text, term", [
    ("Call seven seven zero zero nine zero zero one two three", "digits_as_words"),
    ("Call 0 seven 7 zero 0 nine 0 zero 1 two 3", "digits_as_words"),
    ("ring me: zero SEVEN-seven, double oh, nine oh oh", "digits_as_words"),
    ("Hívj: nulla hét hét nulla nulla kilenc", "digits_as_words_hu"),
    ("Sună: zero șapte șapte zero zero nouă", "digits_as_words_ro"),
    ("07💋700💋900💋123", "digits_with_symbols"),
    ("0️⃣7️⃣7️⃣0️⃣0️⃣9️⃣0️⃣0️⃣1️⃣2️⃣3️⃣", "keycap_digits"),
    ("call ０７７００９００１２３", "styled_digits"),
    ("O7700 900123", "letter_o_for_zero"),
    ("Whatsapp only please", "messaging_app_only"),
    ("Text only, no calls", "text_only"),
    ("No withheld numbers", "no_private_numbers"),
    ("Number is in the last pic", "number_in_photos"),
])
def test_obscured_contact(lexicon: Lexicon, text: str, term: str) -> None:
    hits = {h.term: h.category for h in lexicon.extract(text)}
    assert hits.get(term) == "obscured_contact", hits


@pytest.mark.parametrize("text", [
    "One or two hours, or three", "I have two cats and one dog", "Age 42, 5 foot 6", "5★ 5★ 5★ 5★ reviews",
    "£120 per hour, £80 half hour", "Kettering, Northampton",
])
def test_ordinary_numbers_and_words_are_not_obscured_contact(lexicon: Lexicon, text: str) -> None:
    assert "obscured_contact" not in categories(lexicon, text)


def test_pricing_terms(lexicon: Lexicon) -> None:
    assert terms(lexicon, "Special offer: £50/h, 30 min £35") == {"cheap_offer", "low_price_per_hour",
                                                                  "low_price_half_hour"}
    assert terms(lexicon, "Bareback available") == {"unprotected"}
    assert terms(lexicon, "No bareback, no condom no sex. Safe sex only.") == {"safe_sex_only"}
    assert categories(lexicon, "£150 per hour") == set()


# -- the simulator's phrases are recognised in the category they stand for ---------------------

SIMULATOR_LISTS = [
    ("NEWNESS_TOURING", {"newness_touring"}),
    ("THIRD_PARTY", {"third_party_control"}),
    ("RESTRICTED", {"restricted_movement"}),
    ("YOUTH", {"youth_language"}),
    ("OBSCURED", {"obscured_contact"}),
    # A greeting or a self-description in Hungarian or Romanian in a UK advert marks a recent
    # arrival from abroad; the lexicon counts these phrases under newness and touring.
    ("HUNGARIAN", {"newness_touring"}),
    ("ROMANIAN", {"newness_touring"}),
    ("INDEPENDENT", {"independence"}),
    # Labour recruitment: the recruiter arranges work, travel and papers, or houses and isolates workers.
    ("RECRUITMENT_RO", {"third_party_control", "restricted_movement"}),
]


def formatted(phrase: str) -> str:
    return phrase.format(town="Stoke-on-Trent", spelled=sim_text.spell_number("07700900123"))


@pytest.mark.parametrize("name, expected", SIMULATOR_LISTS, ids=[name for name, _ in SIMULATOR_LISTS])
def test_every_simulator_indicator_phrase_is_recognised(lexicon: Lexicon, name: str, expected: set[str]) -> None:
    for phrase in getattr(sim_text, name):
        found = categories(lexicon, formatted(phrase))
        assert found & expected, f"{name}: {formatted(phrase)!r} hit {found or 'nothing'}"


def test_generic_simulator_phrases_hit_nothing(lexicon: Lexicon) -> None:
    for phrase in sim_text.GENERIC:
        assert lexicon.extract(phrase) == [], phrase


# -- matching rules ------------------------------------------------------------------------------


def test_case_and_diacritics_do_not_matter(lexicon: Lexicon) -> None:
    for variant in ("Új vagyok a városban", "uj vagyok", "UJ  VAGYOK", "Új\tvagyok"):
        assert terms(lexicon, variant) == {"new_in_town_hu"}, variant
    # Romanian s and t with a comma below and with a cedilla are the same letters.
    assert terms(lexicon, "Sunt nouă în oraș") == terms(lexicon, "Sunt nouă în oraş") == {"new_in_town_ro"}
    assert terms(lexicon, "cazare asigurata, fara engleza") == {"accommodation_provided_ro", "no_english_needed_ro"}
    assert fold("Fată din România, ŞI ȚARA") == "fata din romania, si tara"


def test_spacing_and_punctuation_variants(lexicon: Lexicon) -> None:
    for variant in ("NEW-IN-TOWN", "new_in_town", "New 2 town", "new\u200b in\u00a0town", "New in\ntown"):
        assert terms(lexicon, variant) == {"new_in_town"}, variant
    for variant in ("WhatsApp only", "whats app only", "what's app only", "watsapp only", "only on WhatsApp"):
        assert terms(lexicon, variant) == {"messaging_app_only"}, variant
    for variant in ("BBFS", "b-b-f-s", "b.b.f.s", "bareback", "bare back"):
        assert terms(lexicon, variant) == {"unprotected"}, variant


def test_words_must_stand_alone(lexicon: Lexicon) -> None:
    assert lexicon.extract("Canteen staff, renewed contract, anyone") == []


def test_a_term_counts_once_per_advert(lexicon: Lexicon) -> None:
    hits = lexicon.extract("New in town", "New in town! Just arrived, new in town.")
    assert [h.term for h in hits] == ["new_in_town", "just_arrived"]
    assert lexicon.category_weights(hits)["newness_touring"] == pytest.approx(1.2)


def test_overlapping_terms_count_per_category(lexicon: Lexicon) -> None:
    # Different categories at one place both count; within a category the first listed wins there.
    assert terms(lexicon, "Text first, my friend will reply") == {"third_party_answers", "text_only"}
    assert terms(lexicon, "Young and fresh") == {"young_and_fresh"}
    assert terms(lexicon, "Young and fresh, a young lady") == {"young_and_fresh", "young"}


def test_category_weights_has_every_category(lexicon: Lexicon) -> None:
    assert lexicon.category_weights([]) == dict.fromkeys(INDICATOR_CATEGORIES, 0.0)
    weights = lexicon.category_weights(lexicon.extract("No agency. Barely 18."))
    assert list(weights) == list(INDICATOR_CATEGORIES)
    assert weights["independence"] == -0.6 and weights["youth_language"] == 0.9


def reference_terms(lexicon: Lexicon, *texts: str) -> list[str]:
    """The extractor's rules done the slow, obvious way: every term at every place."""
    text = " " + fold(" ".join(texts))
    regexes = [re.compile(f"(?<!\\w)(?:{fold_pattern(t.pattern)})(?!\\w)") for t in lexicon.terms]
    places: dict[int, list[int]] = {}
    for n, regex in enumerate(regexes):
        match = regex.search(text)
        while match is not None:
            places.setdefault(match.start(), []).append(n)
            match = regex.search(text, match.start() + 1)
    first: dict[int, int] = {}
    for place in sorted(places):
        claimed: set[str] = set()
        for n in sorted(places[place]):
            if lexicon.terms[n].category not in claimed:
                claimed.add(lexicon.terms[n].category)
                first.setdefault(n, place)
    order = sorted(first, key=lambda n: (INDICATOR_CATEGORIES.index(lexicon.terms[n].category), first[n], n))
    return [lexicon.terms[n].id for n in order]


def test_the_fast_extractor_finds_exactly_what_trying_every_term_everywhere_finds(lexicon: Lexicon) -> None:
    adverts = [(e.value["title"], e.value["body"]) for e in simulate("mixed", 600, seed=5).events()
               if e.topic == "toex.adverts"]
    rng = random.Random(5)
    phrases = [formatted(p) for name, _ in SIMULATOR_LISTS for p in getattr(sim_text, name)]
    phrases += sim_text.GENERIC + sim_text.RECRUITMENT_EN + [
        "07💋700💋900💋123", "0️⃣7️⃣7️⃣0️⃣0️⃣9️⃣0️⃣0️⃣", "£50/h", "1 hour £60", "24 hours notice", "no bareback",
        "in-call only", "NON STOP", "Tini diáklány, 18 éves", "Fetiță, elevă, 19 ani", "O7700 900123",
    ]
    mixed = [(" ".join(rng.sample(phrases, 6)),) for _ in range(300)]
    assert len(adverts) > 300
    for texts in adverts + mixed:
        assert [h.term for h in lexicon.extract(*texts)] == reference_terms(lexicon, *texts), texts


# -- the bundled lexicon ---------------------------------------------------------------------------


def test_bundled_lexicon_loads_once(lexicon: Lexicon) -> None:
    assert lexicon.version == 1
    assert str(lexicon.updated) == "2026-11-26"
    assert set(lexicon.descriptions) == set(INDICATOR_CATEGORIES)
    assert load_lexicon() is lexicon


def test_every_category_has_at_least_eight_english_terms_and_the_other_languages_where_adverts_use_them(
    lexicon: Lexicon,
) -> None:
    for category in INDICATOR_CATEGORIES:
        english = [t for t in lexicon.terms if t.category == category and t.language == "en"]
        assert len(english) >= 8, category
    languages = {(t.category, t.language) for t in lexicon.terms}
    for category in ("newness_touring", "youth_language", "third_party_control", "restricted_movement"):
        assert {(category, "hu"), (category, "ro")} <= languages, category


def test_every_term_cites_a_listed_source(lexicon: Lexicon) -> None:
    for source in lexicon.sources.values():
        assert source.authors and source.title and 1990 < source.year <= 2026, source.id
    for term in lexicon.terms:
        assert term.rationale and "\n" not in term.rationale, term.id
        assert term.sources, term.id
        for source_id in term.sources:
            assert source_id in lexicon.sources
            source = lexicon.sources[source_id]
            assert source.cite in term.rationale or source.id in term.rationale, term.id


def test_weights_point_the_right_way(lexicon: Lexicon) -> None:
    for term in lexicon.terms:
        if term.category == "independence":
            assert term.weight < 0, term.id
        else:
            assert 0 < term.weight <= 1.0, term.id
        if term.category == "pricing":
            assert term.weight <= 0.5, term.id  # pricing is weak evidence on its own


# -- bad lexicon files -------------------------------------------------------------------------------

GOOD = """\
version: 1
updated: 2026-11-26
sources:
  - id: ibanez2014
    cite: Ibanez & Suthers 2014
    authors: Ibanez, M.; Suthers, D. D.
    year: 2014
    title: Detection of domestic human trafficking indicators and movement trends using content available \
on open internet sources
categories:
  newness_touring:
    description: new in town
    terms:
      - id: new_in_town
        pattern: 'new\\s+(in|to)\\s+(town|the\\s+area)'
        language: en
        weight: 0.6
        rationale: newness language (Ibanez & Suthers 2014)
  independence:
    description: independent work
    terms:
      - id: independent
        pattern: 'independent'
        language: en
        weight: -0.5
        rationale: inverse of third-party control (ibanez2014)
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "indicators.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_small_lexicon_file_loads_and_matches(tmp_path: Path) -> None:
    small = load_lexicon(write(tmp_path, GOOD))
    assert [t.id for t in small.terms] == ["new_in_town", "independent"]
    assert small.term("independent").sources == ("ibanez2014",)
    hits = small.extract("NEW TO THE AREA, independent")
    assert [h.term for h in hits] == ["new_in_town", "independent"]
    assert small.category_weights(hits) == {**dict.fromkeys(INDICATOR_CATEGORIES, 0.0),
                                            "newness_touring": 0.6, "independence": -0.5}


@pytest.mark.parametrize("change, message", [
    (("newness_touring:", "newness_tourng:"),
     r"unknown indicator category 'newness_tourng' \(did you mean 'newness_touring'\?\)"),
    (("(town|the\\s+area)'", "(town|the\\s+area'"), "'new_in_town'.*not a valid regular expression"),
    (("        rationale: newness language (Ibanez & Suthers 2014)\n", ""), "'new_in_town'.*needs a 'rationale'"),
    (("weight: -0.5", "weight: 0.5"), "'independent'.*weight 0.5 must be negative"),
    (("weight: 0.6", "weight: -0.6"), "'new_in_town'.*must be positive in a risk category"),
    (("(Ibanez & Suthers 2014)", "(Smith 2020)"), "'new_in_town'.*cites no listed source"),
    (("id: independent", "id: new_in_town"), "term id 'new_in_town' is used twice"),
    (("version: 1", "version: 2"), "lexicon version 2 is not supported"),
    (("pattern: 'independent'", "pattern: '(?P<x>independent)'"), "'independent'.*backreference or a named group"),
    (("pattern: 'independent'", "pattern: '(independent)?'"), "'independent'.*matches empty text"),
    (("language: en\n        weight: 0.6", "language: english\n        weight: 0.6"), "'new_in_town'.*ISO 639-1"),
    (("weight: 0.6", "weight: high"), "'new_in_town'.*'weight' must be a number"),
    (("        rationale: newness", "        rationle: x\n        rationale: newness"), "unknown key 'rationle'"),
    (("updated: 2026-11-26", "updated: last week"), "'updated' must be a date"),
    (("version: 1\n", "version: 1\n  oops: [\n"), "not valid YAML"),
])
def test_a_bad_lexicon_file_is_a_clear_error(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(LexiconError, match=message) as caught:
        load_lexicon(path)
    assert isinstance(caught.value, ToexError)
    assert str(path) in str(caught.value)


def test_a_missing_lexicon_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="cannot read the indicator lexicon .*missing.yaml"):
        load_lexicon(tmp_path / "missing.yaml")
