"""From a situation to its alerts: one per situation per region, scored as a whole, grown in place.

After each ``scored`` input (:mod:`toex_stream.domain.situations.book`), the
situation of its nominal is assessed (:func:`assess`): under each threat, its
members' best score, moved by what the network does (possible victims linked to
a suspected controller, events across several forces, graded intelligence), or
held down when it is one person in one event linked to no one. The assessment
gives the alert of the event's region (where the situation is active: its first
alert's, or one with a third of its events, :func:`active_in`), and of every
region where the situation's alert is open (:func:`decisions`):
the route, silences and grouping of :mod:`toex_stream.domain.alerting` decide
whether to open it, update it or stay quiet, with the group keyed by the
situation, so a restart or a replay gives the same alert id. An update is
sent to the channel only when the band rises or a new possible victim is
named; otherwise the alert grows quietly (``"grow"``: stored and published,
not posted). When situations merge, the older one's alert lives on and the
other's is closed as merged into it.

Threats and bands are labels on the alert (``threats``, ``bands``), never
separate alerts; a critical rule (a child, immediate risk) under any threat
makes the situation critical and pages at once, whatever the silences.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from toex_stream.domain import contract
from toex_stream.domain.alerting.decide import AlertDecision, Suppressed, alerting_bands
from toex_stream.domain.alerting.grouping import GroupState, alert_id_for, decide, group_key
from toex_stream.domain.alerting.routes import RoutingConfig
from toex_stream.domain.alerting.suppression import Silence, silenced
from toex_stream.domain.provisional import is_provisional_id
from toex_stream.domain.scoring.profiles import BAND_ORDER, ThreatProfile, logistic
from toex_stream.domain.situations.book import Book, Latest
from toex_stream.domain.situations.links import CONTROLLER, VICTIM, Situation, situation_id

# A situation's groups: group key -> {"state": GroupState as a dict, "labels": ..., "last_event": the event that
# last changed its alert, "alert": the alert as last published (its members, version, ...), "merged_into": ...}.
SituationGroups = dict[str, dict[str, Any]]

# Log-odds the network adds to its best member's score (explained in the alert's reasons).
VICTIM_WEIGHT = 0.5  # per possible victim linked to a suspected controller, up to MAX_VICTIMS
MAX_VICTIMS = 4
FORCE_WEIGHT = 0.4  # per police force beyond the first its events were in (touring), up to MAX_FORCES
MAX_FORCES = 3
INTEL_WEIGHT = 0.3  # graded intelligence about a member, beside others
LONE_WEIGHT = -1.0  # one person in one event, linked to no one: a fragment, not yet a situation
MAX_LINKED_BY = 5
# A region holding at least this share of a situation's scored events has an alert of its own there.
REGION_SHARE = 1 / 3
_ROLE = {CONTROLLER: "suspected_controller", VICTIM: "possible_victim"}


@dataclass(frozen=True)
class Assessment:
    """What a situation is, as a whole: members, events, and its risk and band under each threat."""

    situation_id: str
    members: list[contract.AlertMember]
    events: list[str]  # "topic:key", oldest first
    risks: dict[str, float]
    bands: dict[str, str]
    best: dict[str, tuple[str, Latest]]  # threat -> (nominal, its latest score): the member that leads
    reasons: list[contract.Reason]  # the situation's own contributions (same format as a score's)
    critical: bool  # a critical rule met: pages at once, no silence mutes it
    first_seen: float

    @property
    def threat(self) -> str:
        """The threat of the highest band, then the highest risk, then the name."""
        return max(self.bands, key=lambda t: (BAND_ORDER.index(self.bands[t]), self.risks[t], t))

    def victims(self) -> list[str]:
        return [m.nominal_id for m in self.members if m.role == "possible_victim"]


def active_in(counts: Mapping[str, int], region: str, alerted_elsewhere: bool) -> bool:
    """Whether a situation is active enough in ``region`` for an alert of its own there.

    Its first alert opens where the event that made it alerting was. Another
    region then needs :data:`REGION_SHARE` of its scored events, and two at
    least: a network working from one region with an advert elsewhere is that
    region's alert (listing the other event); one whose shops are in two
    regions has an alert in each; a person named once in each of many regions
    is one alert. UNKNOWN only when no region is known.

    >>> active_in({"YHROCU": 6, "NERSOU": 3}, "NERSOU", True), active_in({"EMSOU": 9, "ERSOU": 1}, "ERSOU", True)
    (True, False)
    >>> active_in({"ERSOU": 1, "EMSOU": 1}, "EMSOU", True), active_in({"ERSOU": 1, "EMSOU": 1}, "EMSOU", False)
    (False, True)
    >>> active_in({"UNKNOWN": 3, "ERSOU": 1}, "UNKNOWN", False), active_in({"UNKNOWN": 3}, "UNKNOWN", False)
    (False, True)
    """
    known = {r: n for r, n in counts.items() if r != "UNKNOWN"}
    if region == "UNKNOWN" or not known:
        return region == "UNKNOWN" and not known
    if not alerted_elsewhere:
        return True
    here = known.get(region, 0)
    return here >= 2 and here >= REGION_SHARE * sum(known.values())


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _members(book: Book, situation: Situation | None, nominal: str) -> list[contract.AlertMember]:
    if situation is None:
        role = _ROLE.get(book.links.role(nominal), "unknown")
        return [contract.AlertMember(nominal_id=nominal, role=role, provisional=is_provisional_id(nominal))]  # type: ignore[arg-type]
    linked: dict[str, list[str]] = {n: [] for n in situation.members}
    for a, b, kinds, events in situation.links:
        for one, other in ((a, b), (b, a)):
            if len(linked[one]) < MAX_LINKED_BY:
                linked[one].append(f"{', '.join(kinds)} with {other} ({len(events)} events)"[:200])
    order = {"suspected_controller": 0, "possible_victim": 1, "unknown": 2}
    members = [contract.AlertMember(nominal_id=n, role=_ROLE.get(role, "unknown"),  # type: ignore[arg-type]
                                    provisional=is_provisional_id(n), linked_by=linked[n])
               for n, role in situation.members.items()]
    return sorted(members, key=lambda m: (order[m.role], m.nominal_id))


def assess(book: Book, nominal: str, profiles: Mapping[str, ThreatProfile]) -> Assessment | None:
    """The situation ``nominal`` is in, assessed; None when none of its members has a score."""
    situation = book.situation(nominal)
    members = _members(book, situation, nominal)
    names = [m.nominal_id for m in members]
    if situation is not None:
        events, sid, first = list(situation.events), situation.situation_id, situation.first_seen
    else:
        own = book.links.events_of(nominal)
        events = [e for e, _ in sorted(own.items(), key=lambda item: (item[1], item[0]))]
        sid, first = situation_id(nominal), book.links.first_seen.get(nominal, 0.0)
    latest = {n: book.scores.get(n, {}) for n in names}
    threats = sorted({t for held in latest.values() for t in held if t in profiles})
    if not threats:
        return None
    controllers = sum(m.role == "suspected_controller" for m in members)
    victims = sum(m.role == "possible_victim" for m in members) if controllers else 0
    forces = sorted({s.force_code for held in latest.values() for s in held.values() if s.force_code})
    intel = any(e.startswith(contract.TOPIC_INTEL + ":") for e in events) and len(members) > 1
    contributions: list[tuple[str, float, str]] = []
    if victims:
        contributions.append(("situation_victims", VICTIM_WEIGHT * min(victims, MAX_VICTIMS),
                              f"{victims} possible victims linked to a suspected controller."))
    if len(forces) > 1 and len(members) > 1:
        contributions.append(("situation_forces", FORCE_WEIGHT * min(len(forces) - 1, MAX_FORCES),
                              f"Its events were in {len(forces)} police force areas."))
    if intel:
        contributions.append(("situation_intelligence", INTEL_WEIGHT,
                              "Graded intelligence names members of the group together."))
    if len(members) == 1 and len(events) <= 1:
        contributions.append(("situation_lone", LONE_WEIGHT,
                              "One person in one event, linked to no one else yet."))
    shift = sum(c for _, c, _ in contributions)
    risks: dict[str, float] = {}
    bands: dict[str, str] = {}
    best: dict[str, tuple[str, Latest]] = {}
    critical = False
    for threat in threats:
        scored = sorted(((n, held[threat]) for n, held in latest.items() if threat in held),
                        key=lambda item: (-item[1].risk, item[0]))
        lead, top = scored[0]
        risk = logistic(_logit(top.risk) + shift)
        band = profiles[threat].band(risk)
        if any(s.critical_rules for _, s in scored):
            band, critical = "critical", True
        risks[threat], bands[threat], best[threat] = round(risk, 6), band, (lead, top)
    reasons = [contract.Reason(feature=f, contribution=round(c, 4), text=t) for f, c, t in contributions]
    return Assessment(sid, members, events, risks, bands, best, reasons, critical, first)


def _alert(assessment: Assessment, region: str, state: GroupState, version: int) -> contract.Alert:
    threat = assessment.threat
    lead, top = assessment.best[threat]
    forces = [s.force_code for _, s in assessment.best.values() if s.region == region and s.force_code]
    events = [contract.EventRef(topic=e.split(":", 1)[0], key=e.split(":", 1)[1]) for e in assessment.events]
    return contract.Alert(
        schema_version=1, alert_id=state.alert_id,
        created_at=dt.datetime.fromtimestamp(state.first_at, dt.timezone.utc),
        region=region, force_code=forces[0] if forces else top.force_code if top.region == region else None,  # type: ignore[arg-type]
        threat=threat, band=assessment.bands[threat], risk_score=assessment.risks[threat],  # type: ignore[arg-type]
        nominal_ids=[m.nominal_id for m in assessment.members], event_refs=events,
        reasons=[*top.reasons, *assessment.reasons], model_version=top.model_version,
        status="open",
        situation_id=assessment.situation_id, threats=sorted(assessment.bands),
        bands=dict(sorted(assessment.bands.items())), members=assessment.members,  # type: ignore[arg-type]
        version=max(1, version),
    )


def labels(assessment: Assessment, region: str) -> dict[str, str]:
    """What the situation's alert in ``region`` is routed, grouped and silenced by (no personal data)."""
    threat = assessment.threat
    lead, top = assessment.best[threat]
    return {"region": region, "force_code": top.force_code or "", "threat": threat,
            "band": assessment.bands[threat], "nominal_id": lead, "situation_id": assessment.situation_id}


