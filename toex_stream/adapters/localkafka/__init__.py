"""A local single-node Apache Kafka (KRaft) started from its Maven Central jars.

No Docker and no tarball: Maven copies ``org.apache.kafka:kafka_2.13`` and its
runtime dependencies into a cache folder outside git (once per version), then
the broker runs as ``java -cp 'libs/*' kafka.Kafka server.properties``, bound to
127.0.0.1, with its state and log under ``<data dir>/kafka``.

Its client listener is PLAINTEXT, or SASL_SSL with the PLAIN mechanism when
given a :class:`SaslSslListener` (a certificate and the accounts it accepts):
enough to try Kafka security, and to test it, on one machine.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import SecretStr

from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.kafka_io import broker_reachable, port_open
from toex_stream.adapters.settings import Settings
from toex_stream.domain.errors import ToexError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


class LocalKafkaError(ToexError):
    """The local broker could not be fetched, started or stopped."""


# The broker's own account on its SASL_SSL listener (it reaches itself through it).
BROKER_USER = "broker"
# What a JAAS option value and a properties-file line can hold without escaping.
_JAAS_SAFE = re.compile(r"[^\s\"\\;=]+")


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL client listener (mechanism PLAIN) in place of the PLAINTEXT one.

    ``keystore`` is a PKCS#12 file with the broker's key and certificate, whose
    names must include 127.0.0.1 (clients check the host name); ``ca_file`` is
    the PEM certificate of the CA that signed it. ``accounts`` maps each user
    the listener accepts to its password. The controller listener stays
    PLAINTEXT on loopback; the broker reaches itself through this listener,
    with an account of its own made at start.
    """

    keystore: Path
    keystore_password: SecretStr
    ca_file: Path
    accounts: Mapping[str, SecretStr]
    broker_password: SecretStr = field(default_factory=lambda: SecretStr(secrets.token_urlsafe(24)), repr=False)

    def __post_init__(self) -> None:
        for path in (self.keystore, self.ca_file):
            if not path.is_file():
                raise LocalKafkaError(f"{path} does not exist: the SASL_SSL listener needs the broker's keystore "
                                      "(PKCS#12) and the CA's certificate (PEM)")
        if not self.accounts or BROKER_USER in self.accounts:
            raise LocalKafkaError(f"the SASL_SSL listener needs at least one account, none named {BROKER_USER!r} "
                                  "(the broker's own)")
        for user, password in self.accounts.items():
            # The passwords go into the broker's JAAS line unescaped: refuse what would break it, naming the user.
            if not _JAAS_SAFE.fullmatch(user) or not _JAAS_SAFE.fullmatch(password.get_secret_value()):
                raise LocalKafkaError(f"account {user!r}: a name or password with spaces, quotes, backslashes, ';' or "
                                      "'=' cannot be written into the broker's JAAS configuration; choose another")
        if not _JAAS_SAFE.fullmatch(self.keystore_password.get_secret_value()):
            raise LocalKafkaError("the keystore password has spaces, quotes, backslashes, ';' or '='; choose another")

    def properties(self) -> str:
        """The broker's listener-security settings (they hold passwords: the file is written for its owner only)."""
        users = " ".join(f'user_{user}="{password.get_secret_value()}"'
                         for user, password in {BROKER_USER: self.broker_password, **self.accounts}.items())
        return f"""\
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
username="{BROKER_USER}" password="{self.broker_password.get_secret_value()}" {users};
ssl.keystore.type=PKCS12
ssl.keystore.location={self.keystore.resolve()}
ssl.keystore.password={self.keystore_password.get_secret_value()}
ssl.truststore.type=PEM
ssl.truststore.location={self.ca_file.resolve()}
"""


