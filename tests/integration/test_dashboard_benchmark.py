"""``benchmarks/dashboard.py`` run small, as a user runs it: it reports every figure, for both users and every kind
of request, and loads what it says it loads.

A seeded run of its own (2,000 alerts, 20 requests of each kind) in a subprocess, on the session's PostgreSQL
server (``postgres_url``: the distribution's server started for the tests, or TOEX_TEST_POSTGRES_URL); the figures
are printed with ``-s``. It checks the benchmark's soundness, not the target: the timings are judged from the
benchmark's own full run (100,000 alerts), not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.figures import figures

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "dashboard.py"
ALERTS, REQUESTS = 2000, 20
LOADED = ["match_decisions", "nominals", "audit_entries", "deliveries", "views", "comments", "users"]
USERS = {"regional": "EMSOU", "national": "national"}
KINDS = ["queue", "queue_critical", "alert", "give_reason"]
FIGURES = ["count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "met"]


@pytest.mark.timeout(120)
def test_a_short_seeded_run_reports_every_figure_for_both_users(postgres_url: str) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--alerts", str(ALERTS), "--requests", str(REQUESTS), "--seed", "3",
         "--server-url", postgres_url],
        capture_output=True, text=True, timeout=110,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout)
    shown = json.dumps(report, indent=2)
    figures.info("%s", shown)

    assert report["alerts"] == ALERTS == sum(report["alerts_per_region"].values()), shown
    assert report["regions"] == len(report["alerts_per_region"]) >= 10, shown
    assert sum(report["bands"].values()) == sum(report["statuses"].values()) == ALERTS, shown
    assert report["bands"]["low"] + report["bands"]["medium"] > report["bands"]["critical"] > 0, shown
    assert report["statuses"]["closed"] > report["statuses"]["open"] > 0, shown
    assert all(report[name] > 0 for name in LOADED), shown
    assert report["match_decisions"] > 2 * ALERTS and report["nominals"] >= 2 * ALERTS, shown
    assert report["postgres"] and report["target_p95_ms"] == 200, shown
    assert isinstance(report["target_met"], bool), shown

    assert set(report["requests"]) == set(USERS), shown
    for who, scope in USERS.items():
        measured = report["requests"][who]
        assert measured["scope"] == scope and measured["active_alerts_in_scope"] > 0, shown
        for kind in KINDS:
            timings = measured[kind]
            assert [name for name in FIGURES if timings.get(name) is None] == [], shown
            assert timings["count"] == REQUESTS, shown
            assert 0 < timings["p50_ms"] <= timings["p95_ms"] <= timings["p99_ms"] <= timings["max_ms"], shown
            assert isinstance(timings["met"], bool), shown
