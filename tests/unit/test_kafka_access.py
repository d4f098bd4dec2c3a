"""From the settings to every Kafka client's configuration: confluent-kafka, aiokafka and Faust alike."""

from __future__ import annotations

import ast
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from streams.kafka_auth import broker_credentials
from tests.conftest import ROOT
from toex_stream.adapters.kafka_access import KafkaAccess, KafkaConfigError, SecurityProtocol, kafka_access
from toex_stream.adapters.settings import Settings, settings_env

PASSWORD = "pw-0f3c9a-never-shown"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    """A CA certificate file made with openssl, as an operator would have one."""
    import subprocess

    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=toex unit CA"],
                   check=True, capture_output=True)
    return cert


def secure(ca_file: Path, **changes: object) -> KafkaAccess:
    access = KafkaAccess("broker.example:9093", "SASL_SSL", "SCRAM-SHA-512", "toex", SecretStr(PASSWORD), ca_file)
    return replace(access, **changes) if changes else access


def test_plaintext_is_a_bare_bootstrap_as_before():
    access = KafkaAccess.from_settings(Settings(kafka_bootstrap="127.0.0.1:19092"))
    assert access.confluent_config() == {"bootstrap.servers": "127.0.0.1:19092"}
    assert access.aiokafka_config() == {"bootstrap_servers": "127.0.0.1:19092"}
    assert access.ssl_context() is None and broker_credentials(access) is None
    assert kafka_access("127.0.0.1:19092") == access


def test_sasl_ssl_settings_reach_confluent_kafka_and_aiokafka(ca_file: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in {"BOOTSTRAP": "broker.example:9093", "SECURITY_PROTOCOL": "SASL_SSL",
                        "SASL_MECHANISM": "SCRAM-SHA-512", "SASL_USERNAME": "toex", "SASL_PASSWORD": PASSWORD,
                        "SSL_CA_FILE": str(ca_file)}.items():
        monkeypatch.setenv(f"TOEX_KAFKA_{name}", value)
    access = KafkaAccess.from_settings(Settings())

    assert access.confluent_config() == {
        "bootstrap.servers": "broker.example:9093", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "toex", "sasl.password": PASSWORD,
        "ssl.ca.location": str(ca_file),
    }
    config = access.aiokafka_config()
    context = config.pop("ssl_context")
    assert config == {"bootstrap_servers": "broker.example:9093", "security_protocol": "SASL_SSL",
                      "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "toex",
                      "sasl_plain_password": PASSWORD}
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "toex unit CA"),),)


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT", "SSL"])
def test_faust_gets_what_the_plain_aiokafka_clients_get(ca_file: Path, protocol: SecurityProtocol):
    """Faust turns broker_credentials into aiokafka arguments itself: they must equal aiokafka_config's."""
    account = ("PLAIN", "toex", SecretStr(PASSWORD)) if protocol.startswith("SASL") else (None, None, None)
    access = KafkaAccess("broker.example:9093", protocol, *account, ca_file if protocol.endswith("SSL") else None)
    faust_auth = dict(credentials_to_aiokafka_auth(broker_credentials(access)))
    ours = access.aiokafka_config()
    del ours["bootstrap_servers"]
    faust_context, our_context = faust_auth.pop("ssl_context"), ours.pop("ssl_context", None)
    assert faust_auth == ours and faust_auth["security_protocol"] == protocol
    assert isinstance(faust_context, ssl.SSLContext) == access.uses_tls == isinstance(our_context, ssl.SSLContext)
    assert PASSWORD not in repr(broker_credentials(access))


