"""The replay pipeline: the agents' core calls, in order, on decoded input messages, in a sandbox.

:class:`Replayer` runs each input message through the steps the live agents
run, from :mod:`toex_stream.domain.pipeline` (enrich, resolve, score, decide), and
returns one report record per event: the observation, each mention's match
decision with its weights, the scores with their reasons, and the alert
decisions. It applies the steps' effects to its sandbox: a provisional nominal
joins its own index (as the worker's nominal follower adds it when it reads it
back); nothing is sent or stored. The matcher index, the scoring states and
the alert groups are its own, in memory.

Every time it uses is event time or the message's timestamp, never the wall
clock, so the same messages with the same models and configuration give the
same records (the dead letter's ``failed_at`` and the store's ``decided_at``
are wall-clock times and are left out).

State starts empty: the scoring states and alert groups know only the events
replayed (a nominal's history before the range counts only when it is replayed
as history, see :meth:`Replayer.run`), and the index knows the nominals given
to :meth:`Replayer.load_nominal` before the range.
Silences are those recorded, each evaluated at the message's timestamp, when
the live situate agent would have met it.

>>> import json
>>> from toex_stream.domain.alerting.routes_file import load_routes
>>> from toex_stream.domain.matching.index import Matcher
>>> from toex_stream.domain.scoring.profiles import load_profiles
>>> from toex_stream.domain.scoring.scorer import Scorer
>>> replayer = Replayer(Matcher(), Scorer(load_profiles()), load_routes())
>>> value = json.dumps({"schema_version": 1, "intel_id": "I-1", "force_code": "kent",
...     "recorded_at": "2026-11-01T09:00:00Z", "source_evaluation": 1, "intelligence_assessment": "A",
...     "handling_code": "P", "subjects": [{"role": "suspect", "given_name": "Ana", "family_name": "Pop"}],
...     "threat_tags": ["county_lines"]}).encode()
>>> record = replayer.replay(InputMessage("toex.intel", b"I-1", value, 0, 0, 1_790_000_000_000))
>>> record["matches"][0]["decision"], [s["threat"] for s in record["scores"]]
('new', ['missing', 'msht'])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from toex_stream.domain import contract
from toex_stream.domain.alerting.routes import RoutingConfig
from toex_stream.domain.alerting.suppression import Silence
from toex_stream.domain.erasure import NO_ONE, ErasedPeople
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.matching.records import record_from_nominal
from toex_stream.domain.pipeline import enrich_step, resolve_step, score_step, situate_step
from toex_stream.domain.provisional import PROVISIONAL_FLAG
from toex_stream.domain.scoring.profiles import ThreatProfile
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.domain.scoring.state import State
from toex_stream.domain.situations.alerts import SituationGroups
from toex_stream.domain.situations.book import Book

Record = dict[str, Any]


@dataclass(frozen=True)
class InputMessage:
    """One message as read from a topic: where it was, and its raw key and value."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    timestamp_ms: int

    @property
    def at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.timezone.utc)


def replay_order(message: InputMessage) -> tuple[int, str, int, int]:
    """The order messages are replayed in: by timestamp, then topic, partition and offset (a total order)."""
    return message.timestamp_ms, message.topic, message.partition, message.offset


def iso_ms(at: dt.datetime) -> str:
    """A UTC time as ISO 8601 with milliseconds, as every time in a report is written."""
    return at.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def profile_hash(profile: ThreatProfile) -> str:
    """A short hash of a profile's whole content: a copy with another threshold hashes differently."""
    return _sha256(profile.model_dump_json())


def routes_hash(routes: RoutingConfig) -> str:
    """A short hash of the routing configuration's content."""
    return _sha256(routes.model_dump_json(by_alias=True))


def profiles_and_routes(profiles: Mapping[str, ThreatProfile], routes: RoutingConfig) -> Record:
    """The versions and content hashes of some profiles and routes: what a comparison tells apart."""
    return {
        "profiles": {
            threat: {"version": p.version_id, "sha256": profile_hash(p)} for threat, p in sorted(profiles.items())
        },
        "routes_sha256": routes_hash(routes),
    }


