"""Simulator throughput: generation alone, and to the local Kafka broker. Prints JSON.

    python benchmarks/simulate.py [--events 200000] [--scenario mixed]

Uses TOEX_KAFKA_BOOTSTRAP's broker if one answers, else starts the local one
(and stops it afterwards). Target: 20,000 events/s to the broker.
"""

from __future__ import annotations

import argparse
import json
import time

from streams import topics
from toex_stream.adapters.kafka_io import ensure_topics
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import load_settings
from toex_stream.tools.simulate import KafkaSink, encode, run, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    for event in simulate(args.scenario, args.events, args.seed).events():
        encode(event.value)
    generation_s = time.perf_counter() - started

    settings = load_settings()
    broker = LocalKafka(settings)
    started_broker = broker.up()
    try:
        ensure_topics(settings.kafka_bootstrap, topics.ALL)
        sent, seconds = run(simulate(args.scenario, args.events, args.seed), KafkaSink(settings.kafka_bootstrap),
                            rate=None)
    finally:
        if started_broker:
            broker.down()
    print(json.dumps({
        "benchmark": "simulate",
        "scenario": args.scenario,
        "events": sent,
        "generation_events_per_s": round(args.events / generation_s),
        "to_kafka_seconds": round(seconds, 2),
        "to_kafka_events_per_s": round(sent / seconds),
        "target_events_per_s": 20_000,
    }))


if __name__ == "__main__":
    main()