def test_tls_without_a_ca_file_trusts_the_system_cas():
    access = KafkaAccess("broker.example:9093", "SSL")
    assert "ssl.ca.location" not in access.confluent_config()
    context = access.ssl_context()
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(("changes", "named"), [
    ({"sasl_mechanism": None}, ["TOEX_KAFKA_SASL_MECHANISM"]),
    ({"sasl_username": None}, ["TOEX_KAFKA_SASL_USERNAME"]),
    ({"sasl_password": None}, ["TOEX_KAFKA_SASL_PASSWORD", "toex_kafka_sasl_password"]),
    ({"sasl_username": None, "sasl_password": None}, ["TOEX_KAFKA_SASL_USERNAME, TOEX_KAFKA_SASL_PASSWORD"]),
    ({"security_protocol": "PLAINTEXT", "ssl_ca_file": None}, ["TOEX_KAFKA_SASL_PASSWORD set", "SASL_SSL"]),
    ({"security_protocol": "SASL_PLAINTEXT"}, ["TOEX_KAFKA_SSL_CA_FILE is set", "uses no TLS"]),
    ({"ssl_ca_file": Path("/nonexistent/ca.pem")}, ["TOEX_KAFKA_SSL_CA_FILE=/nonexistent/ca.pem does not exist"]),
    ({"security_protocol": "TLS"}, ["TOEX_KAFKA_SECURITY_PROTOCOL='TLS' is not one of"]),
    ({"sasl_mechanism": "GSSAPI"}, ["TOEX_KAFKA_SASL_MECHANISM='GSSAPI'"]),
])
def test_contradictory_settings_say_which_to_fix_and_never_the_password(ca_file, changes, named):
    with pytest.raises(KafkaConfigError) as refused:
        secure(ca_file, **changes)
    message = str(refused.value)
    assert all(part in message for part in named), message
    assert PASSWORD not in message and PASSWORD not in repr(refused.value)


def test_a_ca_file_that_is_no_certificate_is_refused(tmp_path: Path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(KafkaConfigError, match=f"TOEX_KAFKA_SSL_CA_FILE={not_pem} holds no usable PEM certificate"):
        secure(not_pem)


def test_settings_errors_reach_the_command_line_as_one_line(tmp_path: Path):
    from tests.unit.test_cli import toex

    example = ROOT / "examples" / "intel.json"
    env = settings_env(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, kafka_security_protocol="SASL_SSL",
                                kafka_sasl_username="toex", kafka_sasl_password=PASSWORD))
    result = toex("submit", str(example), env=env)
    assert result.returncode != 0
    assert "TOEX_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs TOEX_KAFKA_SASL_MECHANISM" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_the_password_is_in_no_repr_or_str(ca_file: Path):
    access = secure(ca_file)
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="toex", kafka_sasl_password=PASSWORD, kafka_ssl_ca_file=ca_file)
    for shown in (repr(access), str(access), repr(KafkaAccess.from_settings(settings)), repr(settings), str(settings)):
        assert PASSWORD not in shown
    # Exported to the worker it started, the password is the secret itself (the child reads it back).
    assert settings_env(settings)["TOEX_KAFKA_SASL_PASSWORD"] == PASSWORD


# Where the settings may hand the bare bootstrap to something that is not a Kafka client.
REPORTS_THE_ADDRESS = {("toex_stream/adapters/localkafka/__init__.py", "Status")}


def _callee(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def test_every_kafka_client_of_the_system_is_built_from_a_kafka_access():
    """No module but kafka_access says ``bootstrap.servers`` or ``bootstrap_servers=``, and none passes the bare
    ``settings.kafka_bootstrap`` to a call: a client made so would connect without the security settings."""
    offences = []
    for path in sorted([*(ROOT / "toex_stream").rglob("*.py"), *(ROOT / "streams").rglob("*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in {"toex_stream/adapters/kafka_access.py", "toex_stream/adapters/settings.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "bootstrap.servers":
                offences.append(f"{name}:{node.lineno}: 'bootstrap.servers'")
            if isinstance(node, ast.Call):
                arguments = [*node.args, *(k.value for k in node.keywords)]
                if any(k.arg == "bootstrap_servers" for k in node.keywords):
                    offences.append(f"{name}:{node.lineno}: bootstrap_servers=")
                if any(isinstance(a, ast.Attribute) and a.attr == "kafka_bootstrap" for a in arguments) \
                        and (name, _callee(node)) not in REPORTS_THE_ADDRESS:
                    offences.append(f"{name}:{node.lineno}: {_callee(node)}(... .kafka_bootstrap ...)")
    assert offences == [], "build Kafka clients from KafkaAccess.from_settings(settings):\n" + "\n".join(offences)
