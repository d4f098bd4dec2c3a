"""What is known of one nominal over the last 30 days, and the features computed from it.

The state is a plain JSON-able dict (it lives in a Faust table, changelog-backed)
updated by each match that lands. Windows are measured in stream time (the
latest event time seen for the nominal), not the wall clock, so a replay of
the same events computes the same features.

>>> import datetime as dt
>>> state = new_state()
>>> at = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
>>> for day, town in enumerate(["Birmingham", "Walsall", "Coventry"]):
...     _ = observe(state, mention_id=f"m{day}", source="advert", role="unknown",
...                 occurred_at=at + dt.timedelta(days=day), towns=[town], phones=["+447700900123"])
>>> f = features(state)
>>> f["adverts_7d"], f["towns_per_phone_7d"]
(3.0, 3.0)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from toex_stream.domain import contract
from toex_stream.domain.scoring.feature_names import FEATURES, INDICATOR_CATEGORIES, REFERRAL_TYPES

DAY = 86_400.0
WINDOW_DAYS = 30
SEEN_LIMIT = 500  # mention ids remembered to drop redeliveries

# 3x5x2: how far a report's source (1 reliable ... 3 not) and its assessment
# (A known true ... E suspected false) let it count. E counts against.
SOURCE_WEIGHT = {1: 1.0, 2: 0.6, 3: 0.3}
ASSESSMENT_WEIGHT = {"A": 1.0, "B": 0.75, "C": 0.5, "D": 0.25, "E": -1.0}

State = dict[str, Any]
_FLAG_FEATURES = ("visor_registered", "missing_person", "known_victim", "ocg_member")


def new_state() -> State:
    return {"events": [], "flags": [], "linked": 0, "seen": [], "now": 0.0}


def intel_evidence(source_evaluation: int | None, assessment: str | None) -> float:
    """The weight one intelligence report adds.

    >>> intel_evidence(2, "B"), intel_evidence(1, "E")
    (0.45, -1.0)
    """
    if source_evaluation is None or assessment is None:
        return 0.0
    weight = ASSESSMENT_WEIGHT[assessment]
    return round(SOURCE_WEIGHT[source_evaluation] * weight, 4) if weight > 0 else weight


def observe(
    state: State,
    *,
    mention_id: str,
    source: str,
    role: str,
    occurred_at: dt.datetime,
    towns: Iterable[str] = (),
    phones: Iterable[str] = (),
    facts: contract.EventFacts | None = None,
    flags: Iterable[str] = (),
    linked: int | None = None,
    replaces: str | None = None,
) -> bool:
    """Add one event's mention of the nominal; False if this mention was already counted.

    ``replaces`` names the mention whatever its revision (a referral's): an
    amended referral's mention takes the place of the earlier revision's, so a
    corrected referral counts once.
    """
    if mention_id in state["seen"]:
        return False
    state["seen"] = (state["seen"] + [mention_id])[-SEEN_LIMIT:]
    facts = facts or contract.EventFacts()
    at = occurred_at.timestamp()
    if replaces is not None:
        state["events"] = [e for e in state["events"] if e.get("m") != replaces]
    state["events"].append({
        **({"m": replaces} if replaces is not None else {}),
        "t": at,
        "source": source,
        "role": role,
        "towns": sorted(set(towns)),
        "phones": sorted(set(phones)),
        "indicators": {k: v for k, v in facts.indicator_weights.items() if v},
        "types": list(facts.exploitation_types),
        "immediate": facts.urgency == "immediate_risk",
        "child": facts.subject_is_child,
        "intel": intel_evidence(facts.source_evaluation, facts.intelligence_assessment) if source == "intel" else 0.0,
    })
    state["now"] = max(state["now"], at)
    horizon = state["now"] - WINDOW_DAYS * DAY
    state["events"] = [e for e in state["events"] if e["t"] >= horizon]
    state["flags"] = sorted(set(flags))
    if linked is not None:
        state["linked"] = linked
    return True


def features(state: State) -> dict[str, float]:
    """Every feature in FEATURES for the nominal, as of its stream time."""
    now = state["now"]
    week = now - 7 * DAY
    out = dict.fromkeys(FEATURES, 0.0)
    towns_by_phone: dict[str, set[str]] = {}
    for event in state["events"]:
        recent = event["t"] >= week
        source = event["source"]
        if source == "advert":
            out["adverts_30d"] += 1
            out["adverts_7d"] += recent
            for category, weight in event["indicators"].items():
                if category in INDICATOR_CATEGORIES:
                    out[f"indicator_{category}"] += weight
            if recent:
                for phone in event["phones"]:
                    towns_by_phone.setdefault(phone, set()).update(event["towns"])
        elif source == "referral":
            out["referrals_30d"] += 1
            out["referrals_7d"] += recent
            for kind in event["types"]:
                if kind in REFERRAL_TYPES:
                    out[f"referral_{kind}"] += 1
            out["referral_immediate_risk"] = max(out["referral_immediate_risk"], float(event["immediate"]))
            out["referral_child"] = max(out["referral_child"], float(event["child"]))
        else:
            out["intel_30d"] += 1
            out["intel_7d"] += recent
            out["intel_evidence"] += event["intel"]
        if event["role"] == "suspect":
            out["suspect_mentions_30d"] += 1
        elif event["role"] == "potential_victim":
            out["victim_mentions_30d"] += 1
    out["towns_per_phone_7d"] = float(max((len(t) for t in towns_by_phone.values()), default=0))
    out["linked_nominals"] = float(state["linked"])
    for flag in _FLAG_FEATURES:
        out[f"flag_{flag}"] = float(flag in state["flags"])
    return out


def observe_match(state: State, match: contract.MatchResult) -> bool:
    """Add a match result from ``toex.matches`` to its nominal's state."""
    return observe(
        state,
        mention_id=match.mention_id,
        source=match.source,
        role=match.role,
        occurred_at=match.occurred_at,
        towns=match.facts.towns,
        phones=match.phones,
        facts=match.facts,
        flags=match.nominal_flags,
        linked=match.linked_nominals,
        # The referral's mention whatever its revision ('<topic>:<key>#<i>'): an amendment replaces it.
        replaces=(f"{match.event_ref.topic}:{match.event_ref.key}#{match.mention_id.rpartition('#')[2]}"
                  if match.source == "referral" else None),
    )
