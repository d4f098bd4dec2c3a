"""Users, their passwords (argon2 hashes) and their sign-in sessions, kept in the database.

A password is kept only as an argon2 hash; a session token only as its
sha256 (the token itself is in the user's session file alone). Five wrong
passwords in a row lock the account for fifteen minutes
(:func:`toex_stream.domain.access.after_failed_sign_in`). A disabled user
keeps their row (the audit names them) but loses every session and may
not sign in again.

>>> import datetime as dt
>>> from sqlalchemy import create_engine
>>> from toex_stream.adapters.sql.models import Base
>>> engine = create_engine("sqlite://"); Base.metadata.create_all(engine)
>>> users = Users(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
>>> at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
>>> users.add("admin-1", "admin", frozenset({"national"}), password="a long pass phrase", at=at).role
'admin'
>>> token = users.sign_in("admin-1", "a long pass phrase", valid_for=dt.timedelta(hours=8), at=at)
>>> users.session_user(token, at=at).name, users.session_user(token, at=at + dt.timedelta(hours=9))
('admin-1', None)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from toex_stream.adapters.sql.users_models import SessionRow, UserRow
from toex_stream.domain.access import (
    LOCKOUT,
    MAX_FAILED_SIGN_INS,
    AccessError,
    Role,
    User,
    after_failed_sign_in,
    check_name,
    check_password,
    describe_scope,
)
from toex_stream.domain.clock import utc_now
from toex_stream.domain.errors import ToexError

__all__ = ["PasswordHasher", "SignInRefused", "StoredUser", "UserExists", "Users", "describe", "token_hash"]

TOKEN_PREFIX = "toexs_"
_WRONG = (f"wrong user name or password (or the user has no password); after {MAX_FAILED_SIGN_INS} wrong "
          f"passwords in a row an account is locked for {LOCKOUT.seconds // 60} minutes")


class UserExists(AccessError):
    """A name, or an OS account, already taken by another user."""


class SignInRefused(ToexError):
    """A sign-in that did not succeed; the message never says whether the name or the password was wrong."""


@dataclass(frozen=True)
class StoredUser:
    """A user as the admin sees them: who, how they sign in, and whether they may."""

    user: User
    has_password: bool
    os_account: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None


def token_hash(token: str) -> str:
    """The sha256 a session token is kept as."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: UserRow) -> User:
    return User(name=row.name, role=row.role, scopes=frozenset(row.scopes),  # type: ignore[arg-type]  # checked by the table
                disabled=row.disabled_at is not None)


def _stored(row: UserRow) -> StoredUser:
    return StoredUser(_user(row), row.password_hash is not None, row.os_account, row.created_at, row.disabled_at,
                      row.locked_until)


