"""A storm of alerts: does a first post still reach its channel in time? Prints JSON.

    python benchmarks/alert_storm.py [--events 4000] [--seed 1] [--rate 2000] [--keep]

Starts Kafka, a Slack-compatible server (tests/fake_slack.py) and two workers
as ``benchmarks/faults.py`` does (the bundled routes with a one-second group
wait and a ten-second group interval), imports the nominals of a simulated
``mixed`` stream, and sends its events in one burst (``--rate`` a second). Then
it waits until the workers have caught up and the outbox is empty, and reads
the outbox and the chat server:

- per channel: first posts and updates sent, updates coalesced into a later
  one, first posts withdrawn (their alert merged into another before they
  went: never posted), and each first post's wait from being queued (the outbox row's
  ``created_at``) to its delivery, on the wall clock;
- per channel: the shortest gap between two messages (posts and edits), and
  the most sent in any one second: chat allows one a second per channel.

Exits 1 when a first post waited more than ``--max-wait`` seconds (60), a
channel got two messages within ``--min-gap`` seconds (0.9), a channel got
more than 30 first posts (the burst is then too big for the target to mean
anything: lower ``--events``), or the outbox did not drain.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.fault_harness import EventStream, operate, wait_for_quiescence
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox_models import OutboxRow
from toex_stream.adapters.sql.store import build_engine
from toex_stream.tools.simulate import simulate

MAX_FIRST_POSTS_PER_CHANNEL = 30


def outbox_report(database_url: str) -> dict[str, dict[str, Any]]:
    """Per receiver: first posts and their waits, updates sent and coalesced."""
    engine = build_engine(Settings(database_url=database_url))
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow.id, OutboxRow.receiver, OutboxRow.kind, OutboxRow.created_at,
                                      OutboxRow.delivered_at, OutboxRow.superseded_by, OutboxRow.priority)).all()
    engine.dispose()
    channels: dict[str, dict[str, Any]] = defaultdict(lambda: {"first_posts": 0, "critical_first_posts": 0,
                                                               "updates_sent": 0, "updates_coalesced": 0,
                                                               "posts_withdrawn": 0, "waits": [], "undelivered": 0})
    for row_id, receiver, kind, created, delivered, superseded_by, priority in rows:
        channel = channels[receiver]
        if delivered is None:
            channel["undelivered"] += 1
        elif kind == "post" and superseded_by is not None:
            channel["posts_withdrawn"] += 1  # merged away before it went: never posted
        elif superseded_by == row_id:
            pass  # the closing update that withdrew a post: never sent either
        elif kind == "post":
            channel["first_posts"] += 1
            channel["critical_first_posts"] += priority == 0
            channel["waits"].append((delivered - created).total_seconds())
        elif superseded_by is not None:
            channel["updates_coalesced"] += 1
        else:
            channel["updates_sent"] += 1
    report = {}
    for receiver, channel in sorted(channels.items()):
        waits = sorted(channel.pop("waits"))
        channel["first_post_wait_s"] = {"p50": round(median(waits), 2), "max": round(waits[-1], 2)} if waits else None
        report[receiver] = channel
    return report


def chat_pace(calls: list[Any], ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per Slack channel: messages (posts, replies and edits that succeeded), the shortest gap between two
    arrivals, and the most that arrived in any one second. ``ids`` maps a channel's name (no '#') to its id:
    posts name the channel, edits and replies give its id."""
    names = {channel_id: f"#{name}" for name, channel_id in ids.items()}
    by_channel: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        channel = str(call.params.get("channel", "?"))
        by_channel[names.get(channel, channel)].append(call.at)
    pace = {}
    for channel, moments in sorted(by_channel.items()):
        moments.sort()
        gaps = [b - a for a, b in zip(moments, moments[1:], strict=False)]
        most = max(sum(1 for t in moments[i:] if t < start + 1.0) for i, start in enumerate(moments))
        pace[channel] = {"messages": len(moments), "min_gap_s": round(min(gaps), 3) if gaps else None,
                         "most_in_one_second": most}
    return pace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1, help="the simulated stream's seed")
    parser.add_argument("--rate", type=float, default=2000.0, help="events a second in the burst")
    parser.add_argument("--max-wait", type=float, default=60.0, help="seconds a first post may wait")
    parser.add_argument("--min-gap", type=float, default=0.9, help="seconds between two messages to a channel")
    parser.add_argument("--quiesce-timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs); print its path")
    args = parser.parse_args()
    simulation = simulate("mixed", args.events, args.seed)
    events = list(simulation.events())
    folder = Path(tempfile.mkdtemp(prefix="toex-storm-"))
    started = time.monotonic()
    try:
        with operate(folder, simulation.nominals) as rig:
            stream = EventStream(rig.bootstrap, events, args.rate)
            stream.start()
            stream.join()
            quiet = wait_for_quiescence(rig, args.quiesce_timeout)
            channels = outbox_report(rig.database_url)
            calls = [c for method in ("chat.postMessage", "chat.update")
                     for c in rig.slack.successful_calls(method)]
            pace = chat_pace(calls, dict(rig.slack.channels))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    problems = []
    if not quiet["quiescent"]:
        problems.append(f"not quiet after {args.quiesce_timeout:.0f} s: {quiet}")
    for receiver, channel in channels.items():
        wait = channel["first_post_wait_s"]
        if wait is not None and wait["max"] > args.max_wait:
            problems.append(f"{receiver}: a first post waited {wait['max']} s")
        if channel["first_posts"] > MAX_FIRST_POSTS_PER_CHANNEL:
            problems.append(f"{receiver}: {channel['first_posts']} first posts (over "
                            f"{MAX_FIRST_POSTS_PER_CHANNEL}: lower --events)")
        if channel["undelivered"]:
            problems.append(f"{receiver}: {channel['undelivered']} message(s) undelivered")
    for channel, seen in pace.items():
        if seen["min_gap_s"] is not None and seen["min_gap_s"] < args.min_gap:
            problems.append(f"channel {channel}: two messages {seen['min_gap_s']} s apart")
    report = {
        "benchmark": "alert_storm", "seed": args.seed, "events": len(events), "rate": args.rate,
        "quiet": quiet, "channels": channels, "chat_pace": pace,
        "first_post_wait_max_s": max((c["first_post_wait_s"]["max"] for c in channels.values()
                                      if c["first_post_wait_s"]), default=None),
        "seconds": round(time.monotonic() - started, 1), "problems": problems,
        **({"folder": str(folder)} if args.keep else {}),
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
