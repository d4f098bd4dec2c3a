"""The intake's store: partners and their hashed tokens, and the receipts partners are shown.

A receipt row goes through ``pending`` (reserved before publishing) to
``received`` (Kafka acknowledged the write) to ``processed`` (the pipeline
resolved its subjects). A pending row is never shown; if publishing fails it
is deleted, so a failed submission leaves nothing behind.

>>> from toex_stream.adapters.settings import Settings
>>> from toex_stream.adapters.sql.store import build_engine, migrate
>>> engine = build_engine(Settings(database_url="sqlite://")); migrate(engine)
>>> store = IntakeStore(engine)
>>> partner, token = store.add_partner("Example Charity", partner_id="example")
>>> store.authenticate(token).partner_id, store.authenticate(token + "x")
('example', None)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from toex_stream.adapters.sql.audit import append
from toex_stream.adapters.sql.intake_models import AmendmentRow, PartnerRow, ReceiptRow
from toex_stream.domain.audit import AuditRecord, ChainHead
from toex_stream.domain.clock import utc_now
from toex_stream.domain.intake.errors import IntakeError

TOKEN_PREFIX = "toex_"
_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$|^[a-z0-9]$")


def hash_token(token: str) -> str:
    """sha256 of the token, hex: a 256-bit random token needs no slow hash (there is nothing to guess)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token: 32 random bytes, URL-safe, with a prefix that secret scanners recognise."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def slug(name: str) -> str:
    """A partner id made from an organisation's name.

    >>> slug("Salvation Army (West Midlands)")
    'salvation-army-west-midlands'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")


# A partner's token works for a year unless issued for another period; then it is rotated.
TOKEN_LIFETIME = dt.timedelta(days=365)
# last_used_at is written at most this often per partner (not a write per request).
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class Receipt:
    """What a partner sees of one referral: no intelligence, only how far it has got."""

    reference: str
    partner_id: str
    referral_id: str
    received_at: dt.datetime
    status: str
    matched: bool | None
    updated_at: dt.datetime
    # sha256 of the referral it received (None on receipts made before digests were kept); never shown.
    body_digest: str | None = None
    # How many amendments it has had; body_digest is then the latest's.
    revision: int = 0


def _partner(row: PartnerRow) -> Partner:
    return Partner(row.partner_id, row.name, row.created_at, row.revoked_at, row.expires_at, row.last_used_at)


def _receipt(row: ReceiptRow) -> Receipt:
    return Receipt(row.reference, row.partner_id, row.referral_id, row.received_at, row.status, row.matched,
                   row.updated_at, row.body_digest, row.revision or 0)


class IntakeStore:
    """Partners and receipts in the toex-stream database (SQLite or PostgreSQL). Calls block: run them in a thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- partners ---------------------------------------------------------------------------

    def add_partner(self, name: str, partner_id: str | None = None,
                    valid_for: dt.timedelta | None = TOKEN_LIFETIME) -> tuple[Partner, str]:
        """Register a partner; return it and its API token, which is shown once and never stored.

        The token works for ``valid_for`` (None: until revoked).
        """
        partner_id = partner_id or slug(name)
        if not _PARTNER_ID.match(partner_id):
            raise IntakeError(f"partner id {partner_id!r} must be 1 to 64 lower-case letters, digits and hyphens, "
                              "not starting or ending with a hyphen; pass --partner-id")
        token = new_token()
        now = utc_now()
        partner = Partner(partner_id, name, now, expires_at=None if valid_for is None else now + valid_for)
        try:
            with Session(self._engine) as session, session.begin():
                session.add(PartnerRow(partner_id=partner_id, name=name, token_hash=hash_token(token),
                                       created_at=partner.created_at, expires_at=partner.expires_at))
        except IntegrityError:
            raise IntakeError(f"partner {partner_id!r} exists already; revoke it or choose another --partner-id") \
                from None
        return partner, token

    def rotate_token(self, partner_id: str, valid_for: dt.timedelta | None = TOKEN_LIFETIME) -> tuple[Partner, str]:
        """A new token for a live partner (the old one stops at once); raises when there is no live partner."""
        token = new_token()
        now = utc_now()
        with Session(self._engine) as session, session.begin():
            row = session.get(PartnerRow, partner_id)
            if row is None or row.revoked_at is not None:
                raise IntakeError(f"no live partner {partner_id}; `toex-stream partners list` shows them")
            row.token_hash = hash_token(token)
            row.expires_at = None if valid_for is None else now + valid_for
            row.last_used_at = None
            partner = _partner(row)
        return partner, token

    def partners(self) -> list[Partner]:
        with Session(self._engine) as session:
            return [_partner(r) for r in session.scalars(select(PartnerRow).order_by(PartnerRow.partner_id))]

    def revoke_partner(self, partner_id: str) -> bool:
        """Revoke the partner's token at once; False when there is no such partner or it was revoked already."""
        with Session(self._engine) as session, session.begin():
            # Typed Result, but DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs)
            changed = cast("CursorResult[Any]", session.execute(
                update(PartnerRow).where(PartnerRow.partner_id == partner_id, PartnerRow.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            ))
            return bool(changed.rowcount)

    def authenticate(self, token: str) -> Partner | None:
        """The live partner whose token this is, or None (tokens are ASCII: a header of other bytes is no token)."""
        if not token.isascii():
            return None
        digest = hash_token(token)
        with Session(self._engine) as session:
            row = session.scalars(select(PartnerRow).where(PartnerRow.token_hash == digest)).first()
            # The lookup is by a hash of a 256-bit secret, so its timing reveals nothing useful; the
            # comparison is constant-time all the same, should the lookup ever become a prefix search.
            if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
                return None
            partner = _partner(row)
        now = utc_now()
        if partner.expired(now):
            return None
        if partner.last_used_at is None or now - partner.last_used_at >= LAST_USED_RESOLUTION:
            with Session(self._engine) as session, session.begin():
                session.execute(update(PartnerRow).where(PartnerRow.partner_id == partner.partner_id)
                                .values(last_used_at=now))
        return partner

    # -- receipts --------------------------------------------------------------------------

    def receipt(self, partner_id: str, referral_id: str, *, include_pending: bool = False) -> Receipt | None:
        """The partner's receipt for ``referral_id``; another partner's referral is never found."""
        with Session(self._engine) as session:
            row = session.scalars(select(ReceiptRow).where(
                ReceiptRow.partner_id == partner_id, ReceiptRow.referral_id == referral_id)).first()
            if row is None or (row.status == "pending" and not include_pending):
                return None
            return _receipt(row)

    def reserve(self, partner_id: str, referral_id: str, body_digest: str | None = None) -> tuple[Receipt, bool]:
        """The receipt for this referral: an existing one, or a new pending one. True when it was created here.

        The unique (partner_id, referral_id) constraint settles a race between two
        processes: the loser reads the winner's row.
        """
        now = utc_now()
        row = ReceiptRow(partner_id=partner_id, referral_id=referral_id, reference=new_reference(),
                         received_at=now, status="pending", matched=None, updated_at=now, body_digest=body_digest)
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
                session.flush()
                created = _receipt(row)
            return created, True
        except IntegrityError:
            existing = self.receipt(partner_id, referral_id, include_pending=True)
            if existing is None:  # deleted between the two statements: a failed publish; try once more
                return self.reserve(partner_id, referral_id, body_digest)
            return existing, False

    def digests(self, receipt: Receipt) -> set[str]:
        """The digest of every revision the receipt's referral has had (the first one's and each amendment's)."""
        with Session(self._engine) as session:
            row = session.scalars(select(ReceiptRow).where(ReceiptRow.reference == receipt.reference)).one()
            amended = session.scalars(select(AmendmentRow.body_digest).where(AmendmentRow.receipt_id == row.id))
            return {d for d in (row.body_digest, *amended) if d is not None}

    def amend(self, receipt: Receipt, revision: int, body_digest: str,
              record: AuditRecord) -> tuple[Receipt, ChainHead | None]:
        """Record amendment ``revision`` of the receipt's referral, published already, with its s.62 entry.

        The amendment, the receipt's new digest and the log entry commit together
        (the caller keeps the returned chain head outside the database);
        a second call for the same revision (a partner retrying after an error
        that followed the publication) changes nothing. The first body's digest is
        kept as revision 0, so that a late resubmission of it is still a 200.
        """
        with Session(self._engine) as session, session.begin():
            row = session.scalars(select(ReceiptRow).where(ReceiptRow.reference == receipt.reference)
                                  .with_for_update()).one()
            if row.revision >= revision:
                return _receipt(row), None
            now = utc_now()
            if row.revision == 0 and row.body_digest is not None:
                session.add(AmendmentRow(receipt_id=row.id, revision=0, body_digest=row.body_digest, amended_at=now))
            session.add(AmendmentRow(receipt_id=row.id, revision=revision, body_digest=body_digest, amended_at=now))
            row.revision, row.body_digest, row.updated_at = revision, body_digest, now
            # Processed once the pipeline has this revision, which may have been before this commit.
            if (row.processed_revision if row.processed_revision is not None else -1) < revision:
                row.status, row.matched = "received", None
            head = append(session, [record])
            return _receipt(row), head

    def confirm(self, receipt: Receipt) -> Receipt:
        """Kafka has the referral: pending becomes received (never overwriting processed)."""
        with Session(self._engine) as session, session.begin():
            session.execute(update(ReceiptRow).where(
                ReceiptRow.reference == receipt.reference, ReceiptRow.status == "pending",
            ).values(status="received", updated_at=utc_now()))
        confirmed = self.receipt(receipt.partner_id, receipt.referral_id)
        if confirmed is None:
            raise IntakeError(f"receipt {receipt.reference} vanished while it was confirmed")
        return confirmed

    def release(self, receipt: Receipt) -> None:
        """Publishing failed: forget the pending receipt, so that nothing is stored half-way."""
        with Session(self._engine) as session, session.begin():
            session.execute(delete(ReceiptRow).where(
                ReceiptRow.reference == receipt.reference, ReceiptRow.status == "pending"))

    def record_outcome(self, partner_id: str, referral_id: str, *, matched: bool, revision: int = 0) -> bool:
        """The pipeline has resolved the referral's subjects; False when no receipt exists (sent another way).

        A pending receipt is processed too: the worker can be faster than the
        intake's own confirmation.
        """
        return self.record_outcomes([(partner_id, referral_id, matched, revision)]) == 1

    def record_outcomes(self, outcomes: Sequence[tuple[str, str, bool, int]]) -> int:
        """:meth:`record_outcome` for a batch of ``(partner_id, referral_id, matched, revision)``, in one transaction.

        The receipt is processed once its latest revision is: an earlier
        revision's outcome (a late or replayed one) is kept as processed_revision
        but changes neither status nor matched. Returns how many receipts were updated.
        """
        updated = 0
        with Session(self._engine) as session, session.begin():
            now = utc_now()
            # SQLite's two-argument max() is PostgreSQL's greatest().
            greatest = func.max if self._engine.dialect.name == "sqlite" else func.greatest
            for partner_id, referral_id, matched, revision in outcomes:
                current = ReceiptRow.revision <= revision
                # Typed Result, but DML without RETURNING gives a CursorResult, which has rowcount (SQLAlchemy docs)
                changed = cast("CursorResult[Any]", session.execute(update(ReceiptRow).where(
                    ReceiptRow.partner_id == partner_id, ReceiptRow.referral_id == referral_id,
                ).values(status=case((current, "processed"), else_=ReceiptRow.status),
                         matched=case((current, matched), else_=ReceiptRow.matched),
                         processed_revision=greatest(func.coalesce(ReceiptRow.processed_revision, -1), revision),
                         updated_at=now)))
                updated += changed.rowcount
        return updated


def new_reference() -> str:
    """A receipt reference a person can read out over the phone: no 0/O or 1/I.

    >>> len(new_reference()), new_reference().startswith("TXR-")
    (18, True)
    """
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    body = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"TXR-{body[:4]}-{body[4:8]}-{body[8:]}"
