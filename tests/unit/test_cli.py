"""The command line refuses bad input with a clear message, before touching Kafka."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, free_port


def toex(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", "from toex_stream.entry.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


# A port nothing listens on: if submit tried to send, it would fail differently.
NO_BROKER = {"TOEX_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}


def test_submit_reports_every_invalid_field_and_sends_nothing(tmp_path, referral):
    referral["urgency"] = "urgent"
    referral["subjects"][0]["nationality"] = "UK"
    path = tmp_path / "referral.json"
    path.write_text(json.dumps(referral))
    result = toex("submit", str(path), env=NO_BROKER)
    assert result.returncode == 1
    assert "is not a valid Referral; nothing was sent" in result.stderr
    assert "urgency: Input should be 'immediate_risk' or 'standard'" in result.stderr
    assert "subjects.0.nationality" in result.stderr


def test_submit_refuses_json_it_cannot_place(tmp_path):
    path = tmp_path / "what.json"
    path.write_text('{"hello": 1}')
    result = toex("submit", str(path), env=NO_BROKER)
    assert result.returncode == 1 and "pass --type referral|advert|intel" in result.stderr
    path.write_text("{not json")
    result = toex("submit", str(path), env=NO_BROKER)
    assert result.returncode == 1 and "is not valid JSON" in result.stderr


def test_submit_with_no_broker_says_how_to_start_one(tmp_path):
    result = toex("submit", str(ROOT / "examples" / "advert.json"), env=NO_BROKER)
    assert result.returncode == 1
    assert "cannot reach Kafka" in result.stderr and "toex-stream kafka up" in result.stderr


def test_bad_settings_are_reported_by_name():
    result = toex("kafka", "status", env={"TOEX_KAFKA_BOOTSTRAP": "localhost"})
    assert result.returncode == 1 and "TOEX_KAFKA_BOOTSTRAP" in result.stderr


def test_schemas_check_passes_on_the_repository():
    result = toex("schemas", "check")
    assert result.returncode == 0, result.stderr
