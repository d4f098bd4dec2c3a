"""Events sent while the worker group rebalances: are they all processed, in time, and how often twice? Prints JSON.

    python benchmarks/rebalance.py [--rounds 50] [--events 40] [--wait 30] [--seed 1]

Starts a broker of its own (cached jars, free ports, a temporary folder) and
one long-lived worker, then, each round, a second worker in the same group:
half the round's referrals are sent the moment it starts (while the group
rebalances to let it in), the other half the moment it is stopped once it
holds partitions (SIGTERM on even rounds, SIGKILL on odd ones: then the group
waits for its session to expire before it rebalances again).

Each referral should come out as one Observation and each of its people as one
match decision. ``in_time``: both within ``--wait`` seconds of the round's
last send; ``late``: only during the final wait after the last round; ``lost``:
never. ``duplicates``: outputs beyond the first (at-least-once allows them;
they are counted, not hidden). ``heals``: how often a worker read a stalled
partition again (from the workers' logs).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from streams import topics
from toex_stream.adapters.kafka_io import TopicReader, durable_producer, ensure_topics, produce_and_wait
from toex_stream.adapters.localkafka import LocalKafka
from toex_stream.adapters.settings import Settings
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "referral.json"
OUTPUTS = [contract.TOPIC_OBSERVATIONS, contract.TOPIC_MATCHES]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Outcomes:
    """What the workers wrote about the referrals: observations per event key, decisions per mention."""

    def __init__(self) -> None:
        self.observations: Counter[str] = Counter()
        self.mentions_of: dict[str, set[str]] = {}
        self.decisions: Counter[str] = Counter()

    def read(self, reader: TopicReader, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for message in reader.poll(timeout=0.2):
                if message.topic() == contract.TOPIC_OBSERVATIONS:
                    observation = contract.Observation.model_validate_json(message.value())
                    key = observation.event_ref.key
                    self.observations[key] += 1
                    self.mentions_of[key] = {m.mention_id for m in observation.mentions}
                else:
                    self.decisions[contract.MatchResult.model_validate_json(message.value()).mention_id] += 1

    def complete(self, key: str) -> bool:
        return key in self.mentions_of and all(self.decisions[m] for m in self.mentions_of[key])

    def wait_for(self, reader: TopicReader, keys: set[str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not all(self.complete(key) for key in keys):
            self.read(reader, 0.5)


def send_referrals(producer, referral: dict, tag: str, count: int) -> set[str]:
    keys = set()
    for n in range(count):
        event = dict(referral, referral_id=f"rebalance-{tag}-{n}-{uuid.uuid4().hex[:8]}")
        key = f"{event['partner_id']}:{event['referral_id']}"
        produce_and_wait(producer, contract.TOPIC_REFERRALS, key.encode(), json.dumps(event).encode())
        keys.add(key)
    return keys


def heals_in(folder: Path) -> int:
    return sum(log.read_text(errors="replace").count("commit stalled at offset") for log in folder.glob("*.log"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--events", type=int, default=40,
                        help="referrals per round, half at the join, half at the leave")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds each round waits for its events")
    parser.add_argument("--seed", type=int, default=1, help="how long the second worker holds its partitions")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    referral = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    rounds: list[dict[str, int | str]] = []
    sent_in: dict[str, int] = {}
    outcomes = Outcomes()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="toex-rebalance-") as tmp:
        folder = Path(tmp)
        settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(),
                            data_dir=folder / "first", web_port=free_port())
        broker = LocalKafka(settings)
        broker.up()
        ensure_topics(settings.kafka_bootstrap, topics.ALL)
        first = start_worker(settings, folder / "first.log")
        producer = durable_producer(settings.kafka_bootstrap)
        try:
            with TopicReader(settings.kafka_bootstrap, OUTPUTS) as reader:
                time.sleep(20)  # the first worker has the group to itself
                for number in range(args.rounds):
                    second = settings.model_copy(update={"data_dir": folder / f"second-{number}",
                                                         "web_port": free_port()})
                    process = start_worker(second, folder / f"second-{number}.log")
                    keys = send_referrals(producer, referral, f"{number}j", args.events // 2)
                    time.sleep(12 + rng.random() * 6)  # joined, partitions handed over, some processed
                    stop = "sigkill" if number % 2 else "sigterm"
                    if stop == "sigkill":
                        process.kill()
                    stop_process_group(process)
                    keys |= send_referrals(producer, referral, f"{number}l", args.events - args.events // 2)
                    sent_in.update(dict.fromkeys(keys, number))
                    outcomes.wait_for(reader, keys, args.wait)
                    rounds.append({"round": number, "stop": stop, "sent": len(keys),
                                   "in_time": sum(1 for key in keys if outcomes.complete(key))})
                outcomes.wait_for(reader, set(sent_in), 120)
                outcomes.read(reader, 10)  # duplicates still on their way
            heals = heals_in(folder)
        finally:
            stop_process_group(first)
            broker.down()
    for entry in rounds:
        done = sum(1 for key, number in sent_in.items() if number == entry["round"] and outcomes.complete(key))
        entry["late"] = done - int(entry["in_time"])
        entry["lost"] = int(entry["sent"]) - done
    mentions = [m for key in sent_in for m in outcomes.mentions_of.get(key, ())]
    print(json.dumps({
        "benchmark": "rebalance", "rounds": len(rounds), "sent": len(sent_in),
        "in_time": sum(int(r["in_time"]) for r in rounds),
        "late": sum(int(r["late"]) for r in rounds),
        "lost": sum(int(r["lost"]) for r in rounds),
        "lost_observations": sum(1 for key in sent_in if not outcomes.observations[key]),
        "duplicate_observations": sum(max(0, outcomes.observations[key] - 1) for key in sent_in),
        "mentions": len(mentions),
        "duplicate_decisions": sum(max(0, outcomes.decisions[m] - 1) for m in mentions),
        "heals": heals, "wait_s": args.wait, "seconds": round(time.monotonic() - started, 1),
        "per_round": rounds,
    }))


if __name__ == "__main__":
    main()
