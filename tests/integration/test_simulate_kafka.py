"""`toex-stream simulate` into the real broker: every event arrives, and the worker observes each one."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.conftest import source_position, stall_report
from tests.unit.test_cli import toex
from toex_stream.adapters.kafka_io import TopicReader
from toex_stream.adapters.settings import settings_env
from toex_stream.domain import contract

pytestmark = pytest.mark.integration


def test_a_simulated_stream_reaches_the_topics_and_becomes_observations(kafka, reader, tmp_path):
    truth = tmp_path / "truth.jsonl"
    outputs = reader
    with TopicReader(kafka.kafka_bootstrap, list(contract.INPUT_TOPICS)) as inputs:
        result = toex(
            "simulate", "--scenario", "booker", "--events", "80", "--seed", "11", "--as-fast-as-possible",
            "--truth", str(truth), env=settings_env(kafka),
        )
        assert result.returncode == 0, result.stderr
        assert "sent 80 events" in result.stdout

        keys = {t["key"] for t in map(json.loads, truth.read_text().splitlines()) if t["type"] == "event"}
        assert len(keys) == 80
        positions = {}
        deadline = time.monotonic() + 60
        while len(positions) < 80:
            assert time.monotonic() < deadline, f"only {len(positions)} of 80 simulated events reached Kafka"
            for message in inputs.poll(timeout=1):
                if message.key().decode() in keys:
                    positions[(message.topic(), message.partition(), message.offset())] = message.key().decode()

        outcomes: dict[tuple[str, int, int], str] = {}
        deadline = time.monotonic() + 180  # room for a rebalance when another test's worker leaves
        while len(outcomes) < 80:
            if time.monotonic() > deadline:
                missing = sorted(set(positions) - set(outcomes))
                pytest.fail(f"the worker handled only {len(outcomes)} of 80 simulated events; "
                            f"missing {missing}\n{stall_report(kafka, list(contract.INPUT_TOPICS))}")
            for message in outputs.poll(timeout=1):
                position = source_position(message.topic(), message.value())
                if position in positions:
                    outcomes[position] = message.topic()
    assert set(outcomes.values()) == {contract.TOPIC_OBSERVATIONS}, "no simulated event is a dead letter"
