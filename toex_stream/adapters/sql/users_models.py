"""The users' tables: people who act (role, scope, how they sign in) and their sign-in sessions.

They share :data:`toex_stream.adapters.sql.models.Base`'s metadata, so that the
migration ``0012_users`` and these classes are compared like the other tables.

>>> sorted(t for t in Base.metadata.tables if t in ("users", "user_sessions"))
['user_sessions', 'users']
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from toex_stream.adapters.sql.models import Base, UtcDateTime

__all__ = ["Base", "SessionRow", "UserRow"]


class UserRow(Base):
    """A user: a name, one role, the regions they work in (or ``national``), and how they may sign in.

    ``password_hash`` is an argon2 hash (None: the user signs in only through
    ``os_account``, the operating-system account an admin mapped to them).
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('analyst', 'supervisor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    os_account: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Wrong passwords in a row; at five the account is locked until locked_until.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class SessionRow(Base):
    """A sign-in session: the sha256 of its token (the token itself is only in the user's session file)."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
