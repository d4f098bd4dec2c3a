"""Schemathesis against ``toex-stream intake serve`` on a real broker: the suite's short run, the benchmark's long one.

The intake runs as a partner reaches it (its own process, its own port, a
partner token), and ``schemathesis run --checks all`` tests it from the
OpenAPI document it serves: every phase, the stateful one following the
document's link from a submission to its status.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from streams import topics
from tests.conftest import free_port
from toex_stream.adapters.kafka_io import ensure_topics
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.store import build_engine, migrate


@dataclass
class FuzzRun:
    """What one schemathesis run reported."""

    exit_code: int
    output: str
    phases: dict[str, str] = field(default_factory=dict)  # phase -> passed | failed | errored | skipped
    generated: int = 0
    passed: int = 0
    stateful_scenarios: int = 0
    links_covered: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return {"exit_code": self.exit_code, "phases": self.phases, "generated": self.generated,
                "passed": self.passed, "stateful_scenarios": self.stateful_scenarios,
                "links_covered": self.links_covered, "seconds": round(self.seconds, 1)}


_PHASE_MARKS = {"✅": "passed", "❌": "failed", "🚫": "errored", "⏭": "skipped"}


def parse_output(exit_code: int, output: str, seconds: float) -> FuzzRun:
    run = FuzzRun(exit_code=exit_code, output=output, seconds=seconds)
    summary = output.rsplit("Test Phases:", 1)[-1]
    for mark, name in re.findall(r"^\s*(✅|❌|🚫|⏭)\s+(Examples|Coverage|Fuzzing|Stateful)\s*$", summary, re.M):
        run.phases[name.lower()] = _PHASE_MARKS[mark]
    if found := re.search(r"(\d+) generated, (?:(\d+) passed)?", output):
        run.generated = int(found.group(1))
        run.passed = int(found.group(2) or 0)
    if found := re.search(r"Scenarios:\s+(\d+)", output):
        run.stateful_scenarios = int(found.group(1))
    if found := re.search(r"API Links:\s+(\d+) covered", output):
        run.links_covered = int(found.group(1))
    return run


def _wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"intake serve did not come up at {base} (exit {process.poll()})")
        time.sleep(0.3)


def fuzz_intake(settings: Settings, workdir: Path, seconds: int, seed: int) -> FuzzRun:
    """Serve the intake on ``settings``' broker and database, and run schemathesis at it for ``seconds``."""
    ensure_topics(settings.kafka_bootstrap, topics.ALL)
    engine = build_engine(settings)
    migrate(engine)
    _partner, token = IntakeStore(engine).add_partner("Fuzzing Partner", partner_id=f"fuzz-{uuid.uuid4().hex[:8]}")
    port = free_port()
    # A rate no generator reaches: 429s are allowed by the document, but they would stop the checks
    # from reaching the validation behind them.
    env = {**os.environ, **settings_env(settings), "TOEX_INTAKE_RATE_PER_MINUTE": "1000000",
           "TOEX_INTAKE_BURST": "1000000", "NO_COLOR": "1"}
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "intake.log", "ab") as log:
        server = subprocess.Popen([str(Path(sys.executable).with_name("toex-stream")),
                                   "intake", "serve", "--port", str(port)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", f"{base}/v1/openapi.json",
             "--checks", "all", "--header", f"Authorization: Bearer {token}", "--max-time", str(seconds),
             "--seed", str(seed), "--workers", "1", "--phases", "examples,coverage,fuzzing,stateful"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=seconds * 3 + 120, check=False,
        )
        return parse_output(done.returncode, done.stdout + done.stderr, time.monotonic() - started)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
