"""``benchmarks/pipeline.py`` run small, as a user runs it: it reports every figure and every event reaches its score.

A seeded run of its own (broker, 2,000 nominals imported, one worker, 200
events at once, five seconds at half rate) in a subprocess; the figures are
printed with ``-s``. It checks the benchmark's soundness, not the pass mark:
the ratio is only required to be a number in (0, 1].
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.figures import figures

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pipeline.py"
FIGURES = [
    "nominals", "import_s", "import_rows_per_s", "worker_startup_s", "worker_startup_max_s", "warmup_done",
    "events", "events_done", "mentions", "end_to_end_s", "events_per_s", "plain_consumer_events_per_s", "ratio",
    "cpu_s_per_event", "peak_rss_mb", "peak_rss_mb_total", "half_rate",
]


@pytest.mark.timeout(180)
def test_a_short_seeded_run_reports_every_figure_with_every_event_scored() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--nominals", "2000", "--events", "200", "--workers", "1", "--seed", "3",
         "--warmup", "50", "--half-rate-seconds", "5", "--timeout", "120"],
        capture_output=True, text=True, timeout=170,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout)
    shown = json.dumps(report, indent=2)
    figures.info("%s", shown)

    missing = [name for name in FIGURES if report.get(name) is None]
    assert not missing, shown
    assert report["nominals"] >= 2000 and report["import_rows_per_s"] > 0, shown
    assert report["warmup_done"] == report["warmup_events"] == 50, shown
    assert report["events"] == report["events_done"] == 200 and report["events_not_done"] == 0, shown
    assert report["plain_consumer_events"] == 200, shown
    assert report["mentions"] > 0 and report["events_per_s"] > 0 and report["cpu_s_per_event"] > 0, shown
    assert isinstance(report["ratio"], float) and 0 < report["ratio"] <= 1, shown
    assert len(report["worker_startup_s"]) == 1 and report["worker_startup_max_s"] > 0, shown
    assert len(report["peak_rss_mb"]) == 1 and report["peak_rss_mb_total"] > 0, shown
    half = report["half_rate"]
    assert half["sent"] > 0 and half["done"] == half["sent"], shown
    assert 0 < half["p50_ms"] <= half["p99_ms"] <= half["max_ms"], shown
