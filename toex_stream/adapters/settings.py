"""All settings, read in one place from the environment (prefix ``TOEX_``).

Nothing else in toex-stream reads an address, a port or a secret from anywhere
but this object. Build it once with :func:`load_settings` at the entry point and
pass it on.

>>> s = Settings(kafka_bootstrap="127.0.0.1:19092", data_dir="/tmp/x")
>>> s.database_url
'sqlite:////tmp/x/toex.sqlite3'
>>> s.kafka_port
19092
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toex-stream"


class Settings(BaseSettings):
    # An empty variable (TOEX_SLACK_BOT_TOKEN=) means unset, as compose files write it.
    model_config = SettingsConfigDict(env_prefix="TOEX_", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description="host:port of the Kafka bootstrap server (comma-separated for several).",
    )
    kafka_controller_port: int = Field(
        9093, description="KRaft controller port of the local broker started by `kafka up`."
    )
    kafka_version: str = Field("4.4.0", description="Apache Kafka release that `kafka up` runs.")
    kafka_heap: str = Field("512m", description="Java heap of the local broker.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default a SQLite file under the data folder."
    )
    database_password: SecretStr | None = Field(
        None,
        description="Password for database_url when the URL carries none; also read from "
        "/run/secrets/toex_database_password (Docker secrets).",
    )
    data_dir: Path = Field(Path(".toex"), description="Local state: database, stores, broker data.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Downloads kept outside git (the Kafka jars).",
    )
    web_bind: str = "127.0.0.1"
    web_port: int = 6066
    slack_bot_token: SecretStr | None = None
    slack_api_url: str | None = None
    routes_file: Path | None = None
    profiles_dir: Path | None = Field(None, description="Threat profiles (YAML); default the bundled ones.")
    log_level: str = "INFO"
    intake_rate_per_minute: float = Field(60.0, description="Requests per partner per minute (token bucket).")
    intake_burst: int = Field(20, description="Requests a partner may send at once before the rate applies.")
    intake_max_body_bytes: int = Field(512 * 1024, description="Largest referral body accepted (413 above).")
    intake_publish_timeout_s: float = Field(10.0, description="How long intake waits for Kafka before a 503.")
    intake_disclose_matches: bool = Field(
        False, description="Tell partners on their receipts whether a subject matched a known person (each such "
        "answer is logged as a disclosure). Off: receipts say received or processed, nothing about matching.")

    # Kafka security, passed to every client (confluent-kafka and aiokafka alike).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers; SASL_SSL in production.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when the protocol is SASL_*.")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = Field(
        None, description="Also read from /run/secrets/toex_kafka_sasl_password (Docker secrets).")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers' certificates.")
    # Who did what: the s.62 log and the people who act.
    audit_head_file: Path | None = Field(
        None, description="Where the audit chain's latest head is kept outside the database; default "
        "<data_dir>/audit-head.json. Keep it where the database's users cannot write.")
    session_file: Path | None = Field(
        None, description="Where `toex-stream login` keeps this account's session; default "
        "~/.config/toex-stream/session.")
    session_hours: float = Field(8.0, description="How long a `toex-stream login` session lasts.")
    # The regional teams' dashboard (`toex-stream dashboard serve`).
    dashboard_port: int = Field(6070, description="Port of `toex-stream dashboard serve`.")
    dashboard_session_hours: float = Field(8.0, description="How long a dashboard sign-in lasts.")
    public_url: str | None = Field(
        None, description="The dashboard's address as the regional teams reach it (https://... behind TLS): chat "
        "messages link to each alert's page there, and its session cookie is Secure when it is https.")
    # Keep nothing too long.
    retention_file: Path | None = Field(
        None, description="Retention periods per category of data (YAML); default the bundled retention.yaml.")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(
                    f"TOEX_KAFKA_BOOTSTRAP={value!r}: each server must be host:port, "
                    "for example 127.0.0.1:9092"
                )
        return value

    def model_post_init(self, __context: object) -> None:
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir.resolve() / 'toex.sqlite3'}"
            return
        # A password written into the URL is a secret like any other: kept as one, and out of the URL,
        # so that printing the settings, a log line or an error naming the URL never shows it.
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.database_url)
        except ArgumentError:
            return  # not a URL: the engine says so when it is built
        if url.password is not None:
            if self.database_password is None:
                self.database_password = SecretStr(str(url.password))
            # URL.set(password=None) would keep it: None there means "unchanged".
            bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
            self.database_url = bare.render_as_string(hide_password=False)

    def database_url_with_password(self) -> str:
        """The database URL with ``database_password`` filled in where the URL has none.

        >>> Settings(database_url="postgresql+psycopg://toex@db/toex",
        ...          database_password="s3cret").database_url_with_password()
        'postgresql+psycopg://toex:s3cret@db/toex'
        >>> written_in = Settings(database_url="postgresql+psycopg://toex:s3cret@db/toex")
        >>> written_in.database_url, "s3cret" in repr(written_in), written_in.database_url_with_password()
        ('postgresql+psycopg://toex@db/toex', False, 'postgresql+psycopg://toex:s3cret@db/toex')
        """
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url or "")
        if url.password is None and self.database_password is not None:
            url = url.set(password=self.database_password.get_secret_value())
        return url.render_as_string(hide_password=False)

    @property
    def audit_head_path(self) -> Path:
        """Where the audit chain's head is kept outside the database."""
        return self.audit_head_file or self.data_dir / "audit-head.json"

    @property
    def kafka_host(self) -> str:
        """Host of the first bootstrap server."""
        return self.kafka_bootstrap.split(",")[0].strip().rpartition(":")[0]

    @property
    def kafka_port(self) -> int:
        """Port of the first bootstrap server."""
        return int(self.kafka_bootstrap.split(",")[0].strip().rpartition(":")[2])

    @property
    def faust_broker_url(self) -> str:
        return ",".join(f"kafka://{s.strip()}" for s in self.kafka_bootstrap.split(","))


SECRETS_DIR = Path("/run/secrets")


def load_settings() -> Settings:
    """Read the settings from the environment (and Docker secrets); call once at an entry point."""
    return Settings(_secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``TOEX_*`` environment that reproduces ``settings`` in a child process.

    >>> settings_env(Settings(kafka_bootstrap="127.0.0.1:19092"))["TOEX_KAFKA_BOOTSTRAP"]
    '127.0.0.1:19092'
    """
    env = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"TOEX_{name.upper()}"] = str(value)
    return env
