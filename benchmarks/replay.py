"""Replay throughput: the core pipeline in-process, and end to end from a Kafka broker. Prints JSON.

    python benchmarks/replay.py [--events 10000] [--scenario mixed] [--seed 1] [--no-broker]

``core``: the simulator's events, encoded as they would sit on the topics,
through :class:`~toex_stream.application.replay.core.Replayer` (enrich, match, score,
alert decision) in this process: the cost of the pipeline alone.

``broker``: the same events sent to a broker of its own (started from the
cached jars on free ports in a temporary folder, and stopped afterwards;
``--bootstrap`` uses an existing one instead, whose topics then also hold
whatever else was sent), then :func:`~toex_stream.application.replay.run.run_replay` over
the time range they were sent in: reading by time, loading ``toex.nominals``,
ordering, replaying and summarising, without the audit row (no database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import tempfile
import time
from pathlib import Path

from streams import topics
from toex_stream.adapters.kafka_io import ensure_topics
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings
from toex_stream.application.replay.core import InputMessage, Replayer, replay_order, summarise
from toex_stream.application.replay.report import CollectingSink
from toex_stream.application.replay.run import ReplayRequest, run_replay
from toex_stream.domain.alerting.routes_file import load_routes
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.scoring.profiles import load_profiles
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.tools.simulate import KafkaSink, encode, run, simulate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def core(scenario: str, events: int, seed: int) -> dict[str, object]:
    messages = sorted(
        (InputMessage(e.topic, e.key.encode(), encode(e.value), i % 4, i, int(e.arrival.timestamp() * 1000))
         for i, e in enumerate(simulate(scenario, events, seed).events())),
        key=replay_order,
    )
    # Load the indicator lexicon and the phone metadata first: once per process, not per event.
    list(Replayer(Matcher(), Scorer(load_profiles()), load_routes()).run(messages[:20]))
    replayer = Replayer(Matcher(), Scorer(load_profiles()), load_routes())
    started = time.perf_counter()
    records = list(replayer.run(messages))
    seconds = time.perf_counter() - started
    summary = summarise(records)
    return {"events": len(records), "seconds": round(seconds, 2), "events_per_s": round(len(records) / seconds),
            "alert_decisions": summary["alert_decisions"]}


def broker(scenario: str, events: int, seed: int, bootstrap: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="toex-replay-bench-") as folder:
        settings = Settings(kafka_bootstrap=bootstrap or f"127.0.0.1:{_free_port()}",
                            kafka_controller_port=_free_port(), data_dir=Path(folder))
        local = LocalKafka(settings)
        started_broker = local.up()
        try:
            ensure_topics(settings.kafka_bootstrap, topics.ALL)
            start = dt.datetime.now(dt.timezone.utc)
            sent, _ = run(simulate(scenario, events, seed), KafkaSink(settings.kafka_bootstrap), rate=None)
            end = dt.datetime.now(dt.timezone.utc)
            request = ReplayRequest(start=start, end=end, reason="benchmark", who="benchmark", model="cold")
            started = time.perf_counter()
            result = run_replay(settings, request, engine=None, sink=CollectingSink())
            seconds = time.perf_counter() - started
        finally:
            if started_broker:
                local.down()
    replayed = result.summary["events"]
    return {"sent": sent, "events": replayed, "seconds": round(seconds, 2), "events_per_s": round(replayed / seconds),
            "alert_decisions": result.summary["alert_decisions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", default=None, help="An existing broker (default: start one of its own).")
    parser.add_argument("--no-broker", action="store_true", help="Measure the in-process core only.")
    args = parser.parse_args()

    report: dict[str, object] = {"benchmark": "replay", "scenario": args.scenario, "seed": args.seed,
                                 "core": core(args.scenario, args.events, args.seed)}
    if not args.no_broker:
        report["broker"] = broker(args.scenario, args.events, args.seed, args.bootstrap)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