def decisions(
    assessment: Assessment,
    groups: MutableMapping[str, SituationGroups],
    book: Book,
    routes: RoutingConfig,
    profiles: Mapping[str, ThreatProfile],
    now: float,
    region: str,
    event: str,
    silences: Iterable[Silence] = (),
    silence_time: dt.datetime | float | None = None,
    merged_from: Iterable[str] = (),
) -> tuple[list[AlertDecision], list[tuple[Mapping[str, str], Suppressed]]]:
    """Open, update or grow the situation's alert in ``region`` (the event's) and wherever it is open.

    ``groups`` (keyed by situation id) is updated: a copy of the situation's
    groups is put back, so a table's changelog records the change.
    """
    silences = list(silences)
    profile = profiles[assessment.threat]
    own = dict(groups.get(assessment.situation_id) or {})
    out: list[AlertDecision] = []
    quiet: list[tuple[Mapping[str, str], Suppressed]] = []
    # The event's region, and every region where the situation's alert is open: an alert opens where an
    # event lands while the situation is alerting, and grows wherever it is open.
    regions = {g["labels"]["region"] for g in own.values() if not g["state"]["closed"]}
    # A situation merged into this one was alerting its regions: their teams keep an alert, this one.
    regions |= {g["labels"]["region"] for gone in merged_from for g in (groups.get(gone) or {}).values()
                if not g["state"]["closed"]}
    if active_in(book.region_counts(assessment.events), region, alerted_elsewhere=bool(regions)):
        regions.add(region)
    for region in sorted(regions):
        tags = labels(assessment, region)
        for match in routes.match(tags):
            if not assessment.critical and tags["band"] != "critical":  # a critical situation always pages
                silence = silenced(tags, silences, silence_time if silence_time is not None else now)
                if silence is not None:
                    quiet.append((tags, Suppressed(match.route_path, f"silenced by {silence.silence_id}",
                                                   silence.silence_id)))
                    continue
            key = group_key(match, tags)
            stored = own.get(key)
            state = GroupState(**stored["state"]) if stored else None
            if state is not None and state.closed and stored is not None and stored.get("merged_into"):
                continue  # merged away: its situation lives on under the older id
            action, new_state, notify_at = decide(state, match, tags, tags["band"], len(assessment.events), now,
                                                  alerting_bands(profile))
            if new_state is None or new_state.closed:
                continue  # not alerting, or closed by an analyst and not alerting again
            if state is None or state.closed:
                new_state = dataclasses.replace(new_state, alert_id=alert_id_for(
                    key, "situation", new_state.episode))
                if assessment.critical or tags["band"] == "critical":
                    # A critical situation pages at once: no group wait.
                    notify_at = now
                    new_state = dataclasses.replace(new_state, last_notified_at=now)
            elif action == "open":
                # Changed while its first post waits: the post is queued (once: its version is its time), so
                # the change follows it as an update.
                action = "update"
            victims = assessment.victims()
            known_victims = {m["nominal_id"] for m in stored["alert"]["members"]
                             if m["role"] == "possible_victim"} if stored else set()
            rose = state is not None and BAND_ORDER.index(tags["band"]) > BAND_ORDER.index(state.band)
            if action in ("update", "repeat") and not rose and not set(victims) - known_victims:
                action = "grow" if action == "update" else "none"
                if state is not None:  # nothing to send: the channel's last notification stands
                    new_state = dataclasses.replace(new_state, last_notified_at=state.last_notified_at)
            if action == "update" and not rose and match.receiver.kind == "teams":
                action = "grow"  # Teams cannot edit a card: a new one only when the band rises
            alert = _alert(assessment, region, new_state, 1)
            if action == "none" and stored is not None and _content(stored["alert"]) != _content(alert):
                action = "grow"  # another member's score moved it: the record shows it as it is
            # The version rises once per event that changed the alert, whatever order its mentions came in.
            version = stored["alert"]["version"] if stored else 0
            if action != "none" and (stored or {}).get("last_event") != event:
                version += 1
            alert = alert.model_copy(update={"version": max(1, version)})
            own[key] = {"state": dataclasses.asdict(new_state), "labels": tags,
                        "last_event": event if action != "none" else (stored or {}).get("last_event"),
                        "alert": alert.model_dump(mode="json")}
            if action != "none":
                out.append(AlertDecision(action, alert, match,
                                         dt.datetime.fromtimestamp(notify_at, dt.timezone.utc)))
    groups[assessment.situation_id] = own
    return out, quiet


