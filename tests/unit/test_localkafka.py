"""The local broker's configuration, without starting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port
from toex_stream.adapters.localkafka import LocalKafka, LocalKafkaError, server_properties
from toex_stream.adapters.settings import Settings


def test_broker_binds_loopback_with_auto_creation_off():
    props = dict(
        line.split("=", 1)
        for line in server_properties(port=19092, controller_port=19093, log_dirs=Path("/d")).splitlines()
        if line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"


def test_status_when_nothing_runs(tmp_path):
    status = LocalKafka(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path)).status()
    assert not status.reachable and not status.managed
    assert status.describe().startswith("no Kafka at")


def test_up_refuses_to_start_a_remote_broker(tmp_path):
    settings = Settings(kafka_bootstrap="kafka.invalid:9092", data_dir=tmp_path)
    with pytest.raises(LocalKafkaError, match="is not on this machine"):
        LocalKafka(settings).up()


def test_down_with_nothing_running_is_harmless(tmp_path):
    assert LocalKafka(Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path)).down() is False
