"""Where the brokers are and how a client proves who it is: one value for every Kafka client.

:class:`KafkaAccess` is built once from the settings (``TOEX_KAFKA_BOOTSTRAP``,
``TOEX_KAFKA_SECURITY_PROTOCOL``, ``TOEX_KAFKA_SASL_MECHANISM``,
``TOEX_KAFKA_SASL_USERNAME``, ``TOEX_KAFKA_SASL_PASSWORD``,
``TOEX_KAFKA_SSL_CA_FILE``), checked when it is built, and handed to every
client: confluent-kafka takes :meth:`KafkaAccess.confluent_config`, aiokafka
:meth:`KafkaAccess.aiokafka_config`, and the Faust app the credentials that
``streams.kafka_auth`` makes of it (this package imports no Faust).

The password stays a :class:`~pydantic.SecretStr` until a client's
configuration needs it; the value's ``repr`` and every error here leave it out.

>>> access = KafkaAccess("broker:9093", "SASL_SSL", "SCRAM-SHA-512", "toex", SecretStr("s3cret"))
>>> access.confluent_config()["security.protocol"], "s3cret" in repr(access)
('SASL_SSL', False)
>>> KafkaAccess("127.0.0.1:9092").confluent_config()
{'bootstrap.servers': '127.0.0.1:9092'}
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

from pydantic import SecretStr

from toex_stream.adapters.settings import Settings
from toex_stream.domain.errors import ToexError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_TLS: frozenset[SecurityProtocol] = frozenset({"SSL", "SASL_SSL"})
_SASL: frozenset[SecurityProtocol] = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class KafkaConfigError(ToexError):
    """The Kafka security settings contradict each other or name a file that is not there."""


@dataclass(frozen=True)
class KafkaAccess:
    """The bootstrap servers and the security every client uses to reach them; checked when made.

    PLAINTEXT (the default) adds nothing to a client's configuration, so a
    development broker is reached exactly as before security existed.
    """

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: Path | None = None

    def __post_init__(self) -> None:
        protocol = self.security_protocol
        if protocol not in get_args(SecurityProtocol):
            raise KafkaConfigError(f"TOEX_KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of "
                                   f"{', '.join(get_args(SecurityProtocol))}")
        given = {"TOEX_KAFKA_SASL_MECHANISM": self.sasl_mechanism, "TOEX_KAFKA_SASL_USERNAME": self.sasl_username,
                 "TOEX_KAFKA_SASL_PASSWORD": self.sasl_password}
        if protocol in _SASL:
            missing = [name for name, value in given.items() if not value]
            if missing:
                raise KafkaConfigError(
                    f"TOEX_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}: set the mechanism the "
                    "brokers' listener accepts (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and this service's account "
                    "(the password may also come from the Docker secret toex_kafka_sasl_password)"
                )
            if self.sasl_mechanism not in get_args(SaslMechanism):
                raise KafkaConfigError(f"TOEX_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r} is not one of "
                                       f"{', '.join(get_args(SaslMechanism))}")
        else:
            unused = [name for name, value in given.items() if value]
            if unused:
                raise KafkaConfigError(
                    f"{', '.join(unused)} set, but TOEX_KAFKA_SECURITY_PROTOCOL={protocol} sends no credentials; "
                    "set TOEX_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset them"
                )
        if self.ssl_ca_file is not None:
            if protocol not in _TLS:
                raise KafkaConfigError(
                    f"TOEX_KAFKA_SSL_CA_FILE is set, but TOEX_KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS; "
                    "set TOEX_KAFKA_SECURITY_PROTOCOL=SSL or SASL_SSL, or unset TOEX_KAFKA_SSL_CA_FILE"
                )
            self._check_ca_file(self.ssl_ca_file)

    @staticmethod
    def _check_ca_file(ca_file: Path) -> None:
        if not ca_file.is_file():
            raise KafkaConfigError(
                f"TOEX_KAFKA_SSL_CA_FILE={ca_file} does not exist or is not a file; point it at the PEM file of "
                "the CA that signed the brokers' certificates, or unset it to trust the system's CAs"
            )
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (ssl.SSLError, OSError) as exc:
            raise KafkaConfigError(
                f"TOEX_KAFKA_SSL_CA_FILE={ca_file} holds no usable PEM certificate ({exc.__class__.__name__}); "
                "it must be the CA's certificate, -----BEGIN CERTIFICATE----- and all"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAccess:
        """The access the settings describe; raises :class:`KafkaConfigError` naming the setting to fix."""
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_username=settings.kafka_sasl_username,
            sasl_password=settings.kafka_sasl_password,
            ssl_ca_file=settings.kafka_ssl_ca_file,
        )

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in _TLS

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in _SASL

    def _password(self) -> str:
        assert self.sasl_password is not None, "checked in __post_init__"
        return self.sasl_password.get_secret_value()

    def confluent_config(self) -> dict[str, str]:
        """``bootstrap.servers`` and the security properties of a confluent-kafka (librdkafka) client.

        The result holds the password in clear, as librdkafka needs it: hand it
        to the client and log none of it.
        """
        config = {"bootstrap.servers": self.bootstrap}
        if self.security_protocol == "PLAINTEXT":
            return config
        config["security.protocol"] = self.security_protocol
        if self.uses_sasl:
            assert self.sasl_mechanism is not None and self.sasl_username is not None, "checked in __post_init__"
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self._password()
        if self.ssl_ca_file is not None:
            config["ssl.ca.location"] = str(self.ssl_ca_file)
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """For TLS: a context that verifies the brokers' certificates and host names against the CA file
        (the system's CAs without one); None without TLS."""
        if not self.uses_tls:
            return None
        return ssl.create_default_context(cafile=str(self.ssl_ca_file) if self.ssl_ca_file else None)

    def aiokafka_config(self) -> dict[str, Any]:
        """``bootstrap_servers`` and the security keyword arguments of an aiokafka client.

        The same settings Faust gives its own clients from ``streams.kafka_auth.broker_credentials``.
        """
        config: dict[str, Any] = {"bootstrap_servers": self.bootstrap}
        if self.security_protocol == "PLAINTEXT":
            return config
        config["security_protocol"] = self.security_protocol
        if self.uses_sasl:
            # aiokafka takes the SCRAM account under the same sasl_plain_* names.
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self._password()
        if self.uses_tls:
            config["ssl_context"] = self.ssl_context()
        return config


# A bare bootstrap string is a PLAINTEXT broker: the local development broker, benchmarks and tests.
# Everything the entry points and the worker build passes a KafkaAccess made from the settings.
KafkaTarget: TypeAlias = KafkaAccess | str


def kafka_access(kafka: KafkaTarget) -> KafkaAccess:
    """``kafka`` as a :class:`KafkaAccess` (a bare bootstrap string is PLAINTEXT).

    >>> kafka_access("127.0.0.1:9092").security_protocol
    'PLAINTEXT'
    """
    return kafka if isinstance(kafka, KafkaAccess) else KafkaAccess(kafka)
