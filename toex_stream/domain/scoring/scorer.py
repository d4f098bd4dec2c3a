"""Scoring one match under every threat profile that applies, and turning outcomes into training examples.

The pipeline's score step, which the score agent and replay both run, calls
:meth:`Scorer.score_nominal`; its feedback step calls
:meth:`Scorer.training_examples`; every worker (and replay, rebuilding a
model) calls :meth:`Scorer.learn` on the same examples in the same order.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from toex_stream.domain import contract
from toex_stream.domain.scoring.model import RiskModel
from toex_stream.domain.scoring.profiles import ThreatProfile
from toex_stream.domain.scoring.state import State, features, new_state, observe_match

POSITIVE: frozenset[str] = frozenset({"confirmed", "safeguarded", "arrest"})
NEGATIVE: frozenset[str] = frozenset({"not_relevant"})


def label_of(outcome: str) -> bool | None:
    """True for confirmed/safeguarded/arrest, False for not_relevant, None (no label) for duplicate.

    >>> label_of("arrest"), label_of("not_relevant"), label_of("duplicate")
    (True, False, None)
    """
    if outcome in POSITIVE:
        return True
    if outcome in NEGATIVE:
        return False
    return None


def _where(places: list[contract.Place]) -> tuple[contract.Region, str | None]:
    for place in places:
        if place.region != "UNKNOWN":
            return place.region, place.force_code
    return "UNKNOWN", None


class Scorer:
    """The risk models of every profile, one per threat."""

    def __init__(self, profiles: dict[str, ThreatProfile]) -> None:
        self.models = {threat: RiskModel(profile) for threat, profile in sorted(profiles.items())}

    def profiles(self) -> dict[str, ThreatProfile]:
        return {threat: model.profile for threat, model in self.models.items()}

    def applicable(self, match: contract.MatchResult) -> list[RiskModel]:
        return [
            model for model in self.models.values()
            if model.profile.applies(source=match.source, exploitation_types=list(match.facts.exploitation_types),
                                     threat_tags=list(match.facts.threat_tags))
        ]

    def score_match(self, state: State, match: contract.MatchResult) -> list[contract.Score]:
        """Add the match to the nominal's state and score it; nothing for a redelivered match."""
        if not observe_match(state, match):
            return []
        values = features(state)
        region, force_code = _where(match.places)
        threats = set(state.get("threats", []))
        scores = []
        for model in self.applicable(match):
            risk = model.score(values)
            threats.add(model.profile.id)
            scores.append(contract.Score(
                schema_version=1,
                nominal_id=match.nominal_id,
                threat=model.profile.id,
                profile_version=risk.profile_version,
                model_version=risk.model_version,
                risk_score=round(risk.probability, 6),
                band=risk.band,
                reasons=[contract.Reason(feature=r.feature, contribution=r.contribution, text=r.text)
                         for r in risk.reasons],
                event_ref=match.event_ref,
                mention_id=match.mention_id,
                occurred_at=match.occurred_at,
                region=region,
                force_code=force_code,
                event_count=int(values["adverts_30d"] + values["referrals_30d"] + values["intel_30d"]),
                features={k: v for k, v in values.items() if v},
            ))
        state["threats"] = sorted(threats)
        return scores

    def score_nominal(self, states: MutableMapping[str, State], match: contract.MatchResult) -> list[contract.Score]:
        """Score a match against its nominal's state in ``states``, and put the updated state back.

        ``states`` is the score agent's Faust table or, in replay, a plain dict.
        The state is copied, updated and reassigned, never changed in place, so a
        table's changelog records every change.
        """
        state = dict(states.get(match.nominal_id) or new_state())
        results = self.score_match(state, match)
        states[match.nominal_id] = state
        return results

    def training_examples(self, state: State, feedback: contract.Feedback) -> list[contract.TrainingExample]:
        """The outcome joined with the nominal's current features, once per threat it was scored under."""
        label = label_of(feedback.outcome)
        if label is None or feedback.nominal_id is None or not state.get("events"):
            return []
        values = {k: v for k, v in features(state).items() if v}
        return [
            contract.TrainingExample(schema_version=1, nominal_id=feedback.nominal_id, threat=threat, label=label,
                                     outcome=feedback.outcome, features=values, at=feedback.at)
            for threat in state.get("threats", []) if threat in self.models
        ]

    def learn(self, example: contract.TrainingExample) -> None:
        model = self.models.get(example.threat)
        if model is not None:
            model.learn(example.features, example.label)

    def versions(self) -> dict[str, str]:
        return {threat: model.version for threat, model in self.models.items()}

