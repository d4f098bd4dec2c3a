"""The demo's second act: a simulated case runs through the whole system while alerts arrive on screen.

The scenario's nominals are imported (store and ``toex.nominals``) as a force
would hold them, its events are sent at a watchable pace, and a live view
shows what the worker makes of them. The summary then checks the alerts
against the simulator's ground truth: how many of the network's members were
alerted to the region that should have been.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import NominalPublisher, TopicReader, topic_and_value
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.application.nominal_import import import_nominals
from toex_stream.domain import contract
from toex_stream.domain.alerting.messages import people
from toex_stream.tools.simulate import KafkaSink, run, simulate, write_nominals

QUIET_SECONDS = 15.0  # after the last event, how long without news before the summary
MAX_DRAIN_SECONDS = 180.0


@dataclass
class Watch:
    """What the demo has seen of its own events on the output topics."""

    keys: set[str] = field(default_factory=set)  # "<topic>:<key>" of every event sent
    observations: set[str] = field(default_factory=set)
    decisions: Counter[str] = field(default_factory=Counter)
    nominal_of_mention: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, contract.Alert] = field(default_factory=dict)
    last_news: float = field(default_factory=time.monotonic)

    def take(self, topic: str, value: bytes) -> None:
        if topic == contract.TOPIC_OBSERVATIONS:
            observation = contract.Observation.model_validate_json(value)
            if observation.observation_id in self.keys:
                self.observations.add(observation.observation_id)
                self.last_news = time.monotonic()
        elif topic == contract.TOPIC_MATCHES:
            match = contract.MatchResult.model_validate_json(value)
            if match.observation_id in self.keys and match.mention_id not in self.nominal_of_mention:
                self.decisions[match.decision] += 1
                self.nominal_of_mention[match.mention_id] = match.nominal_id
                self.last_news = time.monotonic()
        elif topic == contract.TOPIC_ALERTS:
            alert = contract.Alert.model_validate_json(value)
            if any(f"{ref.topic}:{ref.key}" in self.keys for ref in alert.event_refs) or alert.alert_id in self.alerts:
                self.alerts[alert.alert_id] = alert
                self.last_news = time.monotonic()


def _view(watch: Watch, sent: int, total: int) -> Group:
    counts = (f"sent {sent}/{total} events · observed {len(watch.observations)} · "
              f"matched {watch.decisions['match']}, possible {watch.decisions['possible_match']}, "
              f"new {watch.decisions['new']} · alerts {len(watch.alerts)}")
    table = Table(title="Alerts about situations, as they grow (newest first)")
    for column in ("alert", "band", "region", "threats", "people", "events", "why"):
        table.add_column(column, no_wrap=column == "alert")
    for alert in sorted(watch.alerts.values(), key=lambda a: a.created_at, reverse=True)[:12]:
        why = f"merged into {alert.merged_into}" if alert.merged_into else (
            escape(alert.reasons[0].text) if alert.reasons else "")
        table.add_row(alert.alert_id, alert.band, alert.region, ", ".join(alert.threats or [alert.threat]),
                      people(alert) if alert.members else str(len(alert.nominal_ids)), str(len(alert.event_refs)),
                      why)
    return Group(counts, table)


def run_scenario(settings: Settings, console: Console, scenario: str = "headdress", events: int | None = None,
                 rate: float = 25.0, seed: int = 1) -> dict[str, object]:
    """Import the scenario's nominals, stream its events, watch, and return the summary."""
    simulation = simulate(scenario, events, seed)
    nominals_csv = (settings.data_dir / f"demo-{scenario}-nominals.csv").resolve()
    write_nominals(nominals_csv, simulation.nominals)
    engine = build_engine(settings)
    migrate(engine)
    kafka = KafkaAccess.from_settings(settings)
    publisher = NominalPublisher(kafka)
    report = import_nominals(nominals_csv, SqlAlchemyNominalStore(engine), publish=publisher, flush=publisher.flush)
    console.print(f"imported the nominals a force would hold: {report.summary()}")
    time.sleep(3)  # every worker follows toex.nominals twice a second

    truth: list[dict] = []
    watch = Watch()
    simulated = list(simulation.events())
    for event in simulated:
        watch.keys.add(f"{event.topic}:{event.key}")
        truth.append(event.truth())
    simulation = simulate(scenario, events, seed)  # the same stream again, to send
    progress = {"sent": 0}

    def send() -> None:
        run(simulation, KafkaSink(kafka), rate=rate,
            progress=lambda n: progress.__setitem__("sent", progress["sent"] + n))

    topics = [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES, contract.TOPIC_ALERTS]
    with TopicReader(kafka, topics) as reader:
        sender = threading.Thread(target=send, name="demo-sender", daemon=True)
        sender.start()
        started = time.monotonic()
        with Live(_view(watch, 0, len(simulated)), console=console, refresh_per_second=4) as live:
            while True:
                for message in reader.poll(timeout=0.25):
                    watch.take(*topic_and_value(message))
                live.update(_view(watch, progress["sent"], len(simulated)))
                done = not sender.is_alive()
                quiet = time.monotonic() - watch.last_news > QUIET_SECONDS
                if done and (quiet or time.monotonic() - started > MAX_DRAIN_SECONDS + len(simulated) / rate):
                    break
    return summarise(watch, truth, simulation.networks, simulation.nominals, console)


def summarise(watch: Watch, truth: list[dict], networks: list, nominals: list, console: Console) -> dict[str, object]:
    """The summary table, checked against the ground truth."""
    person_of_mention = {m["mention_id"]: m["person_id"] for t in truth for m in t["mentions"]}
    person_of_record = {r.record_id: r.person.person_id for r in nominals}
    persons_of_nominal: dict[str, set[str]] = {}
    for mention_id, nominal_id in watch.nominal_of_mention.items():
        if mention_id in person_of_mention:
            persons_of_nominal.setdefault(nominal_id, set()).add(person_of_mention[mention_id])
    for record_id, person_id in person_of_record.items():
        persons_of_nominal.setdefault(record_id, set()).add(person_id)

    by_region_band = Counter((a.region, a.band) for a in watch.alerts.values())
    table = Table(title="Summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("events sent", str(len(watch.keys)))
    table.add_row("events processed (observations)", str(len(watch.observations)))
    for decision in ("match", "possible_match", "new"):
        table.add_row(f"mentions: {decision}", str(watch.decisions[decision]))
    for (region, band), count in sorted(by_region_band.items()):
        table.add_row(f"alerts: {region}, {band}", str(count))
    summary: dict[str, object] = {"events": len(watch.keys), "observed": len(watch.observations),
                                  "alerts": len(watch.alerts)}
    for network in networks:
        members = {m for m in network.members}
        alerted = set()
        for alert in watch.alerts.values():
            if alert.region != network.region:
                continue
            for nominal_id in alert.nominal_ids:
                alerted |= persons_of_nominal.get(nominal_id, set()) & members
        table.add_row(f"network {network.name}: members alerted to {network.region}",
                      f"{len(alerted)} of {len(members)}")
        summary[f"{network.name}_alerted_right_region"] = len(alerted)
        summary[f"{network.name}_members"] = len(members)
    console.print(table)
    return summary
