"""Resolve every mention of an observation to a nominal: what the match agent does, and replay.

A ``match`` resolves to the nominal found. A ``new`` mention, or a
``possible_match`` to a nominal a force holds, resolves to a provisional
nominal created from the mention (its id is derived from the mention id, so a
replay creates the same one), so that repeated unknown people and phones
gather evidence without merging anyone a person has not confirmed; a possible
match names the known nominal to review. A possible match to a provisional
nominal joins it (still marked possible, for review).
"""

from __future__ import annotations

from dataclasses import dataclass

from toex_stream.domain import contract
from toex_stream.domain.matching.index import MatchDecision, Matcher
from toex_stream.domain.matching.records import MatchRecord, record_from_mention, record_from_nominal
from toex_stream.domain.provisional import PROVISIONAL_FLAG, provisional_nominal


@dataclass(frozen=True)
class Resolution:
    """One mention's result, and the provisional nominal it created (to store and publish), if any."""

    result: contract.MatchResult
    decision: MatchDecision
    created: contract.Nominal | None


def linked_nominals(matcher: Matcher, record: MatchRecord, nominal_id: str) -> int:
    """How many other nominals share a phone or email with the mention."""
    others = {h for phone in record.phones for h in matcher.index.holders("p", phone)}
    others |= {h for email in record.emails for h in matcher.index.holders("e", email)}
    others.discard(nominal_id)
    return len(others)


def _matchable(record: MatchRecord) -> bool:
    return bool(record.names or record.phones or record.emails)


def resolve_observation(observation: contract.Observation, matcher: Matcher) -> list[Resolution]:
    """Decide on each mention in turn; provisional nominals join the index at once."""
    resolutions = []
    for mention in observation.mentions:
        record = record_from_mention(mention, observation.occurred_at.date())
        decision = matcher.decide(record)
        created = None
        flags: tuple[str, ...] = ()
        candidate = (
            matcher.index.records[matcher.index.positions[decision.nominal_id]]
            if decision.nominal_id is not None and decision.nominal_id in matcher.index.positions else None
        )
        candidate_flags = candidate.flags if candidate is not None else ()
        # A possible match to a provisional nominal (an unknown person already seen) gathers its
        # evidence there: it links no one a force holds, and a new provisional nominal per
        # mention would split one person, and one situation, into many alerts.
        joins = decision.decision == "match" or (
            decision.decision == "possible_match" and PROVISIONAL_FLAG in candidate_flags
        )
        if joins and decision.nominal_id is not None:
            nominal_id = decision.nominal_id
            flags = candidate_flags
            provisional = PROVISIONAL_FLAG in flags
        else:
            created = provisional_nominal(mention, observation.occurred_at)
            nominal_id, provisional = created.nominal_id, True
            if _matchable(record):
                matcher.add(record_from_nominal(created))
        result = contract.MatchResult(
            schema_version=1,
            mention_id=mention.mention_id,
            observation_id=observation.observation_id,
            source=observation.source,
            event_ref=observation.event_ref,
            occurred_at=observation.occurred_at,
            role=mention.role,
            decision=decision.decision,
            nominal_id=nominal_id,
            provisional=provisional,
            review_nominal_id=decision.nominal_id if decision.decision == "possible_match" else None,
            probability=min(1.0, max(0.0, decision.probability)),
            prior_weight=decision.prior_weight,
            weights=[contract.MatchWeight.model_validate(w.as_dict()) for w in decision.weights],
            candidates=decision.candidates,
            model_version=decision.model_version,
            places=list(observation.places),
            facts=observation.facts,
            phones=list(mention.phones),
            nominal_flags=[f for f in flags if f != PROVISIONAL_FLAG],
            linked_nominals=linked_nominals(matcher, record, nominal_id),
        )
        resolutions.append(Resolution(result, decision, created))
    return resolutions
