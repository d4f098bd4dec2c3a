"""The local broker's configuration, without starting it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import free_port
from toex_stream.adapters.localkafka import LocalKafka, LocalKafkaError, SaslSslListener, server_properties
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


def _listener(tmp_path: Path, **accounts: str) -> SaslSslListener:
    for name in ("broker.p12", "ca.pem"):
        (tmp_path / name).write_text("stand-in: only its path is written\n")
    return SaslSslListener(keystore=tmp_path / "broker.p12", keystore_password=SecretStr("store-pw"),
                           ca_file=tmp_path / "ca.pem", accounts={u: SecretStr(p) for u, p in accounts.items()})


def test_a_sasl_ssl_listener_replaces_the_plaintext_one(tmp_path):
    listener = _listener(tmp_path, toex="account-pw")
    text = server_properties(port=19092, controller_port=19093, log_dirs=Path("/d"), listener=listener)
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:19092"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "PLAIN" and props["ssl.keystore.type"] == "PKCS12"
    jaas = props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\"")
    assert 'user_toex="account-pw"' in jaas and jaas.endswith(";")
    assert "account-pw" not in repr(listener) and "store-pw" not in repr(listener)


def test_an_account_that_would_break_the_jaas_line_is_refused_by_name(tmp_path):
    with pytest.raises(LocalKafkaError, match="account 'toex'") as refused:
        _listener(tmp_path, toex='pw"; user_admin="x')
    assert "pw\"" not in str(refused.value)


def test_a_sasl_ssl_broker_must_be_reached_with_one_of_its_accounts(tmp_path):
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path)
    with pytest.raises(LocalKafkaError, match="TOEX_KAFKA_SECURITY_PROTOCOL=SASL_SSL"):
        LocalKafka(settings, _listener(tmp_path, toex="account-pw"))
