"""What happens to an event: the pipeline's steps, pure, each over a batch.

::

    input event ─▶ enrich ─▶ Observation ─▶ resolve ─▶ MatchResult ─▶ score ─▶ Score ─▶ situate ─▶ Alert
                   └─▶ DeadLetter            └─▶ provisional Nominal      (and SituationInput: the match's
    feedback ─▶ TrainingExample (and the alert's group closed)              evidence and scores, one partition)

Each step takes a batch of inputs and the state it needs (the matcher and its
index, the nominals' scoring states, the situations' book and alert groups:
mappings the caller owns and the step updates) and returns a :class:`Step`: per input, what came
of it, and the :class:`Effects` to apply, the messages to send and the rows to
write. The worker's agents (``streams/agents.py``) apply the effects to Kafka
and the database; replay (:mod:`toex_stream.application.replay.core`) to its sandbox. So
both run the same steps, and the only differences between them are where the
effects go and which clock silences are read at. Nothing here does I/O or
reads the clock: the dead letters' ``failed_at`` is the one wall-clock time
(left out of replay reports).

>>> from toex_stream.domain.alerting.routes_file import load_routes
>>> from toex_stream.domain.matching.index import Matcher
>>> from toex_stream.domain.scoring.profiles import load_profiles
>>> from toex_stream.domain.scoring.scorer import Scorer
>>> import json
>>> value = json.dumps({"schema_version": 1, "intel_id": "I-1", "force_code": "kent",
...     "recorded_at": "2026-11-01T09:00:00Z", "source_evaluation": 1, "intelligence_assessment": "A",
...     "handling_code": "P", "subjects": [{"role": "suspect", "given_name": "Ana", "family_name": "Pop"}],
...     "threat_tags": ["county_lines"]}).encode()
>>> enriched = enrich_step([RawMessage("toex.intel", b"I-1", value, 0, 0)])
>>> [send.topic for send in enriched.effects.sends]
['toex.observations']
>>> resolved = resolve_step(enriched.outcomes, Matcher())
>>> [r.result.decision for r in resolved.outcomes[0]], sorted({s.topic for s in resolved.effects.sends})
(['new'], ['toex.matches', 'toex.nominals'])
>>> scored = score_step([r.result for r in resolved.outcomes[0]], {}, Scorer(load_profiles()))
>>> [s.threat for s in scored.outcomes[0]]
['missing', 'msht']
>>> inputs = [contract.SituationInput.model_validate_json(s.value) for s in scored.effects.sends
...           if s.topic == contract.TOPIC_SITUATION_INPUT]
>>> situated = situate_step(inputs, Book(), {}, {}, load_routes(), load_profiles())
>>> [d.action for d in situated.effects.alerts]
[]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import pydantic

from toex_stream.domain import contract
from toex_stream.domain.alerting.decide import AlertDecision, Suppressed
from toex_stream.domain.alerting.routes import RoutingConfig
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.contract import DeadLetter, DeadLetterKind
from toex_stream.domain.enrich import RejectedEvent, dead_letter, enrich
from toex_stream.domain.erasure import NO_ONE, ErasedPeople, withhold
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.resolve import Resolution, resolve_observation
from toex_stream.domain.scoring.profiles import ThreatProfile
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.domain.scoring.state import State, new_state
from toex_stream.domain.situations.alerts import (
    SituationGroups,
    assess,
    closed_by_analyst,
    decisions,
    forget,
    merged,
)
from toex_stream.domain.situations.book import Book
from toex_stream.domain.situations.evidence import as_contract, evidence_of
from toex_stream.domain.situations.links import situation_id

T = TypeVar("T")
M = TypeVar("M", bound=pydantic.BaseModel)


class Raw(Protocol):
    """A message as read from a topic (a Faust ``Message``, a replay's ``InputMessage``, a ``RawMessage``)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


@dataclass(frozen=True)
class RawMessage:
    """A message's place and bytes, for callers that have no message object of their own."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int = 0
    offset: int = 0


@dataclass(frozen=True)
class Send:
    """A message to send: the topic, the key, and the contract model its value is the JSON of.

    The value is encoded when it is read, so replay, which sends nothing,
    never pays for the encoding.
    """

    topic: str
    key: str
    model: pydantic.BaseModel

    @property
    def value(self) -> bytes:
        return self.model.model_dump_json().encode()


@dataclass(frozen=True)
class Rejected:
    """An input that goes to ``toex.deadletter``: the letter, and the key it had (the dead letter keeps it)."""

    letter: DeadLetter
    key: bytes | None


@dataclass
class Effects:
    """What a step asks the outside world to do; applied in this order, before the inputs' offsets are committed.

    Rows first (one database round trip for a batch), then the messages, so a
    message never names a row that is not there.
    """

    # Provisional nominals to store, each with the mention that created it (also in ``sends``, on toex.nominals).
    provisional: list[tuple[contract.Nominal, str]] = field(default_factory=list)
    # Match decisions to file, with their weights: the record of why a mention went where it did; each with
    # the partition and offset of the input message it came from (where a reviewer reads the event again).
    decisions: list[tuple[contract.MatchResult, int, int]] = field(default_factory=list)
    # Alerts to store and queue for their receivers, with the score that raised them.
    alerts: list[tuple[AlertDecision, contract.Score]] = field(default_factory=list)
    # Partners' receipts to mark processed: a referral's observation and its mentions' results.
    referrals: list[tuple[contract.Observation, list[contract.MatchResult]]] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    dead_letters: list[Rejected] = field(default_factory=list)
    # Alerts a silence kept quiet (logged, without personal data).
    suppressed: list[tuple[contract.Score, Suppressed]] = field(default_factory=list)
    # Entries of the s.62 log: what was collected and combined (references and counts, no personal data).
    audit: list[AuditRecord] = field(default_factory=list)
    # Mentions of erased people kept out (their ids: references, no personal data), to count and log.
    withheld: list[str] = field(default_factory=list)

    def __iadd__(self, other: Effects) -> Effects:
        self.provisional += other.provisional
        self.decisions += other.decisions
        self.alerts += other.alerts
        self.referrals += other.referrals
        self.sends += other.sends
        self.dead_letters += other.dead_letters
        self.suppressed += other.suppressed
        self.audit += other.audit
        self.withheld += other.withheld
        return self

    def has_rows(self) -> bool:
        return bool(self.provisional or self.decisions or self.alerts or self.muted() or self.audit)

    def muted(self) -> list[tuple[contract.Score, Suppressed]]:
        """The suppressed alerts a silence muted (they are kept, so a team can see what it did not hear)."""
        return [(score, quiet) for score, quiet in self.suppressed if quiet.silence_id is not None]


@dataclass
class Step(Generic[T]):
    """One step's result over a batch: one outcome per input, in order, and the effects of all of them."""

    outcomes: list[T]
    effects: Effects = field(default_factory=Effects)


def reject(raw: Raw, kind: DeadLetterKind, reason: str) -> Rejected:
    """The dead letter for ``raw``: its bytes and place, and why (a reason that quotes no value)."""
    letter = dead_letter(topic=raw.topic, partition=raw.partition, offset=raw.offset, key=raw.key,
                         value=raw.value, rejection=RejectedEvent(kind, reason))
    return Rejected(letter, raw.key)


def decode_step(raws: Sequence[Raw], model: type[M]) -> Step[M | None]:
    """Each message's value as ``model``, or None, and the dead letters of those that are not one."""
    step: Step[M | None] = Step([])
    for raw in raws:
        try:
            step.outcomes.append(model.model_validate_json(raw.value or b""))
        except pydantic.ValidationError as exc:
            kind: DeadLetterKind = "invalid_json" if exc.errors()[0]["type"] == "json_invalid" else "schema"
            step.effects.dead_letters.append(reject(raw, kind, f"not a {model.__name__} ({exc.error_count()} errors)"))
            step.outcomes.append(None)
    return step


def enrich_step(raws: Sequence[Raw], erased: ErasedPeople = NO_ONE) -> Step[contract.Observation | DeadLetter]:
    """Each input event's Observation (sent on toex.observations), or its dead letter.

    Mentions of people in the erasure register (``erased``) are left out of
    the observation, and their ids listed in ``effects.withheld``.
    """
    step: Step[contract.Observation | DeadLetter] = Step([])
    for raw in raws:
        outcome = enrich(raw.topic, raw.key, raw.value, partition=raw.partition, offset=raw.offset)
        if not isinstance(outcome, DeadLetter):
            outcome, withheld = withhold(outcome, erased)
            step.effects.withheld += withheld
        step.outcomes.append(outcome)
        if isinstance(outcome, DeadLetter):
            step.effects.dead_letters.append(Rejected(outcome, raw.key))
        else:
            step.effects.sends.append(Send(contract.TOPIC_OBSERVATIONS, outcome.observation_id, outcome))
            step.effects.audit.append(AuditRecord(
                "collection", f"{outcome.source}.collected", "system:enrich", outcome.observation_id,
                f"{len(outcome.mentions)} people, {len(outcome.places)} places from "
                f"{raw.topic}[{raw.partition}]@{raw.offset}"))
    return step


def resolve_step(observations: Iterable[contract.Observation], matcher: Matcher,
                 erased: ErasedPeople = NO_ONE) -> Step[list[Resolution]]:
    """Each observation's mentions resolved to nominals; the matcher's index learns the provisional ones at once.

    Mentions of people in the erasure register are not resolved (an
    observation enriched before their erasure still holds them): their ids go
    to ``effects.withheld``, and no decision or provisional nominal comes of them.

    Effects: each provisional nominal stored and published on toex.nominals
    (so every worker's index learns it), each decision filed and sent on
    toex.matches keyed by its nominal, and each referral's receipt marked.
    """
    step: Step[list[Resolution]] = Step([])
    for observation in observations:
        observation, withheld = withhold(observation, erased)
        step.effects.withheld += withheld
        resolutions = resolve_observation(observation, matcher)
        # Who the event links travels with each of its matches, to the situation step.
        evidence = as_contract(evidence_of(observation, {r.result.mention_id: r.result.nominal_id
                                                         for r in resolutions}, matcher.index.holders))
        resolutions = [dataclasses.replace(r, result=r.result.model_copy(update={"evidence": evidence}))
                       for r in resolutions]
        step.outcomes.append(resolutions)
        for resolution in resolutions:
            result = resolution.result
            if resolution.created is not None:
                step.effects.provisional.append((resolution.created, result.mention_id))
                step.effects.sends.append(
                    Send(contract.TOPIC_NOMINALS, resolution.created.nominal_id, resolution.created))
            step.effects.decisions.append((result, observation.partition, observation.offset))
            step.effects.sends.append(Send(contract.TOPIC_MATCHES, result.nominal_id, result))
            created = "; a provisional nominal created" if resolution.created is not None else ""
            step.effects.audit.append(AuditRecord(
                "combination", "match.decided", "system:match", result.nominal_id,
                f"mention {result.mention_id}: {result.decision}, "
                f"p={result.probability:.3f}, model {result.model_version}{created}"))
        if observation.source == "referral":
            step.effects.referrals.append((observation, [r.result for r in resolutions]))
    return step


def score_step(matches: Iterable[contract.MatchResult], states: MutableMapping[str, State],
               scorer: Scorer) -> Step[list[contract.Score]]:
    """Each match's nominal's scores under every profile that applies (sent on toex.scores); ``states`` updated.

    The scores go on to the situation step with the match's evidence, on
    toex.situation-input: one partition, so one owner sees every situation whole.
    """
    step: Step[list[contract.Score]] = Step([])
    for match in matches:
        scores = scorer.score_nominal(states, match)
        step.outcomes.append(scores)
        step.effects.sends += [Send(contract.TOPIC_SCORES, match.nominal_id, score) for score in scores]
        step.effects.sends.append(Send(contract.TOPIC_SITUATION_INPUT, match.nominal_id, contract.SituationInput(
            schema_version=1, kind="scored", nominal_id=match.nominal_id, evidence=match.evidence, scores=scores)))
    return step


def situate_step(
    inputs: Iterable[contract.SituationInput],
    book: Book,
    groups: MutableMapping[str, SituationGroups],
    members: MutableMapping[str, str],
    routes: RoutingConfig,
    profiles: Mapping[str, ThreatProfile],
    silences: Iterable[Silence] = (),
    silence_time: dt.datetime | None = None,
) -> Step[list[AlertDecision]]:
    """Each input folded into the book, and the alert decisions of the situation it touched.

    ``members`` maps each nominal of an alerted situation to that situation's
    id: a member now in another situation means its old one merged into it, and
    the old one's alerts are closed as merged. Alerts are stored, queued (one
    that only grew as a quiet edit, on Slack only) and sent on toex.alerts. Time is each input's latest
    score's event time; silences are read at ``silence_time`` (the live agent's
    now, replay's message timestamp).
    """
    silences = list(silences)
    step: Step[list[AlertDecision]] = Step([])
    for item in inputs:
        book.add(item, profiles)
        if item.kind == "closed" and item.alert_id is not None:
            closed_by_analyst(groups, item.alert_id)
        if item.kind == "erased":
            forget(groups, item.nominal_id)
            members.pop(item.nominal_id, None)
        if not item.scores:
            step.outcomes.append([])
            continue
        trigger = max(item.scores, key=lambda s: s.occurred_at)
        now = trigger.occurred_at.timestamp()
        made: list[AlertDecision] = []
        assessment = assess(book, item.nominal_id, profiles)
        if assessment is not None:
            sid = assessment.situation_id
            # A member's earlier situation is gone into this one when its oldest member is here (its id is made
            # from that member); otherwise it split off and lives on.
            here = {situation_id(m.nominal_id) for m in assessment.members}
            gone = sorted({members[m.nominal_id] for m in assessment.members
                           if members.get(m.nominal_id, sid) not in (sid, None) and members[m.nominal_id] in here})
            event = f"{trigger.event_ref.topic}:{trigger.event_ref.key}"
            made, quiet = decisions(
                assessment, groups, book, routes, profiles, now, trigger.region, event, silences,
                silence_time if silence_time is not None else trigger.occurred_at, merged_from=gone)
            step.effects.suppressed += [(trigger, suppressed) for _, suppressed in quiet]
            made += merged([(old, sid) for old in gone], groups, {sid: made}, routes, now)
            if groups.get(sid):
                for member in assessment.members:
                    if members.get(member.nominal_id) != sid:
                        members[member.nominal_id] = sid
        step.outcomes.append(made)
        for decision in made:
            step.effects.alerts.append((decision, trigger))
            step.effects.sends.append(Send(contract.TOPIC_ALERTS, decision.alert.alert_id, decision.alert))
    return step


def feedback_step(raws: Sequence[Raw], states: Mapping[str, State],
                  scorer: Scorer) -> Step[list[contract.TrainingExample]]:
    """Each outcome an analyst recorded: its alert's group closed (by the situation step), and what it teaches.

    Feedback must name its nominal and be keyed by it (toex.feedback is
    partitioned like the nominals' states); anything else is a dead letter.
    """
    decoded = decode_step(raws, contract.Feedback)
    step: Step[list[contract.TrainingExample]] = Step([], decoded.effects)
    for raw, outcome in zip(raws, decoded.outcomes, strict=True):
        if outcome is None:
            step.outcomes.append([])
            continue
        if outcome.nominal_id is None or (raw.key or b"").decode(errors="replace") != outcome.nominal_id:
            step.effects.dead_letters.append(reject(
                raw, "schema", "feedback must name a nominal_id and be keyed by it, to reach its features"))
            step.outcomes.append([])
            continue
        # The alert's situation's owner closes its group: the next alerting score opens a new episode.
        step.effects.sends.append(Send(contract.TOPIC_SITUATION_INPUT, outcome.nominal_id, contract.SituationInput(
            schema_version=1, kind="closed", nominal_id=outcome.nominal_id, alert_id=outcome.alert_id)))
        examples = scorer.training_examples(states.get(outcome.nominal_id) or new_state(), outcome)
        step.outcomes.append(examples)
        step.effects.sends += [Send(contract.TOPIC_TRAINING, e.nominal_id, e) for e in examples]
    return step


__all__ = [
    "Effects", "Raw", "RawMessage", "Rejected", "Send", "Step", "decode_step", "enrich_step",
    "feedback_step", "reject", "resolve_step", "score_step", "situate_step",
]
