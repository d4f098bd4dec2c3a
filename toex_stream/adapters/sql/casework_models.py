"""The regional teams' workspace tables (migration 0018): what each user last saw of an alert, and comments.

>>> sorted(t for t in Base.metadata.tables if t.startswith("alert_"))
['alert_comments', 'alert_views']
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from toex_stream.adapters.sql.models import Base, UtcDateTime

__all__ = ["AlertCommentRow", "AlertViewRow"]


class AlertViewRow(Base):
    """A user's look at an alert: the reason they gave the first time, and how big the alert was when they
    last looked (so the queue can say how it grew since)."""

    __tablename__ = "alert_views"

    user_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    version_seen: Mapped[int] = mapped_column(Integer)
    events_seen: Mapped[int] = mapped_column(Integer)
    members_seen: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AlertCommentRow(Base):
    """A comment on an alert by a user of its region (no personal data, as the form says)."""

    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(128), index=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(String(2000))
