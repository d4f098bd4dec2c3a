"""The pipeline as a user runs it: nominals imported, workers started, a burst of events to their scores. Prints JSON.

    python benchmarks/pipeline.py [--nominals 100000] [--events 30000] [--workers 1] [--database-url URL]
                                  [--seed 1] [--warmup 300] [--half-rate-seconds 60] [--timeout 3600] [--keep]

Starts Kafka from its cached jars on free ports in a temporary folder and
creates the project's topics. ``--nominals`` known nominals (those of the
simulated ``mixed`` stream, padded with invented ones as
``benchmarks/match_scale.py`` makes them) are written as a Person CSV and
imported with ``toex-stream nominals import`` (``import_rows_per_s`` counts
the command's whole run, process start included). Then ``--workers`` workers
start in one consumer group, each with its own data folder and web port,
sharing one database (a SQLite file in the folder, or ``--database-url``:
give an empty PostgreSQL database). ``worker_startup_s`` is, per worker, from
its process start until its /healthz says ready (every nominal loaded: it
matches); the run goes on once every worker holds partitions in a stable group.

``--warmup`` events go through to their scores first. Then ``--events`` events
of the same stream are produced at once, and ``events_per_s`` is their count
over the time from the first produce to the moment the last of them was done.
An event is *done* when a reader outside the group (one confluent-kafka
consumer on toex.observations, toex.matches and toex.scores, timed as it
receives each message) has seen its Observation, a MatchResult for every
mention in it and, for every mention whose event a threat profile applies to
(by source, exploitation types and threat tags: what decides whether the score
agent scores it), a Score for that mention. An event with no mentions is done
at its Observation. Redelivered matches (at-least-once) score nothing; a clean
run has none.

``situations_caught_up_s``: from the first produce until the worker group's
committed offset on toex.situation-input (the situate agent's one partition)
reached that topic's end as it stood when the burst was done: alerts decided
on every score (committed offsets: up to a commit interval late).

Once the burst is done, a plain confluent-kafka consumer reads the same events
(exactly the burst's offset ranges on the input topics, values touched, not
decoded): ``plain_consumer_events_per_s``, and ``ratio`` = events_per_s over
it (the issue's pass mark: at least 0.12 with one worker). Then events of the
same stream are sent at half the measured rate for ``--half-rate-seconds`` and
each one's time from its produce call to done gives ``latency_ms`` (p50, p99,
max). ``peak_rss_mb``: each worker's VmHWM (/proc, its process group) at the
end; ``cpu_s_per_event``: the workers' user+system CPU seconds during the
burst (from its first produce to its last event done) over the burst's events.

Progress goes to stderr. Exits 1 if a worker stopped or an event of the burst
was not done within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.match_scale import make_nominals
from streams import topics
from streams.app import APP_ID
from toex_stream.adapters.kafka_io import ensure_topics
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.domain import contract
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.tools.processes import start_worker, stop_process_group
from toex_stream.tools.simulate import PERSON_CSV_COLUMNS, SimEvent, simulate

OUTPUTS = [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES, contract.TOPIC_SCORES]
QUIET = {"log_level": 0}
READY_TIMEOUT_S = 900.0
PASS_MARK = 0.12


def progress(text: str) -> None:
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- nominals ----------------------------------------------------------------------------------


def write_person_csv(path: Path, simulated: list[dict[str, str]], total: int, seed: int) -> int:
    """The simulated stream's nominals, padded with invented ones to ``total`` rows; how many rows."""
    padding = make_nominals(max(0, total - len(simulated)), seed) if total > len(simulated) else []
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=PERSON_CSV_COLUMNS)
        writer.writeheader()
        for row in simulated:
            writer.writerow(row)
        for record in padding:
            variant = record.names[0]
            writer.writerow({
                "record_id": f"BENCH-{record.record_id}",
                "given_name": " ".join(variant.given).title(),
                "family_name": " ".join(variant.family).title(),
                "date_of_birth": record.dob.isoformat() if record.dob else "",
                "gender": record.gender or "",
                "nationality": "", "phone": ";".join(sorted(record.phones)), "email": "",
                "address": "", "postcode": record.postcode or "", "aliases": "", "flags": "",
                "owning_force": "west-midlands",
            })
    return len(simulated) + len(padding)


