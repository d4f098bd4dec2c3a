"""An operator's bad day as a harness: a broker, two workers, a chat server, a steady stream, and faults.

``benchmarks/faults.py`` (the full day) and ``tests/integration/test_faults.py``
(a short one) drive it: :func:`operate` starts a broker of its own on free
ports, a Slack-compatible server, two workers in one consumer group sharing
one database, and imports a simulated stream's nominals; :class:`EventStream`
sends the events at a steady rate while :func:`run_faults` injects the steps
(:func:`kill_worker`, :func:`terminate_worker`, :func:`restart_broker`,
:func:`fail_chat`) at fixed times; :func:`wait_for_quiescence` waits until the
group has committed every message and the outbox is empty; :func:`count` then
reads the topics from the beginning, the database and the chat server and says
what was lost or posted twice.

Nothing here works around a loss: an input event counts as observed only if
its Observation is on ``toex.observations``, a mention as decided only if its
MatchResult is on ``toex.matches``, an alert as delivered only if the chat
server holds it as a top-level post.

Times in the report are seconds from the moment the stream started.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streams import topics
from streams.app import APP_ID
from tests.conftest import free_port
from tests.fake_slack import FakeSlack, Outage
from toex_stream.adapters.kafka_io import NominalPublisher, durable_producer, ensure_topics
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.senders import SLACK_EVENT_TYPE
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox_models import AlertRow, OutboxRow
from toex_stream.adapters.sql.store import SqlAlchemyNominalStore, build_engine, migrate
from toex_stream.application.nominal_import import import_nominals
from toex_stream.domain import contract
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.tools.processes import start_worker, stop_process_group
from toex_stream.tools.simulate import SimEvent, encode, write_nominals
from toex_stream.tools.simulate.scenarios import NominalRecord

WORKERS = ("worker-a", "worker-b")
# An Observation later than this after its event was sent was held up by a fault.
DELAYED_S = 5.0
READY_TIMEOUT_S = 180.0
RESTART_PAUSE_S = 5.0  # before a worker that stopped by itself is started again
# The topics the worker group consumes: quiescence is its committed offsets at their ends.
CONSUMED_TOPICS = [*contract.INPUT_TOPICS, contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES,
                   contract.TOPIC_SITUATION_INPUT, contract.TOPIC_FEEDBACK]
_QUIET = {"log_level": 0}


def _now() -> float:
    return time.monotonic()


# -- the rig: broker, chat server, workers ---------------------------------------------------


@dataclass
class Worker:
    name: str
    settings: Settings
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    stopping: bool = False  # the harness is stopping it: its exit is expected
    restart_at: float | None = None  # it stopped by itself: when the supervisor starts it again


@dataclass
class Rig:
    """What :func:`operate` started; ``origin`` (time.monotonic()) is when the stream started."""

    folder: Path
    broker: LocalKafka
    slack: FakeSlack
    routes_file: Path
    database_url: str
    workers: dict[str, Worker]
    origin: float = field(default_factory=_now)
    wall_origin: float = field(default_factory=time.time)
    exits: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bootstrap(self) -> str:
        return self.broker.settings.kafka_bootstrap

    def at(self, moment: float) -> float:
        """``moment`` (time.monotonic()) as seconds since the stream started."""
        return round(moment - self.origin, 2)

    def start(self, name: str) -> None:
        worker = self.workers[name]
        with self._lock:
            worker.process = start_worker(worker.settings, worker.log_file)
            worker.stopping = False

    def stop(self, name: str, how: str) -> dict[str, Any]:
        """Stop a worker with ``how`` ("sigkill" or "sigterm"); its exit is recorded as expected."""
        worker = self.workers[name]
        with self._lock:
            worker.stopping = True
            process = worker.process
        assert process is not None, f"{name} is not running"
        began = _now()
        if how == "sigkill":  # the whole process group, as the kernel's OOM killer or a lost machine would
            _signal_group(process, signal.SIGKILL)
            code = process.wait()
        else:
            code = stop_process_group(process, timeout=60.0)
        exit_ = {"worker": name, "at_s": self.at(began), "code": code, "cause": f"{how} by the harness",
                 "stopped_in_s": round(_now() - began, 2)}
        with self._lock:
            self.exits.append(exit_)
        return exit_

    def supervise(self) -> None:
        """Record a worker that stopped by itself; restart it after a pause, as systemd's Restart=on-failure would."""
        with self._lock:
            for worker in self.workers.values():
                process = worker.process
                if process is None or worker.stopping or process.poll() is None:
                    continue
                if worker.restart_at is None:
                    self.exits.append({"worker": worker.name, "at_s": self.at(_now()), "code": process.returncode,
                                       "cause": "exited by itself", "log": str(worker.log_file)})
                    worker.restart_at = _now() + RESTART_PAUSE_S
                elif _now() >= worker.restart_at:
                    worker.process = start_worker(worker.settings, worker.log_file)
                    worker.restart_at = None

    def ready(self, name: str) -> bool:
        """Whether the worker answers /healthz with ready (it has read the nominals and can match)."""
        port = self.workers[name].settings.web_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                return json.loads(answer.read()).get("ready") is True
        except (OSError, ValueError):
            return False

    def group_members(self) -> int:
        """Members of the worker group holding partitions, once the group is stable; 0 otherwise."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **_QUIET})
        try:
            (description,) = [f.result(timeout=10) for f in admin.describe_consumer_groups([APP_ID]).values()]
        except KafkaException:
            return 0
        if description.state.name != "STABLE":
            return 0
        return sum(1 for m in description.members if m.assignment and m.assignment.topic_partitions)

    def wait_until_whole(self, names: tuple[str, ...] | list[str], timeout: float = READY_TIMEOUT_S) -> float | None:
        """Wait until ``names`` are ready and every worker holds partitions in a stable group; when, or None."""
        deadline = _now() + timeout
        while _now() < deadline:
            self.supervise()
            if all(self.ready(n) for n in names) and self.group_members() == len(self.workers):
                return _now()
            time.sleep(0.5)
        return None


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def short_routes(folder: Path) -> Path:
    """The bundled routes with a one-second group wait and a ten-second group interval.

    The wait as the integration tests shorten it; the interval too, or an update
    would sit in the outbox for up to five minutes and quiescence would wait for it.
    """
    routes = folder / "routes.yaml"
    routes.write_text(
        (resources.files("toex_stream") / "data" / "routes.yaml").read_text(encoding="utf-8")
        .replace("group_wait: 30s", "group_wait: 1s").replace("group_interval: 5m", "group_interval: 10s"),
        encoding="utf-8",
    )
    return routes


@contextmanager
def operate(folder: Path, nominals: list[NominalRecord], database_url: str | None = None) -> Iterator[Rig]:
    """Start the broker, the chat server and two workers, with ``nominals`` imported; stop all of it after.

    Yields once both workers are ready and share the group's partitions.
    """
    broker = LocalKafka(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                                 data_dir=folder / "broker"))
    slack = FakeSlack().start()
    database_url = database_url or f"sqlite:///{(folder / 'toex.sqlite3').resolve()}"
    routes = short_routes(folder)
    workers = {}
    for name in WORKERS:
        settings = Settings(kafka_bootstrap=broker.settings.kafka_bootstrap, data_dir=folder / name,
                            web_port=free_port(), database_url=database_url, routes_file=routes,
                            slack_bot_token="xoxb-faults", slack_api_url=slack.api_url)
        workers[name] = Worker(name, settings, folder / f"{name}.log")
    rig = Rig(folder, broker, slack, routes, database_url, workers)
    try:
        broker.up()
        ensure_topics(rig.bootstrap, topics.ALL)
        _import_nominals(rig, nominals)
        for name in WORKERS:
            rig.start(name)
        if rig.wait_until_whole(WORKERS) is None:
            raise RuntimeError(f"the workers did not become ready and share the partitions; see {folder}/*.log")
        yield rig
    finally:
        stopping = []
        for worker in workers.values():  # side by side: each may take seconds to shut down cleanly
            worker.stopping = True
            if worker.process is not None:
                stopping.append(threading.Thread(target=stop_process_group, args=(worker.process,)))
                stopping[-1].start()
        for thread in stopping:
            thread.join()
        broker.down()
        slack.stop()


def _import_nominals(rig: Rig, nominals: list[NominalRecord]) -> None:
    """The nominals a force would hold, in the store and on toex.nominals, as `nominals import` puts them."""
    engine = build_engine(Settings(database_url=rig.database_url))
    migrate(engine)
    path = rig.folder / "nominals.csv"
    write_nominals(path, nominals)
    publisher = NominalPublisher(rig.bootstrap)
    import_nominals(path, SqlAlchemyNominalStore(engine), publish=publisher, flush=publisher.flush)
    engine.dispose()


# -- the stream and what comes out of it ---------------------------------------------------------


@dataclass
class Sent:
    """One input event: when it was handed to the producer and where Kafka put it."""

    topic: str
    key: str
    sent_at: float
    position: tuple[str, int, int] | None = None  # (topic, partition, offset) once acknowledged
    error: str | None = None


class EventStream(threading.Thread):
    """Sends ``events`` at ``rate`` a second, whatever the broker is doing; the producer waits out outages."""

    def __init__(self, bootstrap: str, events: list[SimEvent], rate: float) -> None:
        super().__init__(name="event-stream", daemon=True)
        self.bootstrap, self.events, self.rate = bootstrap, events, rate
        self.sent: list[Sent] = []
        self.finished_at: float | None = None

    def run(self) -> None:
        # Ten minutes for each message: a broker restart must not fail a send.
        producer = durable_producer(self.bootstrap, **{"message.timeout.ms": 600_000})
        began = _now()
        for number, event in enumerate(self.events):
            pause = began + number / self.rate - _now()
            if pause > 0:
                time.sleep(pause)
            record = Sent(event.topic, event.key, _now())
            self.sent.append(record)
            producer.produce(event.topic, key=event.key.encode(), value=encode(event.value),
                             on_delivery=lambda err, msg, record=record: _acknowledged(record, err, msg))
            producer.poll(0)
        producer.flush(600)
        self.finished_at = _now()


def _acknowledged(record: Sent, err: Any, msg: Any) -> None:
    if err is not None:
        record.error = str(err)
    else:
        record.position = (msg.topic(), msg.partition(), msg.offset())


class ObservationTail(threading.Thread):
    """When each input message's first Observation appeared on toex.observations (for the timings)."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(name="observation-tail", daemon=True)
        self.bootstrap = bootstrap
        self.first_seen: dict[tuple[str, int, int], float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        consumer = _reader(self.bootstrap, [contract.TOPIC_OBSERVATIONS])
        try:
            while not self.done.is_set():
                for message in consumer.consume(num_messages=500, timeout=0.5):
                    if message.error() is not None:  # the broker is away: librdkafka reconnects by itself
                        continue
                    observation = contract.Observation.model_validate_json(message.value())
                    position = (observation.event_ref.topic, observation.partition, observation.offset)
                    self.first_seen.setdefault(position, _now())
        finally:
            consumer.close()


def _reader(bootstrap: str, names: list[str]) -> Consumer:
    """A consumer outside the worker group, assigned every partition of ``names`` from the beginning."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-reader-{os.getpid()}-{_now()}",
                         "enable.auto.commit": False, **_QUIET})
    metadata = consumer.list_topics(timeout=30)
    consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for name in names
                     for p in metadata.topics[name].partitions])
    return consumer


def read_topic(bootstrap: str, name: str) -> list[bytes]:
    """Every value on ``name`` now, from the beginning to the end of each partition."""
    consumer = _reader(bootstrap, [name])
    try:
        ends = {}
        for partition in consumer.list_topics(name, timeout=30).topics[name].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
            if high > low:
                ends[partition] = high
        values = []
        deadline = _now() + 120
        while ends and _now() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error() is not None:
                    continue
                values.append(message.value())
                if message.offset() + 1 >= ends.get(message.partition(), 0):
                    ends.pop(message.partition(), None)
        if ends:
            raise RuntimeError(f"could not read {name} to its end within 120 s: partitions {sorted(ends)} left")
        return values
    finally:
        consumer.close()


# -- the faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A fault injected ``at_s`` seconds after the stream started, or once the previous step of its lane is done.

    Steps of one lane run one after the other (a worker is not killed while the
    broker is coming back); the chat server's faults have a lane of their own.
    """

    at_s: float
    run: Callable[[Rig], dict[str, Any]]
    lane: str = "pipeline"


def kill_worker(at_s: float, name: str, restart_after_s: float = 5.0) -> Step:
    """kill -9 a worker, and start it again ``restart_after_s`` later, as a supervisor would."""

    def run(rig: Rig) -> dict[str, Any]:
        began = _now()
        rig.stop(name, "sigkill")
        time.sleep(restart_after_s)
        rig.start(name)
        whole = rig.wait_until_whole([name])
        return {"fault": f"kill -9 {name}, restarted after {restart_after_s:g} s", "kind": "pipeline",
                "began": began, "back": whole}

    return Step(at_s, run)


def terminate_worker(at_s: float, name: str) -> Step:
    """SIGTERM a worker (a deploy), wait for it to stop, and start it again."""

    def run(rig: Rig) -> dict[str, Any]:
        began = _now()
        stopped = rig.stop(name, "sigterm")
        rig.start(name)
        whole = rig.wait_until_whole([name])
        return {"fault": f"SIGTERM {name} and restart it", "kind": "pipeline", "began": began, "back": whole,
                "shutdown_s": stopped["stopped_in_s"], "exit_code": stopped["code"]}

    return Step(at_s, run)


def restart_broker(at_s: float, down_for_s: float = 5.0) -> Step:
    """Stop the broker (SIGTERM, SIGKILL after 30 s), and ``down_for_s`` later start it on the same ports and data."""

    def run(rig: Rig) -> dict[str, Any]:
        began = _now()
        rig.broker.down()
        stopped = _now()
        time.sleep(down_for_s)
        rig.broker.up()
        answering = _now()
        whole = rig.wait_until_whole(WORKERS)
        return {"fault": f"broker stopped, started again {down_for_s:g} s after it was down", "kind": "pipeline",
                "began": began, "back": whole, "broker_stop_s": round(stopped - began, 2),
                "broker_start_s": round(answering - stopped - down_for_s, 2)}

    return Step(at_s, run)


@dataclass(frozen=True)
class ChatFailure:
    status: int
    seconds: float
    retry_after: int | None = None
    store_first: bool = False  # the post reaches the channel, the answer is lost

    def describe(self) -> str:
        what = f"HTTP {self.status}"
        if self.retry_after is not None:
            what += f" Retry-After {self.retry_after}"
        if self.store_first:
            what += " after posting (answer lost)"
        return f"{what} for {self.seconds:g} s"


def fail_chat(at_s: float, phases: list[ChatFailure], *, from_first_call: bool = False) -> Step:
    """Make chat.postMessage and chat.update fail, phase after phase; returns at once (the server keeps time).

    With ``from_first_call`` the first phase starts with the first post or edit
    after ``at_s``, however late the alerts come: a window on the stream's
    clock can pass with no call to fail (a worker killed while it holds the
    outbox's lease stops delivery for the lease's 30 s).
    """

    def run(rig: Rig) -> dict[str, Any]:
        outages: list[Outage] = []
        for phase in phases:
            outages.append(rig.slack.fail_with(phase.status, phase.seconds, phase.retry_after,
                                               store_first=phase.store_first, after=outages[-1] if outages else None,
                                               from_next_call=from_first_call and not outages))
        return {"fault": "chat API fails: " + ", then ".join(p.describe() for p in phases), "kind": "chat",
                "began": _now(), "outages": outages}

    return Step(at_s, run, lane="chat")


def run_faults(rig: Rig, stream: EventStream, steps: list[Step]) -> list[dict[str, Any]]:
    """Run each lane's steps at their times, lanes side by side; supervise the workers until the stream is sent."""
    done: list[dict[str, Any]] = []
    failures: list[BaseException] = []

    def run_lane(lane: list[Step]) -> None:
        try:
            for step in lane:
                time.sleep(max(0.0, rig.origin + step.at_s - _now()))
                done.append(step.run(rig))
        except BaseException as exc:  # raised again in the main thread
            failures.append(exc)

    lanes: dict[str, list[Step]] = defaultdict(list)
    for step in sorted(steps, key=lambda s: s.at_s):
        lanes[step.lane].append(step)
    threads = [threading.Thread(target=run_lane, args=(lane,), name=f"faults-{name}", daemon=True)
               for name, lane in lanes.items()]
    for thread in threads:
        thread.start()
    while stream.is_alive() or any(t.is_alive() for t in threads):
        rig.supervise()
        time.sleep(0.5)
    if failures:
        raise failures[0]
    return sorted(done, key=lambda fault: fault["began"])


def wait_for_quiescence(rig: Rig, timeout: float) -> dict[str, Any]:
    """Wait until the group has committed every message of the topics it consumes and the outbox is empty.

    The two are reported apart: once the group has caught up nothing more is
    decided, but the outbox drains at the chat API's pace (one message a
    second per channel), which a busy channel can take minutes to reach.
    """
    began = _now()
    caught_up = drained = None
    lagging: dict[str, int] = {}
    while _now() < began + timeout and (caught_up is None or drained is None):
        rig.supervise()
        if caught_up is None:
            lagging = group_lag(rig.bootstrap)
            caught_up = None if lagging else _now()
        if caught_up is not None and not any(outbox_pending(rig).values()):
            drained = _now()
        if caught_up is None or drained is None:
            time.sleep(1)
    quiet: dict[str, Any] = {
        "quiescent": caught_up is not None and drained is not None,
        "caught_up_in_s": round(caught_up - began, 1) if caught_up is not None else None,
        "outbox_drained_in_s": round(drained - began, 1) if drained is not None else None,
    }
    if caught_up is None:
        quiet["lagging_partitions"] = lagging
    if drained is None:
        quiet["outbox_pending"] = outbox_pending(rig)
    return quiet


def outbox_pending(rig: Rig) -> dict[str, int]:
    """Undelivered outbox items: first posts and updates."""
    engine = build_engine(Settings(database_url=rig.database_url))
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow.kind, func.count()).where(OutboxRow.delivered_at.is_(None))
                               .group_by(OutboxRow.kind)).all()
    engine.dispose()
    return {"posts": 0, "updates": 0, **{f"{kind}s": n for kind, n in rows}}


