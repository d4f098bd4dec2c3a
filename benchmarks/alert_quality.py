"""Alert quality over the simulator's scenarios: are networks found whole, and their victims named? Prints JSON.

    python benchmarks/alert_quality.py [--scenario mixed] [--events 3000] [--seeds 1,2,3]

Each seed's stream runs through the pipeline's core as ``toex-stream replay``
runs it (enrich, match, score, alert decision: the live worker decides the
same, byte for byte), against the scenario's nominals as ``nominals import``
would give them, in the order the events arrive. Then, against the truth the
simulator keeps (which person each mention is, which network each event
belongs to, each member's role):

- ``alerts_per_network``: distinct alerts carrying any of the network's events,
  per region it raised alerts in, and overall;
- ``member_recall``: the share of a network's members who appear in some event
  that some alert names (a member is named when an alert lists a nominal one
  of their mentions resolved to); ``victim_recall`` the same for its victims;
- ``network_event_share``: the share of the network's events some alert carries;
- ``alert_precision``: the share of alerts carrying an event of a true network,
  or about a person who must be critical (a child, immediate risk);
- ``background_alerts_per_1000``: alerts that carry only background events,
  per thousand background events; how many of them name a force nominal
  flagged missing, and the precision if those counted as right;
- ``mean_events_per_alert``, ``mean_nominals_per_alert``.

What an alert names is what it carries in its latest state: its situation's
members and events (before alerts described situations, one nominal and the
event of each decision; the script reads both, so it measures an older tree
too). An alert closed as merged into another is counted apart
(``alerts_closed_as_merged``): the one it merged into names all it named.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toex_stream.application.nominal_import import ImportReport, nominal_from_row
from toex_stream.application.replay.core import InputMessage, Record, Replayer
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.tools.simulate import SimEvent, Simulation, encode, simulate

VICTIM_ROLES = {"victim"}


def nominal_messages(simulation: Simulation) -> list[InputMessage]:
    """The scenario's nominals as ``toex.nominals`` carries them after ``nominals import``."""
    at = dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc)
    messages = []
    for offset, record in enumerate(simulation.nominals):
        nominal = nominal_from_row(offset + 2, record.row(), at, ImportReport())
        if nominal is not None:
            messages.append(InputMessage(contract.TOPIC_NOMINALS, nominal.nominal_id.encode(),
                                         nominal.model_dump_json().encode(), 0, offset, 0))
    return messages


def replay_stream(simulation: Simulation, events: list[SimEvent]) -> list[Record]:
    replayer = Replayer(Matcher(), Scorer(load_profiles()), load_routes())
    for message in nominal_messages(simulation):
        replayer.load_nominal(message.key, message.value)
    messages = [InputMessage(e.topic, e.key.encode(), encode(e.value), 0, i, int(e.arrival.timestamp() * 1000))
                for i, e in enumerate(events)]
    return list(replayer.run(messages))


def must_be_critical(event: SimEvent) -> bool:
    value = event.value
    return bool(value.get("subject_is_child")) or value.get("urgency") == "immediate_risk"


