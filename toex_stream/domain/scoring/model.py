"""The risk model: a transparent cold-start score blended with a River model learning online.

Under a threat profile, a nominal's features give a cold-start log-odds (the
profile's weights, readable by anyone). A River pipeline (StandardScaler then
LogisticRegression) learns from analysts' outcomes; once ``min_labels``
outcomes have been seen, the score moves linearly toward it, reaching it at
``full_weight_labels``. Each score lists the features that moved it most,
each with a sentence, the profile version and the model version. A child
subject or an immediate-risk referral is always critical.

Learning is deterministic: the same labelled examples in the same order give
the same weights, which is how every worker holds the same model.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from typing import Any, Protocol

from river import drift, linear_model, optim, preprocessing

from toex_stream.domain.contract import Band
from toex_stream.domain.scoring.profiles import ThreatProfile, logistic

log = logging.getLogger(__name__)

TOP_REASONS = 3


@dataclass(frozen=True)
class Reason:
    feature: str
    contribution: float  # in log-odds, as blended
    text: str


@dataclass(frozen=True)
class RiskScore:
    probability: float
    band: Band
    reasons: tuple[Reason, ...]
    profile_version: str
    model_version: str
    learned_share: float  # how much of the score came from the learned model (0..1)


class Learner(Protocol):
    """What the model uses of its River pipeline: its steps by name, and learning one example."""

    def __getitem__(self, step: str) -> Any: ...  # River's Pipeline is not annotated: a step of any kind

    def learn_one(self, x: dict[str, float], y: bool) -> None: ...


def _pipeline() -> Learner:
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(
        optimizer=optim.SGD(0.05), l2=0.001, intercept_lr=0.05
    )


@dataclass
class DriftMonitor:
    """ADWIN on the scores and on the positive-label rate; counts changes for the metrics endpoint."""

    scores: drift.ADWIN = field(default_factory=lambda: drift.ADWIN(delta=0.002))
    labels: drift.ADWIN = field(default_factory=lambda: drift.ADWIN(delta=0.002))
    score_drifts: int = 0
    label_drifts: int = 0

    def score(self, threat: str, probability: float) -> None:
        self.scores.update(probability)
        if self.scores.drift_detected:
            self.score_drifts += 1
            log.warning("score drift threat=%s mean=%.4f changes=%d", threat, self.scores.estimation, self.score_drifts)

    def label(self, threat: str, positive: bool) -> None:
        self.labels.update(1.0 if positive else 0.0)
        if self.labels.drift_detected:
            self.label_drifts += 1
            log.warning("label drift threat=%s rate=%.4f changes=%d", threat, self.labels.estimation,
                        self.label_drifts)


@dataclass
class RiskModel:
    """One threat profile's model: cold start, online learner, blend, explanation."""

    profile: ThreatProfile
    learner: Learner = field(default_factory=_pipeline)
    labels: int = 0
    drift: DriftMonitor = field(default_factory=DriftMonitor)

    def __post_init__(self) -> None:
        self._weights = {name: spec.weight for name, spec in self.profile.features.items()}

    @property
    def version(self) -> str:
        """Changes with every label learnt: the same version means the same weights."""
        return f"{self.profile.version_id}/l{self.labels}"

    def learned_share(self) -> float:
        return self.profile.learning.learned_share(self.labels)

    def _learned_contributions(self, x: dict[str, float]) -> tuple[float, dict[str, float]]:
        scaler: preprocessing.StandardScaler = self.learner["StandardScaler"]
        regression: linear_model.LogisticRegression = self.learner["LogisticRegression"]
        scaled = scaler.transform_one(x)
        weights = regression.weights  # a property that copies: read it once
        contributions = {k: weights.get(k, 0.0) * v for k, v in scaled.items()}
        return regression.intercept + sum(contributions.values()), contributions

    def score(self, features: dict[str, float]) -> RiskScore:
        x = self.profile.transform(features)  # once: it is most of the cost of a score
        weights = self._weights
        cold = {name: weights[name] * value for name, value in x.items() if value}
        cold_p = logistic(self.profile.intercept + sum(cold.values()))
        share = self.learned_share()
        if share > 0:
            learned_log_odds, learned = self._learned_contributions(x)
            probability = (1 - share) * cold_p + share * logistic(learned_log_odds)
            keep = 1 - share
            contributions = {k: keep * cold.get(k, 0.0) + share * v for k, v in learned.items()}
        else:
            probability, contributions = cold_p, cold
        band = self.profile.band(probability)
        forced = self.profile.critical_rules(features)
        if forced:
            band = "critical"
            probability = max(probability, self.profile.bands.critical)
        # Sorting (|contribution|, name) pairs: cheaper than a key function, and ties break by name.
        ranked = sorted(((-abs(v), k) for k, v in contributions.items() if v))
        moved = [k for _, k in ranked[:TOP_REASONS]]
        chosen = list(dict.fromkeys(forced + moved))[:TOP_REASONS]
        reasons = tuple(
            Reason(k, round(contributions.get(k, 0.0), 4), self.profile.explain(k, features.get(k, 0.0)))
            for k in chosen
        )
        self.drift.score(self.profile.id, probability)
        return RiskScore(probability, band, reasons, self.profile.version_id, self.version, share)

    def learn(self, features: dict[str, float], positive: bool) -> None:
        self.learner.learn_one(self.profile.transform(features), positive)
        self.labels += 1
        self.drift.label(self.profile.id, positive)

    # -- checkpoints --

    def checkpoint(self) -> bytes:
        """The learned state, to restore after a restart (River models pickle)."""
        return pickle.dumps({"profile": self.profile.version_id, "learner": self.learner, "labels": self.labels})

    def restore(self, blob: bytes) -> None:
        state = pickle.loads(blob)  # safe: our own checkpoint file, never outside input
        if state["profile"] != self.profile.version_id:
            log.warning("checkpoint is for %s, not %s: starting from cold", state["profile"], self.profile.version_id)
            return
        self.learner, self.labels = state["learner"], state["labels"]
