"""An operator's bad day: workers killed, a deploy, the broker restarted, the chat API failing. Prints JSON.

    python benchmarks/faults.py [--events 4000] [--rate 40] [--seed 1] [--database-url URL] [--keep]

Starts Kafka from its cached jars on free ports in a temporary folder, a
Slack-compatible server (tests/fake_slack.py), and two workers in one consumer
group, each with its own data folder and web port, sharing one database (a
SQLite file in the folder, or ``--database-url``: give an empty PostgreSQL
database). The bundled routes are used with a one-second group wait (as in
the integration tests) and a ten-second group interval (so no update waits
minutes in the outbox). The nominals of a simulated ``mixed`` stream are
imported, then its events are sent at a steady rate while, counted from the
first event:

     5 s  the chat API fails for 30 s (from its first post or edit from then on):
          HTTP 500, then 500 after posting (the answer lost), then 429 with
          Retry-After 5, 10 s each
    40 s  kill -9 worker-a; restarted 5 s later
    60 s  SIGTERM worker-b (a deploy); started again once it has stopped
    75 s  kill -9 worker-b; restarted 5 s later
    90 s  the broker stopped and, 5 s later, started again on the same ports and data

A worker or broker step starts at its time or once the previous one is done
(every worker ready and holding partitions again), whichever is later.

Then it waits, up to ``--quiesce-timeout`` seconds, until the group has
committed every message of every topic it consumes and the outbox is empty,
reads the topics from the beginning, and counts: every event's Observation
(a missing one is ``lost_unread`` if the group never committed past it, else
``lost_committed_unprocessed``), every mention's match decision, every alert's
top-level post in its channel (exactly one), and any worker that stopped by
itself. Per fault: when the group was whole again (``back_in_s``), when the
last event it held up came out (``recovered_in_s``), and the events it cost.

Exits 1 if anything was lost or posted twice, an alert was not posted by the
end of the wait (``alerts_still_queued`` says how many were only late, kept in
the outbox), a worker stopped by itself, or the group never committed every
message. Updates still in the outbox when the wait ends are a warning: they go
out at one message a second per channel.
``tests/integration/test_faults.py`` runs a short day with the same harness.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fault_harness import (
    ChatFailure,
    bad_day,
    fail_chat,
    kill_worker,
    restart_broker,
    terminate_worker,
)
from toex_stream.tools.simulate import simulate

# The chat API fails first: a worker killed while it holds the outbox lease stops all
# delivery for the lease's 30 s, and failures then would meet no call.
SCHEDULE = [
    fail_chat(5, [ChatFailure(500, 10), ChatFailure(500, 10, store_first=True), ChatFailure(429, 10, retry_after=5)],
              from_first_call=True),
    kill_worker(40, "worker-a", restart_after_s=5),
    terminate_worker(60, "worker-b"),
    kill_worker(75, "worker-b", restart_after_s=5),
    restart_broker(90, down_for_s=5),
]


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # so that the harness's finally blocks stop the workers and the broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=40.0, help="events a second")
    parser.add_argument("--seed", type=int, default=1, help="the simulated stream's seed")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in the temporary folder")
    parser.add_argument("--quiesce-timeout", type=float, default=600.0, help="seconds to wait for quiet at the end")
    parser.add_argument("--keep", action="store_true", help="keep the folder (worker and broker logs); print its path")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    simulation = simulate("mixed", args.events, args.seed)
    folder = Path(tempfile.mkdtemp(prefix="toex-faults-"))
    try:
        report = bad_day(folder, list(simulation.events()), simulation.nominals, args.rate, SCHEDULE,
                         args.quiesce_timeout, args.database_url)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    report = {"benchmark": "faults", "seed": args.seed, "events": args.events, "rate": args.rate,
              "database": "sqlite" if args.database_url is None else args.database_url.split(":", 1)[0],
              **report, **({"folder": str(folder)} if args.keep else {})}
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