def _content(alert: contract.Alert | Mapping[str, Any]) -> dict[str, Any]:
    """What an alert says, without its version."""
    data = alert.model_dump(mode="json") if isinstance(alert, contract.Alert) else dict(alert)
    data.pop("version", None)
    return data


def merged(
    merges: Iterable[tuple[str, str]],
    groups: MutableMapping[str, SituationGroups],
    survivors: Mapping[str, list[AlertDecision]],
    routes: RoutingConfig,
    now: float,
) -> list[AlertDecision]:
    """Close the open alerts of each merged situation, each pointing at the surviving situation's alert.

    ``survivors`` holds each surviving situation's decisions, to name its alert
    on the same route (the merged alert points at none when there is none there).
    """
    out = []
    for gone, into in merges:
        own = dict(groups.get(gone) or {})
        for key, group in sorted(own.items()):
            state = group["state"]
            if state["closed"]:
                continue
            route = key.split("{", 1)[0]
            match = next((m for m in routes.match(group["labels"]) if m.route_path == route), None)
            target = next((d.alert.alert_id for d in survivors.get(into, []) if d.route.route_path == route), None)
            version = group["alert"]["version"] + 1
            alert = contract.Alert.model_validate(
                group["alert"] | {"status": "closed", "version": version, "merged_into": target}, strict=False)
            own[key] = group | {"state": state | {"closed": True, "last_changed_at": now},
                                "merged_into": target or into, "alert": alert.model_dump(mode="json")}
            if match is not None:
                out.append(AlertDecision("update", alert, match, dt.datetime.fromtimestamp(now, dt.timezone.utc)))
        groups[gone] = own
    return out


