"""The intake's tables: partners (hashed API tokens) and one receipt per referral received.

They share :data:`toex_stream.adapters.sql.models.Base`'s metadata, so that the
migration ``0005_intake`` and these classes are compared like the other tables.

>>> sorted(t for t in Base.metadata.tables if t in ("partners", "referral_receipts"))
['partners', 'referral_receipts']
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from toex_stream.adapters.sql.models import Base, UtcDateTime

__all__ = ["AmendmentRow", "Base", "PartnerRow", "ReceiptRow"]


class PartnerRow(Base):
    """A partner organisation and the sha256 of its API token (the token itself is never stored)."""

    __tablename__ = "partners"

    partner_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When the token stops working (None: a token issued before tokens expired, until it is rotated).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When the token last let a request in (to the minute: recorded at most once a minute).
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ReceiptRow(Base):
    """What a partner is told about one referral: its reference, when it arrived, how far it has got."""

    __tablename__ = "referral_receipts"
    __table_args__ = (
        UniqueConstraint("partner_id", "referral_id"),
        CheckConstraint("status IN ('pending', 'received', 'processed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(128), ForeignKey("partners.partner_id"))
    referral_id: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # pending: reserved before publishing, not yet acknowledged by Kafka (never shown to a partner);
    # received: on toex.referrals; processed: the pipeline has resolved its subjects.
    status: Mapped[str] = mapped_column(String(16))
    # Null until processed; then whether any subject matched a known nominal.
    matched: Mapped[bool | None] = mapped_column(Boolean)
    # sha256 of the referral as received (its contract JSON): a resubmission must carry the same.
    body_digest: Mapped[str | None] = mapped_column(String(64))
    # Its last change: the retention run deletes receipts unchanged for the receipts' period.
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    # How many amendments it has had; body_digest is the latest revision's.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The latest revision the pipeline has processed (None: none yet); processed means this >= revision.
    processed_revision: Mapped[int | None] = mapped_column(Integer)


class AmendmentRow(Base):
    """One correction of a received referral: which revision, the digest of its body, when.

    Why it was corrected is in the s.62 log, written in the same transaction.
    Deleted with its receipt.
    """

    __tablename__ = "referral_amendments"
    __table_args__ = (UniqueConstraint("receipt_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("referral_receipts.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    body_digest: Mapped[str] = mapped_column(String(64))
    amended_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