def configuration(scorer: Scorer, routes: RoutingConfig, matcher: Matcher) -> Record:
    """What a replay ran with: profile versions and hashes, model versions, the routes' hash, the match model."""
    return profiles_and_routes(scorer.profiles(), routes) | {
        "models": dict(sorted(scorer.versions().items())), "match_model": matcher.model_version,
    }


def _match(result: contract.MatchResult, created: bool) -> Record:
    return {
        "mention_id": result.mention_id, "role": result.role, "decision": result.decision,
        "nominal_id": result.nominal_id, "provisional": result.provisional, "created_provisional": created,
        "review_nominal_id": result.review_nominal_id, "probability": result.probability,
        "prior_weight": round(result.prior_weight, 6), "weights": [w.model_dump() for w in result.weights],
        "candidates": result.candidates, "linked_nominals": result.linked_nominals,
        "model_version": result.model_version,
    }


def _about(score: contract.Score) -> Record:
    return {"mention_id": score.mention_id, "nominal_id": score.nominal_id, "threat": score.threat}


def _score(score: contract.Score) -> Record:
    return {
        "mention_id": score.mention_id, "nominal_id": score.nominal_id, "threat": score.threat,
        "risk_score": score.risk_score, "band": score.band, "region": score.region, "force_code": score.force_code,
        "reasons": [r.model_dump() for r in score.reasons], "profile_version": score.profile_version,
        "model_version": score.model_version, "event_count": score.event_count, "features": score.features,
    }


