"""Risk scoring: progressive validation with delayed labels, and the model step's throughput. Prints JSON.

    python benchmarks/score.py [--events 20000] [--seed 1]

The simulator's ``mixed`` scenario is enriched event by event in arrival
order; each mention is resolved to the person the truth file names (so the
figures measure scoring, not matching) and its nominal's features updated.
river.evaluate.progressive_val_score then predicts each event's score before
learning, and learns each label only when the analyst would have recorded it
(event time plus the truth's label delay). ROC AUC is against the truth
(network events positive, background negative), under the msht profile.
Throughput is the model step alone (score and learn) on one core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from river import base, evaluate, metrics

from toex_stream.domain import contract
from toex_stream.domain.enrich import enrich
from toex_stream.domain.scoring.model import RiskModel
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.state import features, new_state, observe_match
from toex_stream.tools.simulate import encode, simulate

THREAT = "msht"


class Wrapped(base.Classifier):
    """A RiskModel seen by river.evaluate: x carries the features (and the timing keys it strips)."""

    def __init__(self, model: RiskModel) -> None:
        self.model = model

    @staticmethod
    def _features(x: dict) -> dict:
        return {k: v for k, v in x.items() if k not in ("t", "delay")}

    def learn_one(self, x: dict, y: bool) -> None:
        self.model.learn(self._features(x), y)

    def predict_proba_one(self, x: dict) -> dict:
        p = self.model.score(self._features(x)).probability
        return {True: p, False: 1.0 - p}


def match_for(observation: contract.Observation, mention: contract.Mention, person_id: str) -> contract.MatchResult:
    return contract.MatchResult(
        schema_version=1, mention_id=mention.mention_id, observation_id=observation.observation_id,
        source=observation.source, event_ref=observation.event_ref, occurred_at=observation.occurred_at,
        role=mention.role, decision="match", nominal_id=person_id, provisional=False, probability=1.0,
        prior_weight=0.0, weights=[], candidates=1, model_version="truth", places=observation.places,
        facts=observation.facts, phones=mention.phones,
    )


def labelled_stream(events: int, seed: int) -> list[tuple[dict, bool]]:
    """(features with timing, label) per scored mention, in arrival order."""
    sim = simulate("mixed", events, seed)
    states: dict[str, dict] = {}
    rows = []
    for offset, event in enumerate(sim.events()):
        observation = enrich(event.topic, event.key.encode(), encode(event.value), partition=0, offset=offset)
        assert isinstance(observation, contract.Observation)
        truth = event.truth()
        positive = truth["outcome"] in ("confirmed", "safeguarded", "arrest")
        for mention, person_id in zip(observation.mentions, event.persons, strict=True):
            state = states.setdefault(person_id, new_state())
            observe_match(state, match_for(observation, mention, person_id))
            x = features(state)
            x["t"] = event.arrival.timestamp()
            x["delay"] = event.label_delay_days * 86_400.0
            rows.append((x, positive))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    profile = load_profiles()[THREAT]

    started = time.perf_counter()
    rows = labelled_stream(args.events, args.seed)
    features_s = time.perf_counter() - started

    cold = metrics.ROCAUC()
    for x, y in rows:
        cold.update(y, RiskModel(profile).score(Wrapped._features(x)).probability)

    model = RiskModel(profile)
    auc = evaluate.progressive_val_score(
        dataset=rows, model=Wrapped(model), metric=metrics.ROCAUC(),
        moment=lambda x: dt.datetime.fromtimestamp(x["t"], dt.timezone.utc),
        delay=lambda x, _y: dt.timedelta(seconds=x["delay"]),
    )

    step = RiskModel(profile)
    plain = [(Wrapped._features(x), y) for x, y in rows]
    started = time.perf_counter()
    for x, y in plain:
        step.score(x)
        step.learn(x, y)
    step_s = time.perf_counter() - started

    print(json.dumps({
        "benchmark": "score",
        "scenario": "mixed",
        "events": args.events,
        "scored_mentions": len(rows),
        "positives": sum(y for _, y in rows),
        "threat": THREAT,
        "roc_auc_progressive_delayed": round(auc.get(), 4),
        "roc_auc_cold_start_only": round(cold.get(), 4),
        "labels_learnt": model.labels,
        "model_step_events_per_s": round(len(plain) / step_s),
        "features_and_enrich_events_per_s": round(len(rows) / features_s),
        "target_model_step_events_per_s": 20_000,
    }, indent=1))


if __name__ == "__main__":
    main()