def group_lag(bootstrap: str) -> dict[str, int]:
    """Messages the worker group has not committed, by partition ("topic[p]"), where there are any."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-lag-{os.getpid()}", **_QUIET})
    try:
        committed = group_committed(bootstrap)
        lag = {}
        for (name, partition), offset in committed.items():
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
            behind = high - (offset if offset >= 0 else low)
            if behind > 0:
                lag[f"{name}[{partition}]"] = behind
        return lag
    except KafkaException as exc:
        return {f"unknown ({exc.args[0].name()})": -1}
    finally:
        consumer.close()


def group_committed(bootstrap: str) -> dict[tuple[str, int], int]:
    """The worker group's committed offset on each partition it consumes (-1001: none yet)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **_QUIET})
    metadata = admin.list_topics(timeout=10)
    partitions = [TopicPartition(name, p) for name in CONSUMED_TOPICS if name in metadata.topics
                  for p in metadata.topics[name].partitions]
    request = [ConsumerGroupTopicPartitions(APP_ID, partitions)]
    (answer,) = [f.result(timeout=10) for f in admin.list_consumer_group_offsets(request).values()]
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions}


# -- counting ---------------------------------------------------------------------------------


def count(rig: Rig, stream: EventStream, tail: ObservationTail, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """What reached where, read from the topics (from the beginning), the database and the chat server."""
    acknowledged = [s for s in stream.sent if s.position is not None]
    observations = [contract.Observation.model_validate_json(v)
                    for v in read_topic(rig.bootstrap, contract.TOPIC_OBSERVATIONS)]
    per_event = Counter((o.event_ref.topic, o.partition, o.offset) for o in observations)
    lost = [s for s in acknowledged if per_event[s.position] == 0]
    # A lost event's offset was committed unprocessed, or the group never read that far (a stalled partition).
    committed = group_committed(rig.bootstrap)
    unread = [s for s in lost if s.position and s.position[2] >= committed.get(s.position[:2], -1)]

    mentions = {m.mention_id for o in observations for m in o.mentions}
    decisions = Counter(contract.MatchResult.model_validate_json(v).mention_id
                        for v in read_topic(rig.bootstrap, contract.TOPIC_MATCHES))
    undecided = mentions - decisions.keys()

    report: dict[str, Any] = {
        "events_sent": len(stream.sent),
        "send_failures": len(stream.sent) - len(acknowledged),
        "observed": len(acknowledged) - len(lost),
        "lost_observations": len(lost),
        "lost_unread": len(unread),
        "lost_committed_unprocessed": len(lost) - len(unread),
        "duplicate_observations": sum(per_event[s.position] - 1 for s in acknowledged if per_event[s.position] > 1),
        "mentions": len(mentions),
        "decided": len(mentions) - len(undecided),
        "lost_decisions": len(undecided),
        "duplicate_decisions": sum(n - 1 for mention, n in decisions.items() if mention in mentions and n > 1),
        **count_alerts(rig),
        "latency_s": _latencies(acknowledged, tail.first_seen),
        "lost_examples": [{"topic": s.topic, "key": s.key, "partition": s.position[1], "offset": s.position[2],
                           "sent_at_s": rig.at(s.sent_at)} for s in lost[:20] if s.position],
        "faults": [_recovery(rig, fault, faults, acknowledged, tail.first_seen) for fault in faults],
        "worker_exits": rig.exits,
    }
    return report


def count_alerts(rig: Rig) -> dict[str, Any]:
    """Every alert (on toex.alerts, or in the database) against the chat server's top-level posts."""
    since = dt.datetime.fromtimestamp(rig.wall_origin, dt.timezone.utc)  # this run's rows, in a reused database too
    on_topic = {contract.Alert.model_validate_json(value).alert_id
                for value in read_topic(rig.bootstrap, contract.TOPIC_ALERTS)}
    engine = build_engine(Settings(database_url=rig.database_url))
    with Session(engine) as session:
        stored = set(session.scalars(select(AlertRow.alert_id).where(AlertRow.updated_at >= since)))
        queued = session.execute(select(OutboxRow.alert_id, OutboxRow.receiver, OutboxRow.delivered_at)
                                 .where(OutboxRow.kind == "post", OutboxRow.created_at >= since)).all()
        # Posts withdrawn: their alert merged into another before they were ever tried (never posted, rightly).
        withdrawn = set(session.scalars(select(OutboxRow.alert_id).where(
            OutboxRow.kind == "post", OutboxRow.created_at >= since, OutboxRow.superseded_by.is_not(None))))
    engine.dispose()
    receivers = {r.name: r for r in load_routes(rig.routes_file).receivers}
    wanted: dict[str, set[str]] = defaultdict(set)  # alert -> the channels its post should be in
    for alert_id, receiver, _delivered in queued:
        if receivers[receiver].kind == "slack":
            name = receivers[receiver].channel or ""
            wanted[alert_id].add(rig.slack.channels.get(name.lstrip("#"), name))
    posts: Counter[tuple[str, str]] = Counter()  # (alert, channel) -> top-level posts
    for message in rig.slack.top_level():
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == SLACK_EVENT_TYPE:
            posts[(metadata["event_payload"]["alert_id"], message["channel"])] += 1
    queued_ids = {alert_id for alert_id, _receiver, _delivered in queued}
    still_queued = {alert_id for alert_id, _receiver, delivered in queued if delivered is None}
    alerts = on_topic | stored | queued_ids
    # An alert never queued has reached no channel: it counts as not posted, whatever its route.
    not_for_chat = {a for a in queued_ids if a not in wanted}
    for_chat = alerts - not_for_chat - withdrawn
    posted = {a for a in for_chat if wanted.get(a) and all(posts[(a, c)] for c in wanted[a])}
    return {
        "alerts": len(alerts),
        "alerts_posted": len(posted),
        "alerts_not_posted": len(for_chat - posted),
        "alerts_withdrawn": len(withdrawn),  # merged away before their post was tried
        "alerts_still_queued": len((for_chat - posted) & still_queued),  # late, kept in the outbox
        "alerts_not_queued": len(alerts - queued_ids),
        "alerts_not_for_chat": len(not_for_chat),
        "duplicate_top_level_posts": sum(n - 1 for n in posts.values() if n > 1),
        "posts_elsewhere": sum(n for (a, c), n in posts.items() if c not in wanted.get(a, set())),
        "chat_calls_failed": dict(Counter(str(c.status) for c in rig.slack.failed_calls())),
        "chat_messages": len(rig.slack.messages),
        "not_posted_examples": sorted(for_chat - posted)[:10],
    }


def _latencies(acknowledged: list[Sent], first_seen: dict[tuple[str, int, int], float]) -> dict[str, float]:
    values = sorted(first_seen[s.position] - s.sent_at for s in acknowledged if s.position in first_seen)
    if not values:
        return {}
    return {"p50": round(statistics.median(values), 2), "p99": round(values[int(0.99 * (len(values) - 1))], 2),
            "max": round(values[-1], 2)}


def _recovery(rig: Rig, fault: dict[str, Any], faults: list[dict[str, Any]], acknowledged: list[Sent],
              first_seen: dict[tuple[str, int, int], float]) -> dict[str, Any]:
    """How long a fault took to recover from, and what it cost.

    A worker or broker fault is charged with the events that should have come
    out after it began: those sent from ``DELAYED_S`` before it to
    ``DELAYED_S`` before the next such fault. It is over once the group is
    whole again (``back_in_s``: the worker or broker back, every worker ready
    and holding partitions) and the last of its events held up longer than
    ``DELAYED_S`` has come out (``recovered_in_s``). Events never observed are
    ``lost`` there, not delayed. A chat fault is over once every message it
    refused has been delivered after all.
    """
    began = fault["began"]
    entry = {k: v for k, v in fault.items() if k not in ("began", "back", "outages", "kind")}
    entry["at_s"] = rig.at(began)
    if fault["kind"] == "chat":
        first, last = fault["outages"][0].start(), fault["outages"][-1].end()
        if first is None or last is None:  # no call came to fail
            entry.update({"failed_from_s": None, "window_s": 0.0, "failed_calls": {}, "messages_refused": 0,
                          "messages_undelivered": 0, "recovered_in_s": None})
        else:
            entry["failed_from_s"] = rig.at(first)
            entry.update(_chat_recovery(rig, first, last))
        return entry
    later = [f["began"] for f in faults if f["kind"] == "pipeline" and f["began"] > began]
    window = [s for s in acknowledged
              if began - DELAYED_S <= s.sent_at < min(later, default=float("inf")) - DELAYED_S]
    latency = {id(s): first_seen[s.position] - s.sent_at for s in window if s.position in first_seen}
    delayed = [s for s in window if latency.get(id(s), 0.0) > DELAYED_S]
    back = fault["back"]
    recovered = max([back] + [first_seen[s.position] for s in delayed]) if back is not None else None
    entry.update({
        "back_in_s": round(back - began, 1) if back is not None else None,
        "recovered_in_s": round(recovered - began, 1) if recovered is not None else None,
        "events_charged": len(window),
        "delayed_events": len(delayed),
        "max_latency_s": round(max(latency.values(), default=0.0), 1),
        "lost": sum(1 for s in window if s.position not in first_seen),
    })
    return entry


def _chat_recovery(rig: Rig, began: float, ends: float) -> dict[str, Any]:
    """When every message the chat API refused during the window was delivered after all.

    A refused call is matched to its outbox item: the outbox sends one item at a
    time per alert and receiver, oldest first, so it is the alert's earliest
    item not yet delivered when the call was made.
    """

    def wall(moment: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(rig.wall_origin + moment - rig.origin, dt.timezone.utc)

    failed = [c for c in rig.slack.failed_calls() if began <= c.at <= ends]
    by_ts = {m["ts"]: m for m in rig.slack.messages}
    engine = build_engine(Settings(database_url=rig.database_url))
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow.id, OutboxRow.alert_id, OutboxRow.created_at, OutboxRow.delivered_at)
                               .order_by(OutboxRow.id)).all()
    engine.dispose()
    items: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        items[row.alert_id].append(row)
    refused: dict[int, dt.datetime | None] = {}
    for call in failed:  # a post carries its alert in its metadata; an edit names the post it edits
        metadata = call.params.get("metadata") or by_ts.get(call.params.get("ts"), {}).get("metadata") or {}
        alert_id = (metadata.get("event_payload") or {}).get("alert_id")
        at = wall(call.at)
        pending = [r for r in items.get(alert_id, []) if _aware(r.created_at) <= at
                   and (r.delivered_at is None or _aware(r.delivered_at) > at)]
        if pending:
            refused[pending[0].id] = pending[0].delivered_at
    undelivered = sum(1 for d in refused.values() if d is None)
    last = max((_aware(d) for d in refused.values() if d is not None), default=wall(began))
    return {"window_s": round(ends - began, 1), "failed_calls": dict(Counter(str(c.status) for c in failed)),
            "messages_refused": len(refused), "messages_undelivered": undelivered,
            "recovered_in_s": None if undelivered else round((last - wall(began)).total_seconds(), 1)}


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def verdict(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Problems (anything lost, posted twice, stopped by itself, or left unread) and warnings, in words."""
    problems = []
    for key in ("send_failures", "lost_observations", "lost_decisions", "duplicate_top_level_posts"):
        if report.get(key):
            problems.append(f"{key}: {report[key]}")
    if report.get("alerts_not_posted"):
        problems.append(f"alerts_not_posted: {report['alerts_not_posted']}, of which {report['alerts_still_queued']} "
                        "still queued in the outbox when the wait ended (late, not lost)")
    stopped = [e for e in report["worker_exits"] if e["cause"] == "exited by itself"]
    if stopped:
        problems.append(f"workers stopped by themselves: {stopped}")
    if report.get("caught_up_in_s") is None:
        problems.append(f"the group never committed every message: {report.get('lagging_partitions')}")
    warnings = []
    if report.get("caught_up_in_s") is not None and report.get("outbox_drained_in_s") is None:
        warnings.append(f"the outbox was still sending when the wait ended: {report.get('outbox_pending')} undelivered "
                        "(kept, not lost: they go out at one message a second per channel)")
    return problems, warnings


def bad_day(folder: Path, events: list[SimEvent], nominals: list[NominalRecord], rate: float,
            steps: list[Step], quiesce_timeout: float, database_url: str | None = None) -> dict[str, Any]:
    """Run the whole day: start everything, stream ``events`` through ``steps``, wait, count; stop everything."""
    began = _now()
    with operate(folder, nominals, database_url) as rig:
        startup = round(_now() - began, 1)
        tail = ObservationTail(rig.bootstrap)
        tail.start()
        stream = EventStream(rig.bootstrap, events, rate)
        rig.origin, rig.wall_origin = _now(), time.time()
        stream.start()
        try:
            faults = run_faults(rig, stream, steps)
            stream.join()
            quiet = wait_for_quiescence(rig, quiesce_timeout)
            time.sleep(1)  # the tail's last poll
            report = count(rig, stream, tail, faults)
        finally:
            tail.done.set()
            tail.join(timeout=10)
        report.update(quiet)
        report.update({"startup_s": startup, "stream_s": round((stream.finished_at or _now()) - rig.origin, 1),
                       "total_s": round(_now() - began, 1)})
    report["problems"], report["warnings"] = verdict(report)
    return report


__all__ = ["ChatFailure", "Step", "bad_day", "fail_chat", "kill_worker", "restart_broker", "terminate_worker",
           "verdict"]
