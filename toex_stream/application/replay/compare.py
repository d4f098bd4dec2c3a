"""Set a replay against what was recorded for the same events, and say why each difference arose.

The recorded side is what the live system wrote on ``toex.matches``,
``toex.scores`` and ``toex.alerts`` for the events replayed, or another
replay's report. Each side is reduced to :class:`Outcomes`: per mention its
match decision, per mention and threat its score, and per alert its latest
state (the whole alert: its situation's members, events, threats and bands),
compared byte for byte. A difference names its cause where one shows:

- ``match``: the mention resolved to another nominal, or with another decision (a score or alert difference);
- ``nominals``: a match decision differs with the same match model: the nominals known then differed;
- ``model``: the model version differs (another River model, or another match model for a match);
- ``profile``: the threat profile differs (version or content: another threshold);
- ``routes``: the routing configuration differs (alerts only);
- ``not recorded``: the other side has nothing for the event (not yet processed, or outside its range);
- ``state``: none of these: the nominal's history before the range, processing order, or silences.

>>> replayed = Outcomes(scores={("e#0", "msht"): {"band": "high", "risk_score": 0.7, "model_version": "msht@v1/l0",
...     "profile_version": "msht@v1", "nominal_id": "N-1", "event": "e"}},
...     events={"e"}, config={"profiles": {"msht": {"version": "msht@v1", "sha256": "b"}}})
>>> recorded = Outcomes(scores={("e#0", "msht"): {"band": "medium", "risk_score": 0.7, "model_version": "msht@v1/l0",
...     "profile_version": "msht@v1", "nominal_id": "N-1", "event": "e"}},
...     events={"e"}, config={"profiles": {"msht": {"version": "msht@v1", "sha256": "a"}}})
>>> [(d["what"], d["causes"]) for d in differences(replayed, recorded)]
[('score', ['profile'])]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from toex_stream.application.replay.core import Record
from toex_stream.domain import contract

SCORE_TOLERANCE = 1e-6  # scores are rounded to 6 places on both sides

MatchKey = str  # mention id
ScoreKey = tuple[str, str]  # mention id, threat
AlertKey = str  # alert id


@dataclass
class Outcomes:
    """One side of a comparison, keyed so that both sides line up."""

    matches: dict[MatchKey, dict[str, Any]] = field(default_factory=dict)
    scores: dict[ScoreKey, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[AlertKey, dict[str, Any]] = field(default_factory=dict)  # the alert's latest state (JSON)
    events: set[str] = field(default_factory=set)  # observation ids
    config: Record = field(default_factory=dict)


def _event_of(mention_id: str) -> str:
    return mention_id.rpartition("#")[0]


def add_replayed(outcomes: Outcomes, record: Record) -> None:
    """Add one report record's outcomes (an event's; a header's configuration; anything else is ignored)."""
    if record.get("kind") == "replay":
        outcomes.config = record.get("configuration", {})
        return
    if record.get("kind") != "event" or record["observation"] is None:
        return
    event = record["observation"]["observation_id"]
    outcomes.events.add(event)
    for match in record["matches"]:
        outcomes.matches[match["mention_id"]] = {k: match[k] for k in ("decision", "nominal_id", "review_nominal_id",
                                                                        "probability", "model_version")}
    for score in record["scores"]:
        outcomes.scores[(score["mention_id"], score["threat"])] = {
            "band": score["band"], "risk_score": score["risk_score"], "model_version": score["model_version"],
            "profile_version": score["profile_version"], "nominal_id": score["nominal_id"], "event": event,
        }
    for alert in record["alerts"]:
        outcomes.alerts[alert["alert_id"]] = alert["alert"]  # the records are in order: the last is the latest


def outcomes_of_report(records: Iterable[Record], config: Record | None = None) -> Outcomes:
    """A replay's outcomes from its records (a header record, if among them, gives the configuration)."""
    outcomes = Outcomes(config=dict(config or {}))
    for record in records:
        add_replayed(outcomes, record)
    return outcomes


def live_outcomes(
    matches: Iterable[contract.MatchResult],
    scores: Iterable[contract.Score],
    alerts: Iterable[contract.Alert],
    events: set[str],
    config: Record,
) -> Outcomes:
    """What the live system recorded for ``events`` (observation ids); anything about other events is ignored.

    A redelivered event can appear twice on a topic: the first record counts, as the scorer drops the repeat.
    """
    outcomes = Outcomes(config=config)
    for match in matches:
        if match.observation_id in events:
            outcomes.events.add(match.observation_id)
            outcomes.matches.setdefault(match.mention_id, {
                "decision": match.decision, "nominal_id": match.nominal_id,
                "review_nominal_id": match.review_nominal_id, "probability": match.probability,
                "model_version": match.model_version,
            })
    for score in scores:
        event = f"{score.event_ref.topic}:{score.event_ref.key}"
        if event in events:
            outcomes.scores.setdefault((score.mention_id, score.threat), {
                "band": score.band, "risk_score": score.risk_score, "model_version": score.model_version,
                "profile_version": score.profile_version, "nominal_id": score.nominal_id, "event": event,
            })
    for alert in alerts:
        if not any(f"{ref.topic}:{ref.key}" in events for ref in alert.event_refs):
            continue
        held = outcomes.alerts.get(alert.alert_id)
        if held is None or alert.version >= held["version"]:
            outcomes.alerts[alert.alert_id] = alert.model_dump(mode="json")
    return outcomes


