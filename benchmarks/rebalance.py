"""Events sent while a worker leaves the group: are they all observed, and in time? Prints JSON.

    python benchmarks/rebalance.py [--rounds 10] [--events 80] [--wait 120]

Starts a broker of its own (cached jars, free ports, a temporary folder) and
one long-lived worker, then, each round, a second worker in the same group,
stopped once it holds partitions (SIGTERM on even rounds, SIGKILL on odd
ones); the round's referrals are sent the moment it is gone, while the group
rebalances. Each referral should come out as one Observation.

``in_time``: observed within ``--wait`` seconds; ``late``: only during the
final wait after the last round (left unread until a later rebalance);
``lost``: never (its offset was committed unprocessed). The README's
"Known limitation" says what was measured and what is known of the cause.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
import uuid
from pathlib import Path

from streams import topics
from toex_stream import contract
from toex_stream.kafka_io import TopicReader, durable_producer, ensure_topics, produce_and_wait
from toex_stream.localkafka import LocalKafka
from toex_stream.processes import start_worker, stop_process_group
from toex_stream.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "referral.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _observe(reader: TopicReader, wanted: set[str], seen: set[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not wanted <= seen:
        for message in reader.poll(timeout=0.5):
            key = contract.Observation.model_validate_json(message.value()).event_ref.key
            if key in wanted:
                seen.add(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--events", type=int, default=80)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds each round waits for its events")
    args = parser.parse_args()
    referral = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    rounds: list[dict[str, object]] = []
    sent_in: dict[str, int] = {}
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="toex-rebalance-") as tmp:
        folder = Path(tmp)
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{_free_port()}", kafka_controller_port=_free_port(),
                            data_dir=folder / "first", web_port=_free_port())
        broker = LocalKafka(settings)
        broker.up()
        ensure_topics(settings.kafka_bootstrap, topics.ALL)
        first = start_worker(settings, folder / "first.log")
        producer = durable_producer(settings.kafka_bootstrap)
        try:
            with TopicReader(settings.kafka_bootstrap, [contract.TOPIC_OBSERVATIONS]) as reader:
                time.sleep(20)  # the first worker has the group to itself
                for number in range(args.rounds):
                    second = settings.model_copy(update={"data_dir": folder / f"second-{number}",
                                                         "web_port": _free_port()})
                    process = start_worker(second, folder / f"second-{number}.log")
                    time.sleep(15)  # joined, partitions handed over
                    stop = "sigkill" if number % 2 else "sigterm"
                    if stop == "sigkill":
                        process.kill()
                    stop_process_group(process)
                    keys = set()
                    for n in range(args.events):
                        event = dict(referral, referral_id=f"rebalance-{number}-{n}-{uuid.uuid4().hex[:8]}")
                        key = f"{event['partner_id']}:{event['referral_id']}"
                        produce_and_wait(producer, contract.TOPIC_REFERRALS, key.encode(), json.dumps(event).encode())
                        keys.add(key)
                        sent_in[key] = number
                    _observe(reader, keys, seen, args.wait)
                    rounds.append({"round": number, "stop": stop, "sent": len(keys), "in_time": len(keys & seen)})
                _observe(reader, set(sent_in), seen, args.wait)
        finally:
            stop_process_group(first)
            broker.down()
    for entry in rounds:
        observed = sum(1 for key, number in sent_in.items() if number == entry["round"] and key in seen)
        entry["late"] = observed - int(entry["in_time"])  # type: ignore[call-overload]
        entry["lost"] = int(entry["sent"]) - observed  # type: ignore[call-overload]
    print(json.dumps({"benchmark": "rebalance", "rounds": rounds, "sent": len(sent_in),
                      "late": sum(int(r["late"]) for r in rounds),  # type: ignore[call-overload]
                      "lost": len(sent_in) - len(seen)}))


if __name__ == "__main__":
    main()