class Users:
    """The users store. ``hasher`` is argon2's own defaults unless a test wants it faster."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        # Verified when a name is unknown, so that a wrong name takes as long as a wrong password.
        self._decoy = self._hasher.hash(secrets.token_hex(16))

    # -- people ---------------------------------------------------------------------------

    def count(self) -> int:
        with Session(self._engine) as session:
            return session.scalar(select(func.count()).select_from(UserRow)) or 0

    def add(self, name: str, role: Role, scopes: Iterable[str], *, password: str | None = None,
            os_account: str | None = None, first: bool = False, at: dt.datetime | None = None) -> User:
        """Add a user (a password, an OS account, or both, to sign in with); ``first``: only if nobody exists yet.

        ``first`` is the bootstrap: the count and the insert are one transaction.
        """
        name = check_name(name)
        if password is None and os_account is None:
            raise AccessError(f"{name} needs a password or an OS account to sign in with")
        if password is not None:
            check_password(password)
        row = UserRow(name=name, role=role, scopes=sorted(scopes), os_account=os_account or None,
                      password_hash=self._hasher.hash(password) if password is not None else None,
                      created_at=at or utc_now(), failed_sign_ins=0)
        user = _user(row)  # the row expires when its transaction commits
        try:
            with Session(self._engine) as session, session.begin():
                if first and session.scalar(select(func.count()).select_from(UserRow)):
                    raise AccessError("users exist already: sign in as an admin (`toex-stream login NAME`) to add one")
                session.add(row)
        except IntegrityError:
            raise UserExists(f"the user name {name}, or that OS account, is taken already; "
                             "`toex-stream users list` shows who has them") from None
        return user

    def get(self, name: str) -> User | None:
        with Session(self._engine) as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name.strip().lower()))
            return _user(row) if row is not None else None

    def all(self) -> list[StoredUser]:
        with Session(self._engine) as session:
            return [_stored(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def disable(self, name: str, at: dt.datetime | None = None) -> bool:
        """Disable a user and end their sessions; False when there is no such user (or they were already)."""
        with Session(self._engine) as session, session.begin():
            row = session.scalar(select(UserRow).where(UserRow.name == name.strip().lower()))
            if row is None or row.disabled_at is not None:
                return False
            others = session.scalar(select(func.count()).select_from(UserRow).where(
                UserRow.role == "admin", UserRow.disabled_at.is_(None), UserRow.id != row.id))
            if row.role == "admin" and not others:
                raise AccessError(f"{row.name} is the last admin: add another admin before disabling this one")
            row.disabled_at = at or utc_now()
            session.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
        return True

    def map_os_account(self, os_account: str, name: str) -> User:
        """Let ``os_account`` (the operating system's login name) act as ``name`` without a password."""
        account = os_account.strip()
        if not account:
            raise AccessError("give the OS account's login name, as `whoami` prints it")
        try:
            with Session(self._engine) as session, session.begin():
                row = session.scalar(select(UserRow).where(UserRow.name == name.strip().lower()))
                if row is None or row.disabled_at is not None:
                    raise AccessError(f"no active user {name}; `toex-stream users list` shows them")
                row.os_account = account
                return _user(row)
        except IntegrityError:
            raise UserExists("that OS account is mapped to another user already; "
                             "`toex-stream users list` shows which") from None

    def by_os_account(self, os_account: str) -> User | None:
        with Session(self._engine) as session:
            row = session.scalar(select(UserRow).where(UserRow.os_account == os_account))
            return _user(row) if row is not None else None

    # -- signing in ------------------------------------------------------------------------

    def sign_in(self, name: str, password: str, valid_for: dt.timedelta, at: dt.datetime | None = None) -> str:
        """A new session token for ``name`` when ``password`` is theirs; :class:`SignInRefused` otherwise.

        Only the token's sha256 is kept. A wrong password counts towards the lock-out.
        """
        now = at or utc_now()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        refusal: str | None = None
        with Session(self._engine) as session, session.begin():
            row = session.scalar(select(UserRow).where(UserRow.name == name.strip().lower()).with_for_update())
            if row is None or row.password_hash is None:
                self._verify(self._decoy, password)
                refusal = _WRONG
            elif row.locked_until is not None and row.locked_until > now:
                refusal = (f"{row.name} is locked after repeated wrong passwords until {row.locked_until:%H:%M} UTC; "
                           "try again then, or ask an admin")
            elif not self._verify(row.password_hash, password):
                # Kept: the transaction commits the count, and the refusal is raised after it.
                row.failed_sign_ins, row.locked_until = after_failed_sign_in(row.failed_sign_ins, now)
                refusal = _WRONG
            elif row.disabled_at is not None:
                refusal = f"{row.name} is disabled; ask an admin"
            else:
                row.failed_sign_ins, row.locked_until = 0, None
                if self._hasher.check_needs_rehash(row.password_hash):
                    row.password_hash = self._hasher.hash(password)
                session.add(SessionRow(token_hash=token_hash(token), user_id=row.id, created_at=now,
                                       expires_at=now + valid_for))
                # Sessions that have expired are of no use to anyone: swept as new ones are made.
                session.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
        if refusal is not None:
            raise SignInRefused(refusal)
        return token

    def session_user(self, token: str, at: dt.datetime | None = None) -> User | None:
        """The user of a live session (disabled or not: the caller refuses a disabled one); None if none."""
        now = at or utc_now()
        with Session(self._engine) as session:
            row = session.scalar(select(UserRow).join(SessionRow, SessionRow.user_id == UserRow.id)
                                 .where(SessionRow.token_hash == token_hash(token), SessionRow.expires_at > now))
            return _user(row) if row is not None else None

    def session_expires_at(self, token: str) -> dt.datetime | None:
        with Session(self._engine) as session:
            return session.scalar(select(SessionRow.expires_at).where(SessionRow.token_hash == token_hash(token)))

    def sign_out(self, token: str) -> bool:
        """End a session; False when there was none."""
        with Session(self._engine) as session, session.begin():
            ended = session.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))
            # Typed Result, but DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs)
            return bool(ended.rowcount)  # type: ignore[attr-defined]

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def describe(user: User) -> str:
    """``analyst-7 (analyst, scope ERSOU)``: how a user is named in the command line's output."""
    return f"{user.name} ({user.role}, scope {describe_scope(user.scopes)})"