def _profile_differs(replayed: Outcomes, recorded: Outcomes, threat: str) -> bool:
    mine = replayed.config.get("profiles", {}).get(threat)
    theirs = recorded.config.get("profiles", {}).get(threat)
    return bool(mine and theirs and mine != theirs)


def _score_causes(replayed: Outcomes, recorded: Outcomes, key: ScoreKey) -> list[str]:
    mention, threat = key
    mine, theirs = replayed.scores.get(key), recorded.scores.get(key)
    causes = []
    if _event_of(mention) not in recorded.events or _event_of(mention) not in replayed.events:
        return ["not recorded"]
    if replayed.matches.get(mention, {}).get("nominal_id") != recorded.matches.get(mention, {}).get("nominal_id") \
            or replayed.matches.get(mention, {}).get("decision") != recorded.matches.get(mention, {}).get("decision"):
        causes.append("match")
    if mine and theirs and mine["model_version"] != theirs["model_version"]:
        causes.append("model")
    if (mine and theirs and mine["profile_version"] != theirs["profile_version"]) \
            or _profile_differs(replayed, recorded, threat):
        causes.append("profile")
    return causes


def _or_state(causes: list[str]) -> list[str]:
    return causes or ["state"]


def differences(replayed: Outcomes, recorded: Outcomes, tolerance: float = SCORE_TOLERANCE) -> list[Record]:
    """Every match, score and alert that differs between the two sides, with its causes, in a stable order."""
    found: list[Record] = []
    for mention in sorted(replayed.matches.keys() | recorded.matches.keys()):
        mine, theirs = replayed.matches.get(mention), recorded.matches.get(mention)
        decided = [{k: side[k] for k in ("decision", "nominal_id", "review_nominal_id")} if side else None
                   for side in (mine, theirs)]
        if decided[0] != decided[1]:
            if mine is None or theirs is None:
                causes = ["not recorded"]
            else:
                causes = ["model"] if mine["model_version"] != theirs["model_version"] else ["nominals"]
            found.append({"kind": "difference", "what": "match", "event": _event_of(mention), "mention_id": mention,
                          "replay": mine, "recorded": theirs, "causes": causes})
    for key in sorted(replayed.scores.keys() | recorded.scores.keys()):
        mine, theirs = replayed.scores.get(key), recorded.scores.get(key)
        same = mine is not None and theirs is not None and mine["band"] == theirs["band"] \
            and abs(mine["risk_score"] - theirs["risk_score"]) <= tolerance
        if not same:
            found.append({"kind": "difference", "what": "score", "event": _event_of(key[0]), "mention_id": key[0],
                          "threat": key[1], "replay": mine, "recorded": theirs,
                          "causes": _or_state(_score_causes(replayed, recorded, key))})
    routes_differ = bool(replayed.config.get("routes_sha256") and recorded.config.get("routes_sha256")
                         and replayed.config["routes_sha256"] != recorded.config["routes_sha256"])
    for alert_id in sorted(replayed.alerts.keys() | recorded.alerts.keys()):
        mine, theirs = replayed.alerts.get(alert_id), recorded.alerts.get(alert_id)
        if mine == theirs:
            continue
        either = mine or theirs or {}
        events = {f"{ref['topic']}:{ref['key']}" for side in (mine, theirs) if side for ref in side["event_refs"]}
        threats = {t for side in (mine, theirs) if side for t in side.get("threats") or [side["threat"]]}
        causes = []
        if not events & replayed.events or not events & recorded.events:
            causes = ["not recorded"]
        else:
            for (mention, threat), score in sorted(replayed.scores.items()):
                if score["event"] in events and threat in threats:
                    causes += [c for c in _score_causes(replayed, recorded, (mention, threat)) if c not in causes]
            if routes_differ:
                causes.append("routes")
        found.append({"kind": "difference", "what": "alert", "alert_id": alert_id,
                      "situation_id": either.get("situation_id"), "threats": sorted(threats),
                      "replay": mine, "recorded": theirs, "causes": _or_state(causes)})
    return found