def measure(simulation: Simulation, events: list[SimEvent], records: list[Record]) -> dict[str, Any]:
    by_key = {f"{e.topic}:{e.key}": e for e in events}
    person_of = {f"{e.topic}:{e.key}#{i}": p for e in events for i, p in enumerate(e.persons)}
    nominals_of: dict[str, set[str]] = defaultdict(set)  # person -> nominals their mentions resolved to
    latest: dict[str, dict[str, Any]] = {}  # alert id -> its latest decision, with the event it came from
    for record in records:
        for match in record["matches"]:
            person = person_of.get(match["mention_id"])
            if person is not None and match["nominal_id"]:
                nominals_of[person].add(match["nominal_id"])
        event_key = f"{record['event']['topic']}:{record['event']['key']}"
        for alert in record["alerts"]:
            first = latest.get(alert["alert_id"], {}).get("_threat", (alert.get("alert") or alert)["threat"])
            latest[alert["alert_id"]] = alert | {"_event": event_key, "_threat": first}

    alerts = []
    merged_away = 0
    for alert_id, alert in latest.items():
        whole = alert.get("alert") or {}  # the alert as published (before situations: not in the record)
        if whole.get("merged_into"):
            merged_away += 1  # closed as merged into another alert, which names all it named
            continue
        events_named = ({f"{r['topic']}:{r['key']}" for r in whole.get("event_refs", alert.get("event_refs", []))}
                        or {alert["_event"]})
        nominals_named = set(whole.get("nominal_ids") or alert.get("nominal_ids") or [alert["nominal_id"]])
        networks = {by_key[k].network for k in events_named if k in by_key and by_key[k].network}
        alerts.append({"alert_id": alert_id, "region": alert["region"], "threat": alert["_threat"],
                       "events": events_named,
                       "nominals": nominals_named, "networks": networks,
                       "critical_person": any(must_be_critical(by_key[k]) for k in events_named if k in by_key)})
    # Force nominals flagged missing: an alert naming one is a missing person found, which the issue's
    # precision does not count as right (the simulator marks those background events not relevant).
    missing = {n.record_id for n in simulation.nominals if "missing_person" in n.flags}
    for alert in alerts:
        alert["missing_person"] = bool(alert["nominals"] & missing)
    named = set().union(*(a["nominals"] for a in alerts)) if alerts else set()
    carried = set().union(*(a["events"] for a in alerts)) if alerts else set()

    networks = {}
    for network in simulation.networks:
        own_events = [e for e in events if e.network == network.name]
        seen = {p for e in own_events for p in e.persons} & set(network.members)
        found = {p for p in seen if nominals_of.get(p, set()) & named}
        victims = {p for p in seen if network.members[p] in VICTIM_ROLES}
        raised = [a for a in alerts if network.name in a["networks"]]
        per_region: dict[str, int] = defaultdict(int)
        for alert in raised:
            per_region[alert["region"]] += 1
        networks[network.name] = {
            "members": len(network.members), "members_in_events": len(seen), "victims_in_events": len(victims),
            "alerts": len(raised), "alerts_per_region": dict(sorted(per_region.items())),
            "member_recall": round(len(found) / len(seen), 4) if seen else None,
            "victim_recall": round(len(found & victims) / len(victims), 4) if victims else None,
            "network_event_share": round(sum(f"{e.topic}:{e.key}" in carried for e in own_events)
                                         / len(own_events), 4) if own_events else None,
        }
    background_events = sum(1 for e in events if e.network is None)
    background_alerts = [a for a in alerts if not a["networks"]]
    right = sum(1 for a in alerts if a["networks"] or a["critical_person"])
    return {
        "events": len(events), "background_events": background_events, "alerts": len(alerts),
        "alerts_closed_as_merged": merged_away,
        "networks": networks,
        "alert_precision": round(right / len(alerts), 4) if alerts else None,
        "background_alerts": len(background_alerts),
        # Which threat profile raised them (a situation's: its first alert's).
        "background_alerts_by_threat": dict(sorted(Counter(a.get("threat", "?") for a in background_alerts).items())),
        "background_alerts_per_1000": round(1000 * len(background_alerts) / background_events, 2)
        if background_events else None,
        "background_alerts_naming_a_missing_person": sum(a["missing_person"] for a in background_alerts),
        # Precision if a flagged missing person found counted as right, as a missing-persons team would count it.
        "alert_precision_with_missing_people_found": round(
            sum(1 for a in alerts if a["networks"] or a["critical_person"] or a["missing_person"]) / len(alerts), 4)
        if alerts else None,
        "mean_events_per_alert": round(statistics.fmean(len(a["events"]) for a in alerts), 2) if alerts else None,
        "mean_nominals_per_alert": round(statistics.fmean(len(a["nominals"]) for a in alerts), 2)
        if alerts else None,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Across seeds: each network's worst recall and most alerts, and the means of the stream-wide figures."""
    out: dict[str, Any] = {}
    names = sorted({name for run in runs for name in run["networks"]})
    for name in names:
        seen = [run["networks"][name] for run in runs if name in run["networks"]]
        out[name] = {
            "most_alerts": max(s["alerts"] for s in seen),
            "most_alerts_in_one_region": max(max(s["alerts_per_region"].values(), default=0) for s in seen),
            "least_member_recall": min((s["member_recall"] for s in seen if s["member_recall"] is not None),
                                       default=None),
            "least_victim_recall": min((s["victim_recall"] for s in seen if s["victim_recall"] is not None),
                                       default=None),
            "least_network_event_share": min((s["network_event_share"] for s in seen
                                              if s["network_event_share"] is not None), default=None),
        }
    for figure in ("alert_precision", "alert_precision_with_missing_people_found", "background_alerts_per_1000",
                   "mean_events_per_alert"):
        values = [run[figure] for run in runs if run[figure] is not None]
        out[f"mean_{figure}"] = round(statistics.fmean(values), 4) if values else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        simulation = simulate(args.scenario, args.events, seed)
        events = list(simulation.events())
        print(f"[alert_quality] seed {seed}: {len(events)} events", file=sys.stderr)
        records = replay_stream(simulation, events)
        runs.append({"seed": seed, **measure(simulation, events, records)})
    print(json.dumps({"benchmark": "alert_quality", "scenario": args.scenario, "events": args.events,
                      "summary": summary(runs), "runs": runs,
                      "seconds": round(time.perf_counter() - started, 1)}, indent=1))


if __name__ == "__main__":
    main()
