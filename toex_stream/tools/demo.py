"""``toex-stream demo``: the whole system on a local broker, showing what happens to each event.

It starts Kafka (unless one answers already) and the worker, sends the
examples and a few broken messages, and shows which became an Observation and
which went to the dead-letter topic and why. Then it runs a simulated case
(headdress by default): imports the nominals a force would hold, streams the
events at a watchable pace, shows alerts as they arrive and a summary checked
against the ground truth. Then it starts the regional teams' dashboard and
prints its address and a demo user's sign-in (a national analyst, made on the
first run, the password kept in the data folder), keeps watching until
Ctrl-C, and stops everything it started.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import (
    TopicReader,
    durable_producer,
    existing_topics,
    produce_and_wait,
    topic_and_value,
)
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings
from toex_stream.domain.contract import (
    INPUT_MODELS,
    INPUT_TOPICS,
    TOPIC_DEADLETTER,
    TOPIC_OBSERVATIONS,
    DeadLetter,
    Observation,
    detect_topic,
    event_key,
)
from toex_stream.domain.errors import ToexError
from toex_stream.tools.demo_scenario import run_scenario
from toex_stream.tools.processes import start_dashboard, start_worker, stop_process_group

WORKER_READY_TIMEOUT_S = 120.0
DASHBOARD_READY_TIMEOUT_S = 60.0
DEMO_USER = "demo-analyst"
DEMO_PASSWORD_FILE = "demo-user.txt"
OUTCOME_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class DemoInput:
    label: str
    topic: str
    key: bytes
    value: bytes


def demo_inputs(examples_dir: Path) -> list[DemoInput]:
    """The examples as they are, then four broken messages a feed might really send."""
    inputs = []
    for path in sorted(examples_dir.glob("*.json")):
        raw = path.read_bytes()
        topic = detect_topic(json.loads(raw))
        if topic is None:
            raise ToexError(f"{path}: not a referral, advert or intelligence report")
        event = INPUT_MODELS[topic].model_validate_json(raw)
        inputs.append(DemoInput(path.name, topic, event_key(event).encode(), raw))
    by_topic = {i.topic: i for i in inputs}
    referral, advert = by_topic["toex.referrals"].value, by_topic["toex.adverts"].value
    bad_enum = json.loads(referral)
    bad_enum["urgency"] = "urgent"
    bad_type = json.loads(advert)
    bad_type["stated_age"] = "21"
    return inputs + [
        DemoInput("truncated JSON", "toex.referrals", b"broken-1", referral[: len(referral) // 2]),
        DemoInput("age as a string", "toex.adverts", b"broken-2", json.dumps(bad_type).encode()),
        DemoInput("unknown urgency", "toex.referrals", b"broken-3", json.dumps(bad_enum).encode()),
        DemoInput("not UTF-8", "toex.intel", b"broken-4", b"\xff\xfe" + referral[:40]),
    ]


def describe(message_topic: str, value: bytes) -> tuple[tuple[str, int, int], str, str]:
    """Source position, outcome and a one-line detail of an output message (no personal data)."""
    if message_topic == TOPIC_OBSERVATIONS:
        observation = Observation.model_validate_json(value)
        roles = ", ".join(m.role for m in observation.mentions) or "none"
        detail = f"{len(observation.mentions)} mention(s) ({roles}), {len(observation.places)} place(s)"
        position = (observation.event_ref.topic, observation.partition, observation.offset)
        return position, "[green]observation[/]", detail
    letter = DeadLetter.model_validate_json(value)
    position = (letter.source_topic, letter.partition, letter.offset)
    return position, f"[red]dead letter ({letter.kind})[/]", escape(letter.reason)


def _wait_for_topics(settings: Settings, worker: subprocess.Popen[bytes]) -> None:
    wanted = {*INPUT_TOPICS, TOPIC_OBSERVATIONS, TOPIC_DEADLETTER}
    kafka = KafkaAccess.from_settings(settings)
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise ToexError(f"the worker exited (code {worker.returncode}); see {settings.data_dir / 'worker.log'}")
        if wanted <= existing_topics(kafka):
            return
        time.sleep(0.5)
    raise ToexError("the worker did not create its topics in time")


def run_demo(
    settings: Settings, console: Console, examples_dir: Path, once: bool = False,
    scenario: str | None = "headdress", rate: float = 25.0,
) -> int:
    """Run the demo; return the number of inputs whose outcome never showed up."""
    # Ctrl-C must stop what the demo starts even when it was launched from a shell that ignores
    # SIGINT for background jobs (Python then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kafka = LocalKafka(settings)
    started_kafka = kafka.up(progress=lambda msg: console.print(f"[dim]kafka:[/] {msg}"))
    worker_log = (settings.data_dir / "worker.log").resolve()
    worker = start_worker(settings, worker_log)
    console.print(f"[dim]worker:[/] started (pid {worker.pid}), log {worker_log}")
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        _wait_for_topics(settings, worker)
        with TopicReader(KafkaAccess.from_settings(settings), [TOPIC_OBSERVATIONS, TOPIC_DEADLETTER]) as reader:
            missing = _send_and_show(settings, console, reader, demo_inputs(examples_dir), worker)
            if scenario:
                console.rule(f"The {scenario} scenario: nominals imported, events at {rate:g} a second")
                run_scenario(settings, console, scenario, rate=rate)
            dashboard = _start_dashboard(settings, console)
            if once:
                return missing
            console.print(
                "\nThe worker keeps running. In another terminal, send your own with "
                "[bold]toex-stream submit FILE.json[/]. [bold]Ctrl-C[/] stops everything the demo started.\n"
            )
            while True:
                if worker.poll() is not None:
                    raise ToexError(f"the worker exited (code {worker.returncode}); see {worker_log}")
                for message in reader.poll(timeout=1.0):
                    (topic, partition, offset), outcome, detail = describe(*topic_and_value(message))
                    console.print(escape(f"{topic}[{partition}]@{offset}:"), outcome, detail)
    except KeyboardInterrupt:
        console.print("\nstopping")
        return 0
    finally:
        if dashboard is not None:
            stop_process_group(dashboard)
            console.print("[dim]dashboard:[/] stopped")
        stop_process_group(worker)
        console.print("[dim]worker:[/] stopped")
        if started_kafka:
            kafka.down()
            console.print("[dim]kafka:[/] stopped")


def demo_user(settings: Settings) -> tuple[str, str]:
    """The demo's user (a national analyst) and password: made on the first run, the password kept in the data
    folder (readable by this account only) so later runs sign in the same way."""
    import secrets

    from toex_stream.adapters.sql.store import build_engine, migrate
    from toex_stream.adapters.sql.users import Users
    from toex_stream.domain.access import parse_scope

    kept = settings.data_dir / DEMO_PASSWORD_FILE
    engine = build_engine(settings)
    try:
        migrate(engine)
        users = Users(engine)
        if users.get(DEMO_USER) is not None:
            if kept.exists():
                return DEMO_USER, kept.read_text(encoding="utf-8").strip()
            return DEMO_USER, f"(unknown: {kept} is gone; remove the data folder to start afresh)"
        password = secrets.token_urlsafe(12)
        users.add(DEMO_USER, "analyst", parse_scope("national"), password=password)
        kept.write_text(password + "\n", encoding="utf-8")
        kept.chmod(0o600)
        return DEMO_USER, password
    finally:
        engine.dispose()


def _start_dashboard(settings: Settings, console: Console) -> subprocess.Popen[bytes]:
    """Start the dashboard, wait until it answers, and say where it is and how to sign in."""
    from toex_stream.adapters.kafka_io import port_open

    name, password = demo_user(settings)
    log = (settings.data_dir / "dashboard.log").resolve()
    process = start_dashboard(settings, log)
    deadline = time.monotonic() + DASHBOARD_READY_TIMEOUT_S
    while not port_open(settings.web_bind, settings.dashboard_port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ToexError(f"the dashboard did not start; see {log}")
        time.sleep(0.3)
    address = settings.public_url or f"http://{settings.web_bind}:{settings.dashboard_port}"
    console.rule("The regional teams' dashboard")
    console.print(f"dashboard: [bold]{address}/[/] (pid {process.pid}, log {log})")
    console.print(f"sign in as [bold]{name}[/] with the password [bold]{escape(password)}[/] "
                  f"(kept in {settings.data_dir / DEMO_PASSWORD_FILE}); the queue shows the case's alerts")
    return process


def _send_and_show(
    settings: Settings,
    console: Console,
    reader: TopicReader,
    inputs: list[DemoInput],
    worker: subprocess.Popen[bytes],
) -> int:
    producer = durable_producer(KafkaAccess.from_settings(settings))
    sent = {}
    for item in inputs:
        delivered = produce_and_wait(producer, item.topic, item.key, item.value)
        sent[(delivered.topic, delivered.partition, delivered.offset)] = item
    console.print(f"sent {len(sent)} messages; waiting for the worker (the first start joins its consumer group)")
    outcomes: dict[tuple[str, int, int], tuple[str, str]] = {}
    deadline = time.monotonic() + OUTCOME_TIMEOUT_S
    while len(outcomes) < len(sent) and time.monotonic() < deadline:
        if worker.poll() is not None:
            raise ToexError(f"the worker exited (code {worker.returncode}); see {settings.data_dir / 'worker.log'}")
        for message in reader.poll(timeout=1.0):
            position, outcome, detail = describe(*topic_and_value(message))
            if position in sent:
                outcomes[position] = (outcome, detail)
    table = Table(title="What happened to each event", show_lines=True)
    for column in ("input", "topic", "outcome", "detail"):
        table.add_column(column)
    for position, item in sent.items():
        outcome, detail = outcomes.get(position, ("[yellow]no outcome yet[/]", ""))
        table.add_row(item.label, escape(f"{position[0]}[{position[1]}]@{position[2]}"), outcome, detail)
    console.print(table)
    return len(sent) - len(outcomes)
