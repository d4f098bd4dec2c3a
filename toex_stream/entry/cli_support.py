"""What every command group of the command line shares: the consoles, the settings, the migrated database.

Its own module, so that the command groups (``cli``, ``intake.cli``,
``replay.cli``) import it rather than each other.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

from toex_stream.adapters.settings import Settings, load_settings
from toex_stream.domain.access import AccessDenied, Permission, User, require
from toex_stream.domain.errors import ToexError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from toex_stream.adapters.sql.audit import SqlAuditTrail
    from toex_stream.adapters.sql.users import Users
    from toex_stream.ports.alerts import FeedbackPublisher

console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def cli_settings() -> Settings:
    """The settings from the environment, or an error saying which one is wrong."""
    try:
        return load_settings()
    except ValidationError as exc:
        raise ToexError(f"invalid settings: {exc}") from None


def cli_database() -> Engine:
    """The migrated database of the settings (imported lazily: the command line starts faster)."""
    from toex_stream.adapters.sql.store import build_engine, migrate

    settings = cli_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    migrate(engine)
    return engine


def cli_audit_trail(engine: Engine | None = None) -> SqlAuditTrail:
    """The s.62 log of the settings' database, its head kept where the settings say."""
    from toex_stream.adapters.sql.audit import SqlAuditTrail

    return SqlAuditTrail(engine if engine is not None else cli_database(), cli_settings().audit_head_path)


# -- who acts ------------------------------------------------------------------------------

SIGN_IN = "sign in with `toex-stream login NAME`"


class NotSignedIn(AccessDenied):
    """Nobody this command can act for: no live session, and an OS account no admin mapped."""


def session_file(settings: Settings) -> Path:
    """Where this account's session token is kept: TOEX_SESSION_FILE, or ~/.config/toex-stream/session."""
    return settings.session_file or Path.home() / ".config" / "toex-stream" / "session"


def users_store(engine: Engine | None = None) -> Users:
    from toex_stream.adapters.sql.users import Users

    return Users(engine or cli_database())


def read_session_token(path: Path) -> str | None:
    """The token in the session file; None when there is none. A file others can read is refused, not used."""
    try:
        if path.stat().st_mode & 0o077:
            raise NotSignedIn(f"the session file {path} can be read by others, so it is not used: delete it and "
                              f"{SIGN_IN} again")
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise NotSignedIn(f"cannot read the session file {path} ({exc.strerror}): {SIGN_IN}") from None
    return token or None


def os_account() -> str | None:
    """The operating system's login name of whoever runs the command, if the system can tell."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a container: no OS account to map
        return None


def signed_in_user(users: Users) -> tuple[User, str]:
    """Who acts, and how they were recognised: the session file's live token, else a mapped OS account.

    A session that has expired is not used; then an OS account mapped by an
    admin acts; otherwise :class:`NotSignedIn`. A disabled user is refused
    even with a live session.
    """
    path = session_file(cli_settings())
    token = read_session_token(path)
    expired = False
    if token is not None:
        user = users.session_user(token)
        if user is not None:
            if user.disabled:
                raise AccessDenied(f"{user.name} is disabled and may do nothing; an admin can add a new user")
            return user, "session"
        expired = True
    account = os_account()
    mapped = users.by_os_account(account) if account else None
    if mapped is not None:
        if mapped.disabled:
            raise AccessDenied(f"{mapped.name} (mapped to this OS account) is disabled and may do nothing")
        return mapped, "os-account"
    if expired:
        raise NotSignedIn(f"your session has expired or ended: {SIGN_IN} again")
    raise NotSignedIn(f"nobody is signed in: {SIGN_IN} (or an admin maps this OS account with "
                      "`toex-stream users map-os`)")


def acting_user(permission: Permission, region: str | None = None, *, users: Users | None = None) -> User:
    """The signed-in user, when they may use ``permission`` (in ``region``); refused with how to fix it otherwise.

    Every command that reads or changes personal data or alerts calls this
    first; its name is who acted (``--analyst`` or ``--by`` no longer say).
    """
    user, _ = signed_in_user(users or users_store())
    return require(user, permission, region)


def new_session_file(path: Path, token: str) -> None:
    """Write a session token to a file only its owner can read (its folder made private if new)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    partial.replace(path)


def feedback_publisher(settings: Settings) -> FeedbackPublisher:
    """Publishes outcomes on toex.feedback and waits for Kafka; the producer is made on first use (ack needs none).

    The one publisher of closing outcomes for the command line and the dashboard."""
    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_io import durable_producer, produce_and_wait
    from toex_stream.domain import contract

    producer = None

    def publish(key: bytes, feedback: contract.Feedback) -> None:
        nonlocal producer
        if producer is None:
            producer = durable_producer(KafkaAccess.from_settings(settings), **{"message.timeout.ms": 30_000})
        produce_and_wait(producer, contract.TOPIC_FEEDBACK, key, feedback.model_dump_json().encode())

    return publish
