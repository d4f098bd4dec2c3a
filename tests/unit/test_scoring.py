"""Risk scores a regional team would check: repeatable, explained, learning, and safe for children."""

from __future__ import annotations

import datetime as dt

import pytest

from toex_stream.domain import contract
from toex_stream.domain.scoring.model import RiskModel
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.domain.scoring.state import features, new_state

START = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
TOWNS = ["Birmingham", "Wolverhampton", "Coventry", "Walsall"]


def match(n: int, nominal_id: str, *, source: str = "advert", role: str = "unknown", days: float = 0,
          facts: contract.EventFacts | None = None, phones: list[str] | None = None,
          flags: list[str] | None = None) -> contract.MatchResult:
    topic = {"advert": "toex.adverts", "referral": "toex.referrals", "intel": "toex.intel"}[source]
    return contract.MatchResult(
        schema_version=1, mention_id=f"{topic}:k{n}#0", observation_id=f"{topic}:k{n}", source=source,
        event_ref=contract.EventRef(topic=topic, key=f"k{n}"), occurred_at=START + dt.timedelta(days=days),
        role=role, decision="match", nominal_id=nominal_id, provisional=False, probability=1.0, prior_weight=0.0,
        weights=[], candidates=1, model_version="fs-test",
        places=[contract.Place(town="Walsall", force_code="west-midlands", region="ROCUWM")],
        facts=facts or contract.EventFacts(), phones=phones or [], nominal_flags=flags or [],
    )


def touring_adverts(nominal_id: str, count: int = 16) -> list[contract.MatchResult]:
    """The headdress pattern: one controller phone, four towns in a week, control and touring wording."""
    return [
        match(n, nominal_id, days=n * 0.4, phones=["+447700900123"], flags=["ocg_member"],
              facts=contract.EventFacts(towns=[TOWNS[n % 4]], indicator_weights={
                  "third_party_control": 1.0, "newness_touring": 0.8}))
        for n in range(count)
    ]


@pytest.fixture
def scorer() -> Scorer:
    return Scorer(load_profiles())


def msht(scores: list[contract.Score]) -> contract.Score:
    return next(s for s in scores if s.threat == "msht")


def test_the_same_stream_scored_twice_gives_the_same_scores():
    first, second = Scorer(load_profiles()), Scorer(load_profiles())
    runs = []
    for scorer in (first, second):
        state, out = new_state(), []
        for m in touring_adverts("N1"):
            out += [s.model_dump() for s in scorer.score_match(state, m)]
        runs.append(out)
    assert runs[0] == runs[1] and len(runs[0]) >= 16


def test_a_redelivered_match_is_not_counted_twice(scorer):
    state = new_state()
    [m] = touring_adverts("N1", 1)
    assert scorer.score_match(state, m)
    assert scorer.score_match(state, m) == []
    assert features(state)["adverts_30d"] == 1


def test_the_touring_pattern_alerts_and_says_why(scorer):
    state = new_state()
    for m in touring_adverts("N1"):
        scores = scorer.score_match(state, m)
    score = msht(scores)
    assert score.band in ("high", "critical")
    assert score.region == "ROCUWM" and score.event_count == 16
    assert len(score.reasons) == 3 and all(r.text for r in score.reasons)
    assert "features" in score.model_dump() and score.features["towns_per_phone_7d"] == 4


def test_the_reasons_are_the_features_that_moved_the_score_most(scorer):
    profile = load_profiles()["msht"]
    state = new_state()
    for m in touring_adverts("N1"):
        scorer.score_match(state, m)
    values = features(state)
    risk = RiskModel(profile).score(values)
    contributions = profile.cold_start_contributions(values)
    top = sorted((k for k, v in contributions.items() if v), key=lambda k: -abs(contributions[k]))[:3]
    assert [r.feature for r in risk.reasons] == top
    # Take away the top reason and the score falls by its contribution's worth.
    without = {**values, top[0]: 0.0}
    assert RiskModel(profile).score(without).probability < risk.probability