def act_as_importer(settings: Settings) -> None:
    """`nominals import` acts as a user: this OS account, mapped to a supervisor in the run's own database."""
    import getpass

    from toex_stream.adapters.sql.store import build_engine, migrate
    from toex_stream.adapters.sql.users import Users

    engine = build_engine(settings)
    try:
        migrate(engine)
        users = Users(engine)
        if users.get("benchmark") is None:
            users.add("benchmark", "supervisor", {"national"}, os_account=getpass.getuser())
    finally:
        engine.dispose()


def import_nominals(settings: Settings, path: Path, log_file: Path) -> float:
    """``toex-stream nominals import`` as a user runs it; seconds it took."""
    act_as_importer(settings)
    command = Path(sys.executable).with_name("toex-stream")
    argv = [str(command)] if command.exists() else [sys.executable, "-m", "toex_stream.entry.cli"]
    began = time.monotonic()
    with open(log_file, "wb") as log:
        code = subprocess.call([*argv, "nominals", "import", str(path), "--reason", "benchmark"],
                               env={**os.environ, **settings_env(settings)}, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - began
    if code != 0:
        raise RuntimeError(f"nominals import exited {code}; see {log_file}")
    return seconds


# -- what comes out: when each event is done ---------------------------------------------------


class Tracker(threading.Thread):
    """Reads observations, matches and scores from the beginning; records when each event is done."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(name="tracker", daemon=True)
        self.bootstrap = bootstrap
        profiles = load_profiles()
        self.profiles = list(profiles.values())
        self.done: dict[str, float] = {}  # observation id -> when done (time.monotonic())
        self.mentions: dict[str, int] = {}  # observation id -> mentions
        self.scored_events = 0
        self._needs: dict[str, set[tuple[str, str]]] = {}
        self._waiting: dict[tuple[str, str], str] = {}
        self._seen: set[tuple[str, str]] = set()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def _scores(self, observation: dict[str, Any]) -> bool:
        facts = observation.get("facts") or {}
        return any(p.applies(source=observation["source"], exploitation_types=facts.get("exploitation_types", []),
                             threat_tags=facts.get("threat_tags", [])) for p in self.profiles)

    def _observed(self, value: dict[str, Any], now: float) -> None:
        oid = value["observation_id"]
        if oid in self._needs or oid in self.done:
            return
        mentions = [m["mention_id"] for m in value.get("mentions", [])]
        need = {("m", m) for m in mentions}
        if self._scores(value):
            self.scored_events += 1
            need |= {("s", m) for m in mentions}
        need -= self._seen
        self.mentions[oid] = len(mentions)
        if not need:
            self.done[oid] = now
            return
        self._needs[oid] = need
        for item in need:
            self._waiting[item] = oid

    def _output(self, item: tuple[str, str], now: float) -> None:
        self._seen.add(item)
        oid = self._waiting.pop(item, None)
        if oid is None:
            return
        need = self._needs[oid]
        need.discard(item)
        if not need:
            del self._needs[oid]
            self.done[oid] = now

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"pipeline-bench-{os.getpid()}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 10, **QUIET})
        try:
            metadata = consumer.list_topics(timeout=30)
            consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for name in OUTPUTS
                             for p in metadata.topics[name].partitions])
            while not self._halt.is_set():
                messages = consumer.consume(num_messages=2000, timeout=0.1)
                now = time.monotonic()
                with self._lock:
                    for message in messages:
                        if message.error() is not None:
                            continue
                        value = orjson.loads(message.value() or b"{}")
                        topic = message.topic()
                        if topic == contract.TOPIC_OBSERVATIONS:
                            self._observed(value, now)
                        elif topic == contract.TOPIC_MATCHES:
                            self._output(("m", value["mention_id"]), now)
                        else:
                            self._output(("s", value["mention_id"]), now)
        except BaseException as exc:  # noqa: BLE001 - reported by the waits
            self.error = exc
        finally:
            consumer.close()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=10)

    def count_done(self, ids: list[str]) -> int:
        with self._lock:
            return sum(1 for oid in ids if oid in self.done)


# -- workers ------------------------------------------------------------------------------------


def process_group(leader: int) -> list[int]:
    """The pids in ``leader``'s process group (a worker and anything it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == leader:  # pgrp
            pids.append(int(entry.name))
    return pids


def cpu_seconds(leaders: list[int]) -> float:
    """User and system CPU of every process in the workers' groups, their waited-for children included."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for leader in leaders:
        for pid in process_group(leader):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def peak_rss_mb(leader: int) -> float:
    """The sum of VmHWM over the worker's process group."""
    peak = 0
    for pid in process_group(leader):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak += int(line.split()[1])
        except OSError:
            continue
    return round(peak / 1024, 1)


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return json.loads(answer.read()).get("ready") is True
    except (OSError, ValueError):
        return False


def group_members(bootstrap: str) -> int:
    """Members of the worker group holding partitions, once the group is stable; 0 otherwise."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    try:
        (description,) = [f.result(timeout=10) for f in admin.describe_consumer_groups([APP_ID]).values()]
    except Exception:  # noqa: BLE001 - the group is not there yet
        return 0
    if description.state.name != "STABLE":
        return 0
    return sum(1 for m in description.members if m.assignment and m.assignment.topic_partitions)


class Workers:
    def __init__(self, folder: Path, settings: list[Settings]) -> None:
        self.folder = folder
        self.settings = settings
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = [folder / f"worker-{n}.log" for n in range(len(settings))]

    def start(self) -> list[float]:
        """Start them all at once; seconds from each one's start until it is ready."""
        began = []
        for settings, log in zip(self.settings, self.logs, strict=True):
            began.append(time.monotonic())
            self.processes.append(start_worker(settings, log))
        startup: list[float | None] = [None] * len(self.settings)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while any(s is None for s in startup):
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers were not ready in {READY_TIMEOUT_S:.0f} s; see {self.folder}/*.log")
            for n, settings in enumerate(self.settings):
                if startup[n] is None and ready(settings.web_port):
                    startup[n] = round(time.monotonic() - began[n], 1)
                    progress(f"worker {n} ready after {startup[n]} s")
            time.sleep(0.2)
        return [s for s in startup if s is not None]

    def check(self) -> None:
        for n, process in enumerate(self.processes):
            if process.poll() is not None:
                raise RuntimeError(f"worker {n} exited with {process.returncode}; see {self.logs[n]}")

    def stop(self) -> None:
        threads = [threading.Thread(target=stop_process_group, args=(p,)) for p in self.processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# -- sending and waiting -------------------------------------------------------------------------


def producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5, "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                     "message.timeout.ms": 120_000, **QUIET})


def observation_id(event: SimEvent) -> str:
    return f"{event.topic}:{event.key}"


def send(out: Producer, event: SimEvent) -> None:
    while True:
        try:
            out.produce(event.topic, key=event.key.encode(), value=orjson.dumps(event.value))
            break
        except BufferError:
            out.poll(0.05)
    out.poll(0)


def wait_done(tracker: Tracker, workers: Workers, ids: list[str], timeout: float, what: str) -> int:
    """Wait until every one of ``ids`` is done (or ``timeout``); how many are."""
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    while True:
        done = tracker.count_done(ids)
        if done == len(ids) or time.monotonic() > deadline:
            return done
        if tracker.error is not None:
            raise RuntimeError(f"the reader failed: {tracker.error!r}")
        workers.check()
        if time.monotonic() - shown > 10:
            progress(f"{what}: {done}/{len(ids)} done")
            shown = time.monotonic()
        time.sleep(0.2)


def input_ends(bootstrap: str) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"pipeline-ends-{os.getpid()}", **QUIET})
    try:
        metadata = consumer.list_topics(timeout=30)
        return {(name, p): consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1]
                for name in contract.INPUT_TOPICS for p in metadata.topics[name].partitions}
    finally:
        consumer.close()


def situations_caught_up(bootstrap: str, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` (monotonic) until the group's committed offset on toex.situation-input reaches its
    end as it stood when called: the situate agent has decided on every score sent so far (None: not in time)."""
    partition = TopicPartition(contract.TOPIC_SITUATION_INPUT, 0)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": APP_ID, "enable.auto.commit": False, **QUIET})
    try:
        end = consumer.get_watermark_offsets(partition, timeout=30)[1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            [committed] = consumer.committed([partition], timeout=30)
            if committed.offset >= end:
                return time.monotonic() - since
            time.sleep(0.2)
        return None
    finally:
        consumer.close()


def plain_read(bootstrap: str, start: dict[tuple[str, int], int], end: dict[tuple[str, int], int]) -> tuple[int, float]:
    """Read the messages between ``start`` and ``end`` with a plain consumer; (messages, seconds)."""
    wanted = {tp: end[tp] - start[tp] for tp in end if end[tp] > start[tp]}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"pipeline-plain-{os.getpid()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10, **QUIET})
    read, size = 0, 0
    began = time.monotonic()
    try:
        consumer.assign([TopicPartition(t, p, start[(t, p)]) for (t, p) in wanted])
        left = dict(wanted)
        total = sum(wanted.values())
        while read < total and time.monotonic() - began < 600:
            for message in consumer.consume(num_messages=10_000, timeout=0.1):
                if message.error() is not None:
                    continue
                tp = (str(message.topic()), int(message.partition() or 0))
                if int(message.offset() or 0) < end[tp] and left.get(tp, 0) > 0:
                    left[tp] -= 1
                    read += 1
                    size += len(message.value() or b"")
        seconds = time.monotonic() - began
    finally:
        consumer.close()
    return read, seconds


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * (len(values) - 1) + 0.5))]


# -- the run ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    started = time.monotonic()
    report: dict[str, Any] = {"benchmark": "pipeline", "seed": args.seed, "workers": args.workers,
                              "database": "sqlite" if args.database_url is None else args.database_url.split(":")[0]}
    # The latency phase may need many more events than the burst: the stream is generated lazily.
    spare = max(10 * args.events, 20_000)
    simulation = simulate("mixed", args.warmup + args.events + spare, args.seed)
    stream: Iterator[SimEvent] = simulation.events()
    warmup = list(itertools.islice(stream, args.warmup))
    burst = list(itertools.islice(stream, args.events))

    database_url = args.database_url or f"sqlite:///{(folder / 'toex.sqlite3').resolve()}"
    broker = LocalKafka(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                                 data_dir=folder / "broker"))
    bootstrap = broker.settings.kafka_bootstrap
    settings = [Settings(kafka_bootstrap=bootstrap, data_dir=folder / f"worker-{n}", web_port=free_port(),
                         database_url=database_url) for n in range(args.workers)]
    workers = Workers(folder, settings)
    tracker = Tracker(bootstrap)
    try:
        progress("starting the broker")
        broker.up()
        ensure_topics(bootstrap, [*topics.ALL, *topics.CHANGELOGS])

        csv_path = folder / "nominals.csv"
        rows = write_person_csv(csv_path, [r.row() for r in simulation.nominals], args.nominals, args.seed)
        progress(f"importing {rows} nominals")
        seconds = import_nominals(settings[0], csv_path, folder / "import.log")
        report.update({"nominals": rows, "import_s": round(seconds, 1), "import_rows_per_s": round(rows / seconds)})

        progress(f"starting {args.workers} worker(s)")
        startup = workers.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while group_members(bootstrap) != args.workers:
            workers.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the workers never shared the partitions in a stable group")
            time.sleep(0.5)
        report.update({"worker_startup_s": startup, "worker_startup_max_s": max(startup)})

        tracker.start()
        out = producer(bootstrap)
        progress(f"warming up with {len(warmup)} events")
        began = time.monotonic()
        for event in warmup:
            send(out, event)
        out.flush(120)
        warm_done = wait_done(tracker, workers, [observation_id(e) for e in warmup], args.timeout, "warm-up")
        report.update({"warmup_events": len(warmup), "warmup_done": warm_done,
                       "warmup_s": round(time.monotonic() - began, 1)})

        progress(f"producing {len(burst)} events at once")
        before = input_ends(bootstrap)
        leaders = [p.pid for p in workers.processes]
        cpu_before = cpu_seconds(leaders)
        profilers = start_profilers(leaders, args.profile) if args.profile else []
        first = time.monotonic()
        for event in burst:
            send(out, event)
        out.flush(120)
        produced = time.monotonic() - first
        ids = [observation_id(e) for e in burst]
        done = wait_done(tracker, workers, ids, args.timeout, "burst")
        with tracker._lock:
            times = [tracker.done[i] for i in ids if i in tracker.done]
            mentions = sum(tracker.mentions.get(i, 0) for i in ids)
        last = max(times) if times else time.monotonic()
        cpu = cpu_seconds(leaders) - cpu_before
        if profilers:
            report["profiles"] = stop_profilers(profilers)
        elapsed = last - first
        rate = done / elapsed if elapsed > 0 else 0.0
        report.update({"events": len(burst), "events_done": done, "events_not_done": len(burst) - done,
                       "mentions": mentions, "produce_s": round(produced, 2), "end_to_end_s": round(elapsed, 2),
                       "events_per_s": round(rate, 1), "cpu_s": round(cpu, 1),
                       "cpu_s_per_event": round(cpu / max(1, done), 5)})
        progress(f"burst: {done}/{len(burst)} done in {elapsed:.1f} s ({rate:.1f} events/s)")
        # Scores are done; the situate agent (one partition) decides alerts on them, on the same workers.
        situated = situations_caught_up(bootstrap, first, args.timeout)
        report["situations_caught_up_s"] = round(situated, 1) if situated is not None else None
        progress(f"situations: every score of the burst decided on {situated or float('nan'):.1f} s after the "
                 "first produce (committed offsets, so up to a commit interval late)")

        after = input_ends(bootstrap)
        read, read_s = plain_read(bootstrap, before, after)
        plain = read / read_s if read_s > 0 else 0.0
        report.update({"plain_consumer_events": read, "plain_consumer_s": round(read_s, 3),
                       "plain_consumer_events_per_s": round(plain, 1),
                       "ratio": round(rate / plain, 5) if plain else None, "ratio_pass_mark": PASS_MARK})
        progress(f"plain consumer: {read} events in {read_s:.2f} s")

        half = rate / 2
        report["half_rate"] = half_rate(tracker, workers, out, stream, half, args)

        report["peak_rss_mb"] = [peak_rss_mb(pid) for pid in leaders]
        report["peak_rss_mb_total"] = round(sum(report["peak_rss_mb"]), 1)
        workers.check()
    finally:
        progress("stopping")
        try:
            tracker.stop()
        finally:
            workers.stop()
            broker.down()
    report["total_s"] = round(time.monotonic() - started, 1)
    return report


def start_profilers(leaders: list[int], folder: Path) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """py-spy on each worker for the burst, as collapsed stacks (``flamegraph.pl`` or speedscope read them)."""
    folder.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    profilers = []
    for n, pid in enumerate(leaders):
        out = folder.resolve() / f"worker-{n}.collapsed"
        command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", str(out)]
        profilers.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    return profilers


def stop_profilers(profilers: list[tuple[subprocess.Popen[bytes], Path]]) -> list[str]:
    for process, _ in profilers:
        process.send_signal(signal.SIGINT)
    for process, _ in profilers:
        process.wait(60)
    return [str(out) for _, out in profilers]


def half_rate(tracker: Tracker, workers: Workers, out: Producer, stream: Iterator[SimEvent], rate: float,
              args: argparse.Namespace) -> dict[str, Any]:
    """Events sent at ``rate`` for the given seconds; each one's time from produce to done."""
    if rate <= 0:
        return {"rate": 0.0, "sent": 0}
    progress(f"sending at {rate:.1f} events/s for {args.half_rate_seconds} s")
    sent: dict[str, float] = {}
    began = time.monotonic()
    for number, event in enumerate(stream):
        at = began + number / rate
        if at - began >= args.half_rate_seconds:
            break
        pause = at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent[observation_id(event)] = time.monotonic()
        send(out, event)
        out.poll(0)
    out.flush(120)
    ids = list(sent)
    done = wait_done(tracker, workers, ids, max(60.0, args.half_rate_seconds * 4), "half rate")
    with tracker._lock:
        latencies = sorted((tracker.done[i] - sent[i]) * 1000 for i in ids if i in tracker.done)
    result: dict[str, Any] = {"rate": round(rate, 1), "seconds": args.half_rate_seconds, "sent": len(ids),
                              "done": done}
    if latencies:
        result.update({"p50_ms": round(statistics.median(latencies)), "p99_ms": round(percentile(latencies, 0.99)),
                       "max_ms": round(latencies[-1])})
    return result


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # so that the finally blocks stop the workers and the broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nominals", type=int, default=100_000,
                        help="known nominals imported before the workers start")
    parser.add_argument("--events", type=int, default=30_000, help="mixed events produced at once")
    parser.add_argument("--workers", type=int, default=1, help="workers in the group (each its own data folder)")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in the temporary folder")
    parser.add_argument("--seed", type=int, default=1, help="the simulated stream's and the invented nominals' seed")
    parser.add_argument("--warmup", type=int, default=300, help="events through to their scores before the burst")
    parser.add_argument("--half-rate-seconds", type=float, default=60.0,
                        help="how long events are sent at half the measured rate, for the latency")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the burst may take to be done")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record each worker with py-spy during the burst into this folder (collapsed stacks)")
    parser.add_argument("--keep", action="store_true", help="keep the folder (worker and broker logs); print its path")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    folder = Path(tempfile.mkdtemp(prefix="toex-pipeline-"))
    try:
        report = run(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if args.keep:
        report["folder"] = str(folder)
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["events_not_done"] else 0)


if __name__ == "__main__":
    main()
