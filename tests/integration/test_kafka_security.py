"""Kafka security end to end: a broker that speaks only SASL_SSL, and every kind of client against it.

The broker is the local one (``LocalKafka``) with a SASL_SSL listener, on its own
ports and data folder, its certificate signed by a CA made here with openssl.
With the account in the settings, confluent-kafka clients, ``toex-stream submit``
and the Faust worker (its own aiokafka clients and its followers) get through;
without credentials, or with a wrong password, a client is refused. The
password is made fresh for the module and must appear in no output.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from tests.conftest import ROOT, free_port
from tests.unit.test_cli import toex
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import (
    KafkaUnavailable,
    TopicReader,
    durable_producer,
    ensure_topics,
    existing_topics,
    produce_and_wait,
)
from toex_stream.adapters.localkafka import LocalKafka, SaslSslListener
from toex_stream.adapters.settings import Settings, settings_env
from toex_stream.adapters.topics import TopicSpec
from toex_stream.domain import contract
from toex_stream.tools.processes import start_worker, stop_process_group

pytestmark = pytest.mark.integration

USER = "toex"
REFUSED_WITHIN_S = 2.0


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    keystore: Path
    keystore_password: SecretStr


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"openssl {args[0]} failed: {result.stderr}"


def make_certificates(folder: Path) -> Certificates:
    """A throwaway CA and a broker certificate for 127.0.0.1 it signed, the broker's as PKCS#12."""
    folder.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=toex-stream test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _openssl("req", *curve, "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.pem", "-days", "2", "-extfile", "broker.ext", cwd=folder)
    password = SecretStr(secrets.token_urlsafe(16))
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
             "-name", "broker", "-out", "broker.p12", "-passout", f"pass:{password.get_secret_value()}", cwd=folder)
    return Certificates(folder / "ca.pem", folder / "broker.p12", password)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a client with the right account, against a broker with only a SASL_SSL listener."""
    folder = tmp_path_factory.mktemp("secure-kafka")
    certificates = make_certificates(folder / "tls")
    password = SecretStr(secrets.token_urlsafe(24))
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", kafka_controller_port=free_port(), data_dir=folder / "data",
        web_port=free_port(), kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=USER, kafka_sasl_password=password, kafka_ssl_ca_file=certificates.ca_file,
    )
    listener = SaslSslListener(keystore=certificates.keystore, keystore_password=certificates.keystore_password,
                               ca_file=certificates.ca_file, accounts={USER: password})
    broker = LocalKafka(settings, listener)
    try:
        broker.up()
    except Exception as exc:  # any failure to start is a test failure, with its reason
        pytest.fail(f"could not start the SASL_SSL broker: {exc}", pytrace=False)
    try:
        yield settings
    finally:
        broker.down()


def _password(settings: Settings) -> str:
    assert settings.kafka_sasl_password is not None
    return settings.kafka_sasl_password.get_secret_value()


def test_a_client_with_the_account_produces_and_consumes(secure: Settings):
    kafka = KafkaAccess.from_settings(secure)
    topic = f"security-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka, [TopicSpec(topic, partitions=1)]) == [topic]

    delivered = produce_and_wait(durable_producer(kafka), topic, b"key", b"over TLS, as toex")
    with TopicReader(kafka, [topic], start="beginning") as reader:
        deadline = time.monotonic() + 15
        values: list[bytes | None] = []
        while not values and time.monotonic() < deadline:
            values = [message.value() for message in reader.poll(timeout=0.5)]
    assert values == [b"over TLS, as toex"] and delivered.offset == 0


def _refusal(config: dict[str, str]) -> tuple[KafkaException | None, set[int]]:
    """What a confluent-kafka client with ``config`` gets when it asks for metadata: the exception and the
    error codes its error callback saw."""
    seen: set[int] = set()
    admin = AdminClient({**config, "log_level": 0, "error_cb": lambda error: seen.add(error.code())})
    refused = None
    try:
        admin.list_topics(timeout=REFUSED_WITHIN_S)
    except KafkaException as exc:
        refused = exc
    admin.poll(0.5)  # serves the error callbacks
    return refused, seen


def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(secure: Settings,
                                                                       caplog: pytest.LogCaptureFixture):
    kafka = KafkaAccess.from_settings(secure)
    wrong = replace(kafka, sasl_password=SecretStr(secrets.token_urlsafe(24)))

    plaintext, plaintext_seen = _refusal({"bootstrap.servers": kafka.bootstrap})
    tls_only, tls_only_seen = _refusal(replace(kafka, security_protocol="SSL", sasl_mechanism=None,
                                               sasl_username=None, sasl_password=None).confluent_config())
    bad_password, bad_password_seen = _refusal(wrong.confluent_config())

    # No credentials (neither TLS nor SASL, or TLS alone): the broker answers no metadata request.
    for refused, seen in ((plaintext, plaintext_seen), (tls_only, tls_only_seen)):
        assert refused is not None and refused.args[0].code() == KafkaError._TRANSPORT, refused
        assert KafkaError._ALL_BROKERS_DOWN in seen and KafkaError._AUTHENTICATION not in seen, seen
    # A wrong password: refused, and told why.
    assert bad_password is not None and bad_password.args[0].code() == KafkaError._TRANSPORT, bad_password
    assert KafkaError._AUTHENTICATION in bad_password_seen, bad_password_seen
    # The adapters say so with the settings to check, and the password in none of it.
    with pytest.raises(KafkaUnavailable, match="TOEX_KAFKA_SASL_PASSWORD") as refused:
        existing_topics(wrong, timeout=REFUSED_WITHIN_S)
    assert wrong.sasl_password is not None and wrong.sasl_password.get_secret_value() not in str(refused.value)
    assert _password(secure) not in str(refused.value)

    # aiokafka (what Faust uses) alike: without credentials, or with the wrong password, no connection.
    async def start(config: dict) -> None:
        producer = AIOKafkaProducer(**config, request_timeout_ms=int(REFUSED_WITHIN_S * 1000))
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
        asyncio.run(start({"bootstrap_servers": kafka.bootstrap}))
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(start(wrong.aiokafka_config()))
    assert "SaslAuthenticationFailed" in caplog.text, caplog.text  # aiokafka logs the cause, raises the outcome
    assert wrong.sasl_password.get_secret_value() not in caplog.text


def test_the_worker_and_submit_work_with_the_account(secure: Settings):
    """``python -m streams`` with TOEX_KAFKA_SECURITY_PROTOCOL=SASL_SSL etc.: its Faust clients and its followers
    connect; an event sent with ``toex-stream submit`` comes out on toex.observations."""
    kafka = KafkaAccess.from_settings(secure)
    log_file = secure.data_dir / "worker.log"
    env = settings_env(secure)
    assert env["TOEX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["TOEX_KAFKA_SASL_PASSWORD"] == _password(secure)
    worker = start_worker(secure, log_file)
    try:
        deadline = time.monotonic() + 60
        wanted = {contract.TOPIC_INTEL, contract.TOPIC_OBSERVATIONS}
        while not wanted <= existing_topics(kafka):
            assert worker.poll() is None and time.monotonic() < deadline, _tail(log_file)
            time.sleep(0.5)
        with TopicReader(kafka, [contract.TOPIC_OBSERVATIONS]) as observations:
            result = toex("submit", str(ROOT / "examples" / "intel.json"), env=env)
            assert result.returncode == 0, result.stderr
            assert "sent IntelReport WMP-INT-2026-4471 to toex.intel" in result.stdout
            found = []
            while not found:
                assert worker.poll() is None and time.monotonic() < deadline, _tail(log_file)
                found = [m for m in observations.poll(timeout=0.5)
                         if contract.Observation.model_validate_json(m.value() or b"").event_ref.topic
                         == contract.TOPIC_INTEL]
        # The followers (plain aiokafka consumers) read toex.nominals to its end through the same listener.
        while "nominals loaded" not in log_file.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, _tail(log_file)
            time.sleep(0.2)
    finally:
        stop_process_group(worker)
    output = log_file.read_text(errors="replace") + result.stdout + result.stderr
    assert _password(secure) not in output
    assert "SASL authentication" not in output and "Authentication failed" not in output


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])
