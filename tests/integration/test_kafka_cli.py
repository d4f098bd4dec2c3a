"""`toex-stream kafka` against the session's real broker."""

from __future__ import annotations

import pytest

from tests.unit.test_cli import toex
from toex_stream.adapters.settings import Settings, settings_env

pytestmark = pytest.mark.integration


def test_up_uses_a_broker_that_already_answers(kafka: Settings):
    result = toex("kafka", "up", env=settings_env(kafka))
    assert result.returncode == 0, result.stderr
    assert "already answers" in result.stdout and "starting nothing" in result.stdout


def test_status_says_what_runs_where(kafka: Settings):
    result = toex("kafka", "status", env=settings_env(kafka))
    assert result.returncode == 0, result.stderr
    assert kafka.kafka_bootstrap in result.stdout
    assert "running" in result.stdout or "external Kafka answers" in result.stdout


def test_submit_sends_a_valid_example(kafka: Settings, worker):
    from tests.conftest import ROOT

    result = toex("submit", str(ROOT / "examples" / "intel.json"), env=settings_env(kafka))
    assert result.returncode == 0, result.stderr
    assert "sent IntelReport WMP-INT-2026-4471 to toex.intel" in result.stdout