def closed_by_analyst(groups: MutableMapping[str, SituationGroups], alert_id: str) -> bool:
    """Close the group of an alert an analyst closed, so the situation's next alert is a new episode."""
    for sid, own in list(groups.items()):
        for key, group in own.items():
            if group["state"]["alert_id"] == alert_id and not group["state"]["closed"]:
                groups[sid] = own | {key: group | {"state": group["state"] | {"closed": True}}}
                return True
    return False


def without(alert: Mapping[str, Any], nominal: str) -> dict[str, Any]:
    """An alert's JSON (or the situation part of it) with an erased nominal taken out: from its nominals,
    its members, and every other member's links.

    >>> without({"nominal_ids": ["N-1", "N-2"], "members": [
    ...     {"nominal_id": "N-1", "role": "unknown", "linked_by": ["named together with N-2 (1 events)"]},
    ...     {"nominal_id": "N-2", "role": "unknown", "linked_by": ["named together with N-1 (1 events)"]}]}, "N-2")
    {'nominal_ids': ['N-1'], 'members': [{'nominal_id': 'N-1', 'role': 'unknown', 'linked_by': []}]}
    """
    out = dict(alert)
    if "nominal_ids" in out:
        out["nominal_ids"] = [n for n in out["nominal_ids"] if n != nominal]
    if "members" in out:
        out["members"] = [m | {"linked_by": [text for text in m.get("linked_by", []) if f" {nominal} " not in text]}
                          for m in out["members"] if m["nominal_id"] != nominal]
    return out


def forget(groups: MutableMapping[str, SituationGroups], nominal: str) -> None:
    """An erased nominal out of every situation's stored alerts (their groups stay: ids, episodes)."""
    for sid, own in list(groups.items()):
        if any(nominal in g["alert"]["nominal_ids"] for g in own.values()):
            groups[sid] = {key: g | {"alert": without(g["alert"], nominal)} for key, g in own.items()}