class Replayer:
    """The live pipeline's core in a sandbox: its own index, scoring states and alert groups.

    ``matcher`` is changed (provisional nominals join its index), so give it
    one built for the replay. ``silences`` are evaluated at each message's timestamp.
    People in the erasure register (``erased``) are kept out as the live
    pipeline keeps them out: their mentions are withheld and their nominals
    never enter the sandbox's index, even from messages before their tombstone.
    """

    def __init__(
        self,
        matcher: Matcher,
        scorer: Scorer,
        routes: RoutingConfig,
        silences: Iterable[Silence] = (),
        erased: ErasedPeople = NO_ONE,
    ) -> None:
        self.matcher = matcher
        self.erased = erased
        self.scorer = scorer
        self.routes = routes
        self.silences = list(silences)
        self._profiles: Mapping[str, ThreatProfile] = scorer.profiles()
        self.states: dict[str, State] = {}
        self.book = Book()
        self.groups: dict[str, SituationGroups] = {}
        self.members: dict[str, str] = {}

    # -- the nominals the sandbox matches against --

    def load_nominal(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one ``toex.nominals`` message to the index, as every worker does (a null value erases)."""
        if value is not None and (key or b"").decode(errors="replace") in self.erased.nominal_ids:
            return
        self.matcher.follow(key, value)

    def follow_nominal(self, key: bytes | None, value: bytes | None) -> None:
        """A ``toex.nominals`` message published during the range: forces' nominals apply, provisional ones do not.

        Provisional nominals published during the range are the live system's
        outcomes of the events being replayed: the replay makes its own.
        """
        if value is not None and PROVISIONAL_FLAG in contract.Nominal.model_validate_json(value).flags:
            return
        self.load_nominal(key, value)

    # -- events --

    def replay(self, message: InputMessage) -> Record:
        """Enrich, match, score and decide on one input message; the report record of what happened."""
        record: Record = {
            "kind": "event",
            "event": {"topic": message.topic, "partition": message.partition, "offset": message.offset,
                      "timestamp": iso_ms(message.at), "key": (message.key or b"").decode(errors="replace")},
            "observation": None, "dead_letter": None, "matches": [], "scores": [], "alerts": [], "suppressed": [],
        }
        [outcome] = enrich_step([message], self.erased).outcomes
        if isinstance(outcome, contract.DeadLetter):
            record["dead_letter"] = {"kind": outcome.kind, "reason": outcome.reason}
            return record
        record["observation"] = outcome.model_dump(mode="json")
        resolved = resolve_step([outcome], self.matcher, self.erased)
        for nominal, _mention_id in resolved.effects.provisional:
            self.matcher.add(record_from_nominal(nominal))
        [resolutions] = resolved.outcomes
        for resolution in resolutions:
            record["matches"].append(_match(resolution.result, resolution.created is not None))
        scored = score_step([r.result for r in resolutions], self.states, self.scorer)
        scores = [score for per_match in scored.outcomes for score in per_match]
        record["scores"] = [_score(score) for score in scores]
        inputs = [send.model for send in scored.effects.sends if send.topic == contract.TOPIC_SITUATION_INPUT]
        decided = situate_step(inputs, self.book, self.groups, self.members, self.routes,  # type: ignore[arg-type]
                               self._profiles, self.silences, silence_time=message.at)
        for decision, score in decided.effects.alerts:
            alert = decision.alert
            record["alerts"].append(_about(score) | {
                "action": decision.action, "alert_id": alert.alert_id, "band": alert.band,
                "risk_score": alert.risk_score, "region": alert.region, "force_code": alert.force_code,
                "route": decision.route.route_path, "receiver": decision.route.receiver.name,
                "notify_at": iso_ms(decision.notify_at), "alert": alert.model_dump(mode="json"),
            })
        for score, quiet in decided.effects.suppressed:
            record["suppressed"].append(_about(score) | {"band": score.band, "route": quiet.route_path,
                                                         "why": quiet.why})
        return record

    def run(self, messages: Iterable[InputMessage], report_from_ms: int | None = None) -> Iterator[Record]:
        """Replay messages in the order given: input events give records, ``toex.nominals`` ones update the index.

        Events timestamped before ``report_from_ms`` are history: replayed, so the
        states, groups and index know them, but not reported.
        """
        for message in messages:
            if message.topic == contract.TOPIC_NOMINALS:
                self.follow_nominal(message.key, message.value)
                continue
            record = self.replay(message)
            if report_from_ms is None or message.timestamp_ms >= report_from_ms:
                yield record


class Summary:
    """Counts over a replay's event records, kept as they come: events, dead letters, decisions, bands, alerts."""

    def __init__(self) -> None:
        self.events = self.dead_letters = 0
        self.decisions: Counter[str] = Counter()
        self.bands: Counter[str] = Counter()
        self.alerts: dict[str, Counter[str]] = {}
        self.alert_ids: set[str] = set()

    def add(self, record: Record) -> None:
        self.events += 1
        self.dead_letters += record["dead_letter"] is not None
        self.decisions.update(m["decision"] for m in record["matches"])
        self.bands.update(s["band"] for s in record["scores"])
        for alert in record["alerts"]:
            self.alerts.setdefault(alert["region"], Counter())[alert["band"]] += 1
            self.alert_ids.add(alert["alert_id"])

    def record(self) -> Record:
        return {
            "kind": "summary", "events": self.events, "dead_letters": self.dead_letters,
            "match_decisions": dict(sorted(self.decisions.items())),
            "scores_by_band": dict(sorted(self.bands.items())),
            "alert_decisions": sum(sum(c.values()) for c in self.alerts.values()),
            "distinct_alerts": len(self.alert_ids),
            "alerts_by_region_and_band": {region: dict(sorted(c.items())) for region, c in sorted(self.alerts.items())},
        }


def summarise(records: Iterable[Record]) -> Record:
    """The summary record of some event records."""
    summary = Summary()
    for record in records:
        summary.add(record)
    return summary.record()


def canonical_json(record: Record) -> str:
    """A record as one line of JSON with sorted keys: the same record always gives the same bytes."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


__all__ = [
    "InputMessage", "Record", "Replayer", "canonical_json", "configuration", "iso_ms", "profile_hash",
    "profiles_and_routes", "Summary",
    "replay_order", "routes_hash", "summarise",
]