@pytest.mark.parametrize("rule", [{"subject_is_child": True}, {"urgency": "immediate_risk"}])
def test_a_child_or_immediate_risk_referral_is_always_critical(scorer, rule):
    facts = contract.EventFacts(**{"exploitation_types": ["sexual"], "urgency": "standard", **rule})
    scores = scorer.score_match(new_state(), match(1, "N2", source="referral", role="potential_victim", facts=facts))
    assert scores and all(s.band == "critical" for s in scores)
    assert all(s.reasons[0].feature in ("referral_child", "referral_immediate_risk") for s in scores)


def test_an_amended_referral_replaces_its_earlier_revision_in_the_score(scorer):
    state = new_state()
    standard = contract.EventFacts(exploitation_types=["labour"], urgency="standard")
    first = match(1, "N3", source="referral", role="potential_victim", facts=standard)
    assert msht(scorer.score_match(state, first)).band != "critical"
    # Revision 1 of the same referral: a new mention id, the same event, now a child.
    amended = first.model_copy(update={
        "mention_id": "toex.referrals:k1@r1#0", "observation_id": "toex.referrals:k1@r1",
        "facts": standard.model_copy(update={"subject_is_child": True})})
    assert msht(scorer.score_match(state, amended)).band == "critical"
    assert features(state)["referrals_30d"] == 1  # counted once, as corrected
    assert scorer.score_match(state, amended) == []  # a redelivered revision is not counted again
    another = match(2, "N3", source="referral", role="potential_victim", facts=standard)
    scorer.score_match(state, another)
    assert features(state)["referrals_30d"] == 2


def test_an_e_graded_report_raises_nothing(scorer):
    baseline = msht(scorer.score_match(new_state(), match(
        1, "N3", source="intel", role="suspect", facts=contract.EventFacts(
            source_evaluation=2, intelligence_assessment="C", threat_tags=["msht"]))))
    graded_e = msht(scorer.score_match(new_state(), match(
        2, "N4", source="intel", role="suspect", facts=contract.EventFacts(
            source_evaluation=1, intelligence_assessment="E", threat_tags=["msht"]))))
    nothing = load_profiles()["msht"].cold_start_probability(dict.fromkeys(features(new_state()), 0.0))
    assert graded_e.band == "low"
    assert graded_e.risk_score <= nothing < baseline.risk_score


def test_the_model_learns_from_outcomes_and_a_checkpoint_restores_it():
    profile = load_profiles()["msht"]
    model = RiskModel(profile)
    state = new_state()
    scorer = Scorer({"msht": profile})
    for m in touring_adverts("N5"):
        scorer.score_match(state, m)
    positive = features(state)
    negative = features(new_state()) | {"adverts_30d": 3.0, "indicator_independence": -2.0}
    before = model.score(positive)
    for n in range(profile.learning.full_weight_labels):
        model.learn(positive if n % 2 else negative, bool(n % 2))
    after = model.score(positive)
    assert after.model_version != before.model_version and after.learned_share == 1.0
    assert after.probability > model.score(negative).probability

    restored = RiskModel(profile)
    restored.restore(model.checkpoint())
    assert restored.score(positive) == model.score(positive)
    assert restored.labels == model.labels


def test_feedback_becomes_training_examples_for_each_threat_scored(scorer):
    state = new_state()
    for m in touring_adverts("N6", 4):
        scorer.score_match(state, m)
    feedback = contract.Feedback(schema_version=1, alert_id="a1", nominal_id="N6", outcome="safeguarded",
                                 analyst_id="analyst-7", at=START)
    examples = scorer.training_examples(state, feedback)
    assert {e.threat for e in examples} >= {"msht"} and all(e.label for e in examples)
    duplicate = feedback.model_copy(update={"outcome": "duplicate"})
    assert scorer.training_examples(state, duplicate) == []
