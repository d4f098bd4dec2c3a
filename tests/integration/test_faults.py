"""A short bad day: a worker killed mid-stream and the chat API failing, with nothing lost or posted twice.

The same harness as ``python benchmarks/faults.py`` (tests/fault_harness.py),
seeded and small: a broker, a chat server and two workers of their own (the
group id is fixed, so workers on the session broker would join the session
worker's group), a simulated stream at 20 events a second, one kill -9, fifteen
seconds of HTTP 500 from the chat API from its first call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fault_harness import ChatFailure, bad_day, fail_chat, kill_worker
from tests.figures import figures
from toex_stream.tools.simulate import simulate

pytestmark = pytest.mark.integration


@pytest.mark.rebalances
@pytest.mark.timeout(240)
def test_a_worker_killed_and_chat_failing_lose_nothing_and_post_nothing_twice(tmp_path: Path) -> None:
    simulation = simulate("mixed", events=200, seed=3)
    # The headdress network's sixty adverts alert one channel some sixty times, which at
    # Slack's one message a second per channel outlasts the stream by a minute: left out.
    events = [e for e in simulation.events() if e.network != "headdress"]
    # Fifteen seconds from the first post or edit: alerts about situations are few (five to ten here) and
    # come late when the killed worker held the outbox's lease, so a window on the stream's clock could
    # pass with no call to fail (it did, once in some ten runs).
    steps = [kill_worker(2, "worker-b", restart_after_s=2), fail_chat(0, [ChatFailure(500, 15)], from_first_call=True)]

    report = bad_day(tmp_path, events, simulation.nominals, rate=20, steps=steps, quiesce_timeout=60)

    shown = json.dumps(report, indent=2)
    figures.info("%s", shown)
    assert report["events_sent"] == len(events) and report["send_failures"] == 0, shown
    assert report["duplicate_top_level_posts"] == 0, shown
    assert [e["cause"] for e in report["worker_exits"]] == ["sigkill by the harness"], shown
    assert report["observed"] == len(events) and report["lost_observations"] == 0, shown
    assert report["decided"] == report["mentions"] and report["lost_decisions"] == 0, shown
    assert report["alerts"] > 0 and report["alerts_posted"] + report["alerts_withdrawn"] == report["alerts"], shown
    assert report["alerts_posted"] > 0, shown
    (chat,) = [fault for fault in report["faults"] if fault["fault"].startswith("chat API fails")]
    assert chat["failed_calls"], f"the chat API's failures hit no call, so they tested nothing:\n{shown}"
    assert chat["recovered_in_s"] is not None, shown
    assert report["quiescent"] and report["problems"] == [] and report["warnings"] == [], shown