@dataclass(frozen=True)
class Status:
    bootstrap: str
    reachable: bool
    pid: int | None
    managed: bool
    version: str
    state_dir: Path
    log_file: Path

    def describe(self) -> str:
        if self.managed and self.reachable:
            head = f"local Kafka {self.version} running (pid {self.pid}) at {self.bootstrap}"
        elif self.managed:
            head = f"local Kafka {self.version} process {self.pid} is up but not answering at {self.bootstrap}"
        elif self.reachable:
            head = f"an external Kafka answers at {self.bootstrap} (not started by toex-stream)"
        else:
            head = f"no Kafka at {self.bootstrap}"
        return f"{head}\n  state: {self.state_dir}\n  log:   {self.log_file}"


class LocalKafka:
    """Fetch, format, start, stop and report on the development broker."""

    def __init__(self, settings: Settings, listener: SaslSslListener | None = None) -> None:
        self.settings = settings
        self.listener = listener
        # Checked and reached as every other client reaches it.
        self.kafka = KafkaAccess.from_settings(settings)
        if listener is not None and not (self.kafka.security_protocol == "SASL_SSL"
                                         and self.kafka.sasl_mechanism == "PLAIN"
                                         and self.kafka.sasl_username in listener.accounts):
            raise LocalKafkaError("a broker with a SASL_SSL listener is reached with TOEX_KAFKA_SECURITY_PROTOCOL="
                                  "SASL_SSL, TOEX_KAFKA_SASL_MECHANISM=PLAIN and one of its accounts in "
                                  "TOEX_KAFKA_SASL_USERNAME")
        self.state_dir = (settings.data_dir / "kafka").resolve()
        self.libs_dir = (settings.cache_dir / f"kafka-{settings.kafka_version}" / "libs").resolve()
        self.log_file = self.state_dir / "logs" / "server.log"
        self.console_file = self.state_dir / "logs" / "console.out"
        self.pid_file = self.state_dir / "broker.pid"
        self.properties_file = self.state_dir / "server.properties"

    # -- queries ----------------------------------------------------------------

    def status(self) -> Status:
        pid = self._running_pid()
        return Status(
            bootstrap=self.settings.kafka_bootstrap,
            reachable=broker_reachable(self.kafka, timeout=3.0),
            pid=pid,
            managed=pid is not None,
            version=self.settings.kafka_version,
            state_dir=self.state_dir,
            log_file=self.log_file,
        )

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"kafka.Kafka" not in cmdline.read_bytes():
            return None  # the pid was reused by something else
        return pid

    # -- up -----------------------------------------------------------------------

    def up(self, progress: Progress = lambda _msg: None) -> bool:
        """Make a broker answer at the bootstrap address; return True if this call started it."""
        bootstrap = self.settings.kafka_bootstrap
        if broker_reachable(self.kafka, timeout=3.0):
            progress(f"Kafka already answers at {bootstrap}; starting nothing")
            return False
        host, port = self.settings.kafka_host, self.settings.kafka_port
        if host not in LOCAL_HOSTS:
            raise LocalKafkaError(
                f"TOEX_KAFKA_BOOTSTRAP={bootstrap} does not answer and is not on this machine, so "
                "`kafka up` cannot start it; start that broker, or unset TOEX_KAFKA_BOOTSTRAP to "
                "run a local one"
            )
        pid = self._running_pid()
        if pid is None:
            for taken in (port, self.settings.kafka_controller_port):
                if port_open("127.0.0.1", taken, timeout=0.5):
                    raise LocalKafkaError(
                        f"port {taken} on 127.0.0.1 is taken by something that is not a Kafka "
                        "broker; free it or choose other ports with TOEX_KAFKA_BOOTSTRAP and "
                        "TOEX_KAFKA_CONTROLLER_PORT"
                    )
            self._fetch_jars(progress)
            self._write_config()
            self._format_storage(progress)
            pid = self._start(progress)
        else:
            progress(f"local Kafka process {pid} exists; waiting for it to answer")
        self._wait_until_ready(pid)
        progress(f"Kafka {self.settings.kafka_version} ready at {bootstrap} (log: {self.log_file})")
        return True

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not Path(java).exists():
            raise LocalKafkaError("java not found: install a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
        return java

    def _fetch_jars(self, progress: Progress) -> None:
        marker = self.libs_dir / ".complete"
        if marker.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError("mvn not found: install Apache Maven (Debian: maven) to fetch the Kafka jars")
        progress(f"fetching Apache Kafka {self.settings.kafka_version} jars from Maven Central into {self.libs_dir}")
        staging = self.libs_dir.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with resources.as_file(resources.files("toex_stream.adapters.localkafka") / "pom.xml") as pom:
            result = subprocess.run(
                [
                    mvn, "-B", "-q", "-f", str(pom),
                    "dependency:copy-dependencies",
                    f"-Dkafka.version={self.settings.kafka_version}",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise LocalKafkaError(
                f"Maven could not fetch org.apache.kafka:kafka_2.13:{self.settings.kafka_version}:\n{tail}"
            )
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        marker.touch()

    def _write_config(self) -> None:
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        text = server_properties(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            log_dirs=self.state_dir / "data",
            listener=self.listener,
        )
        # For its owner only: with a SASL_SSL listener it holds the accounts' passwords.
        descriptor = os.open(self.properties_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as properties:
            properties.write(text)
        (self.state_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)

    def _java_command(self, main_class: str, *args: str) -> list[str]:
        return [
            self._java(),
            f"-Xmx{self.settings.kafka_heap}",
            f"-Xms{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.state_dir / 'logs'}",
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
            *args,
        ]

    def _format_storage(self, progress: Progress) -> None:
        if (self.state_dir / "data" / "meta.properties").exists():
            return
        progress("formatting KRaft storage")
        result = subprocess.run(
            self._java_command(
                "kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                "-c", str(self.properties_file), "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise LocalKafkaError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _start(self, progress: Progress) -> int:
        progress(f"starting Kafka {self.settings.kafka_version} on {self.settings.kafka_bootstrap}")
        with open(self.console_file, "ab") as console:
            process = subprocess.Popen(
                self._java_command("kafka.Kafka", str(self.properties_file)),
                stdout=console,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the caller's terminal is the caller's to handle
                cwd=self.state_dir,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process.pid

    def _wait_until_ready(self, pid: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if broker_reachable(self.kafka, timeout=2.0):
                return
            if not _alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise LocalKafkaError(f"Kafka exited during start-up; last lines of its log:\n{self._log_tail()}")
            time.sleep(0.5)
        raise LocalKafkaError(
            f"Kafka did not answer at {self.settings.kafka_bootstrap} within {START_TIMEOUT_S:.0f} s; "
            f"last lines of its log:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        text = ""
        for path in (self.log_file, self.console_file):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text or "(no log written)"

    # -- down ---------------------------------------------------------------------

    def down(self) -> bool:
        """Stop the broker this checkout started (cleanly, then by force); True if one was running."""
        pid = self._running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            log.warning("Kafka (pid %d) did not stop within %.0f s; killing it", pid, STOP_TIMEOUT_S)
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our own child (a zombie still answers kill(0)).
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's ``Uuid.randomUuid()`` prints it (22 chars, URL-safe base64).

    >>> len(new_cluster_id())
    22
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka rejects ids that look like command-line flags
            return text


def server_properties(*, port: int, controller_port: int, log_dirs: Path,
                      listener: SaslSslListener | None = None) -> str:
    """A combined broker+controller configuration for one node on 127.0.0.1.

    The client listener is PLAINTEXT, or SASL_SSL with ``listener``; the
    broker talks to itself through it either way.
    """
    name = "PLAINTEXT" if listener is None else "SASL_SSL"
    security = "" if listener is None else listener.properties()
    return f"""\
# Written by `toex-stream kafka up`; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners={name}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners={name}://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name={name}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,{name}:{name}
{security}log.dirs={log_dirs}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
"""


LOG4J2_PROPERTIES = """\
# Written by `toex-stream kafka up`: the broker's log goes to one file.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""
