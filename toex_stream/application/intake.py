"""The intake's core, free of HTTP: accept a partner's referral once, publish it, give its receipt and status."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import weakref
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from toex_stream.adapters.sql.intake_store import IntakeStore, Partner, Receipt
from toex_stream.domain.audit import AuditRecord
from toex_stream.domain.contract import Referral, event_key
from toex_stream.domain.intake.errors import IntakeError
from toex_stream.domain.intake.limits import RateLimiter
from toex_stream.domain.intake.rules import Problem, Refused, validate_amendment, validate_submission
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.intake import ReferralPublisher

log = logging.getLogger(__name__)
# One line per receipt answer that told a partner whether a subject matched (a disclosure): where, not what.
disclosures = logging.getLogger("toex_stream.disclosure")


class Unavailable(IntakeError):
    """A dependency (the database or Kafka) failed: the partner should retry after ``retry_after`` seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"{what} is unavailable; nothing was stored, try again in {retry_after} s")
        self.what = what
        self.retry_after = retry_after


class Intake:
    """Everything the API and the form share: authentication, the rate limit, submission and status."""

    def __init__(self, store: IntakeStore, publisher: ReferralPublisher, limiter: RateLimiter,
                 retry_after_s: int = 30, *, disclose_matches: bool = False,
                 audit: AuditTrail | None = None) -> None:
        self.store = store
        # The s.62 log: each referral collected, and each receipt answer that disclosed a match.
        self.audit = audit
        # Off by default: a receipt that said whether a subject matched would answer "do the police know
        # this person?" to anyone holding a partner token (and each probe would file a provisional nominal).
        self.disclose_matches = disclose_matches
        self.publisher = publisher
        self.limiter = limiter
        self.retry_after_s = retry_after_s
        # One lock per partner:referral in this process, so that two identical submissions
        # arriving together publish once. Across processes the unique constraint on the receipt
        # decides: the second process finds the first's pending row and republishes only if it is
        # still pending when it looks, which at worst puts the same key on the topic twice
        # (the pipeline is idempotent per key); it never gives two references.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def _db(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except SQLAlchemyError as exc:
            log.error("intake database call %s failed: %s", getattr(call, "__name__", call), type(exc).__name__)
            raise Unavailable("the database", self.retry_after_s) from None

    async def authenticate(self, token: str) -> Partner | None:
        if not token:
            return None
        return await self._db(self.store.authenticate, token)

    async def submit(self, partner: Partner, body: dict[str, Any]) -> tuple[Receipt, bool]:
        """Validate, publish once, and return the receipt; True when this call published it.

        Raises :class:`~toex_stream.domain.intake.rules.Refused` for a bad referral and
        :class:`Unavailable` when Kafka or the database fails (then nothing is kept).
        """
        referral = validate_submission(body, partner.partner_id)
        key = event_key(referral)  # partner_id:referral_id, the partner from the token
        digest = hashlib.sha256(referral.model_dump_json().encode()).hexdigest()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            receipt, created = await self._db(self.store.reserve, partner.partner_id, referral.referral_id, digest)
            if not created and receipt.body_digest not in (None, digest) \
                    and digest not in await self._db(self.store.digests, receipt):
                # Silently keeping the first body would drop the partner's change without a word.
                raise Refused([Problem("referral_id", f"a different referral was received with this referral_id "
                                       f"(receipt {receipt.reference}); it was not changed. To correct it, "
                                       "send the whole corrected referral with a reason to "
                                       "POST /v1/referrals/{referral_id}/amendments; otherwise send a new "
                                       "referral with its own referral_id")], status=409)
            if not created and receipt.status != "pending":
                return receipt, False  # a resubmission: the same receipt, nothing published
            return await self._publish(referral, receipt), True

    async def amend(self, partner: Partner, referral_id: str, body: dict[str, Any]) -> tuple[Receipt, bool]:
        """Correct a referral already received: publish the whole corrected referral as its next revision.

        ``body`` is an :class:`~toex_stream.domain.intake.api.AmendmentSubmission`.
        Returns the receipt and True when this call published an amendment
        (False: the body is the referral as it stands, nothing to do). Raises
        :class:`Refused`: 404 when the partner sent no such referral, 422 for a bad
        amendment, 409 for a ``referral_id`` in the body other than the path's.

        Kafka has the revision before the database records it, with its s.62
        entry ("alteration", the partner's reason) in the same transaction: a
        partner retrying after a failure publishes the same revision again, which
        the pipeline takes once.
        """
        amendment = validate_amendment(body)
        try:
            referral = validate_submission(amendment.referral, partner.partner_id)
        except Refused as refused:  # its places are within the amendment's "referral"
            raise Refused([Problem(f"referral.{p.loc}" if p.loc else "referral", p.message)
                           for p in refused.problems], refused.status) from None
        if referral.referral_id != referral_id:
            raise Refused([Problem("referral.referral_id", "the amended referral must keep its referral_id "
                                                           f"({referral_id!r}, as in the path)")], status=409)
        key = event_key(referral)
        digest = hashlib.sha256(referral.model_dump_json().encode()).hexdigest()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            receipt = await self._db(self.store.receipt, partner.partner_id, referral_id)
            if receipt is None:
                raise Refused([Problem("referral_id", "your organisation has sent no referral with this id; "
                                                      "send it to POST /v1/referrals")], status=404)
            if receipt.body_digest == digest:
                return receipt, False  # the referral as it stands: a retried amendment, or no change
            revision = receipt.revision + 1
            corrected = referral.model_copy(update={"revision": revision})
            try:
                await self.publisher.publish(corrected)
            except IntakeError as exc:
                log.warning("amendment %d of referral %s not published: %s", revision, receipt.reference, exc)
                raise Unavailable("Kafka", self.retry_after_s) from None
            record = AuditRecord(
                "alteration", "referral.amended", f"partner:{receipt.partner_id}", receipt.reference,
                f"revision {revision} with {len(referral.subjects)} subject(s) published to toex.referrals; "
                f"it replaces revision {receipt.revision}", amendment.reason.strip())
            amended, head = await self._db(self.store.amend, receipt, revision, digest, record)
            if self.audit is not None:
                self.audit.published(head)
            return amended, True

    async def _publish(self, referral: Referral, receipt: Receipt) -> Receipt:
        try:
            await self.publisher.publish(referral)
        except IntakeError as exc:
            log.warning("referral %s not published: %s", receipt.reference, exc)
            await self._db(self.store.release, receipt)
            raise Unavailable("Kafka", self.retry_after_s) from None
        # Should the database fail here, Kafka has the referral but the receipt stays pending (never
        # shown) and the partner gets a 503: resubmitting publishes the same key again and confirms.
        confirmed = await self._db(self.store.confirm, receipt)
        await self._record(AuditRecord(
            "collection", "referral.received", f"partner:{receipt.partner_id}", receipt.reference,
            f"referral with {len(referral.subjects)} subject(s) published to toex.referrals"))
        return confirmed

    async def _record(self, record: AuditRecord) -> None:
        if self.audit is not None:
            await self._db(self.audit.record, record)

    async def status(self, partner: Partner, referral_id: str) -> Receipt | None:
        return await self._db(self.store.receipt, partner.partner_id, referral_id)

    async def answer(self, receipt: Receipt) -> Receipt:
        """What the partner is shown of ``receipt``: whether a subject matched only where the deployment discloses it.

        Each answer that carries it is logged as a disclosure (the receipt and
        the partner, never the answer or the people).
        """
        if receipt.matched is None:
            return receipt
        if not self.disclose_matches:
            return dataclasses.replace(receipt, matched=None)
        disclosures.info("disclosure: receipt %s told partner %s whether its subjects matched known people",
                         receipt.reference, receipt.partner_id)
        await self._record(AuditRecord(
            "disclosure", "receipt.matched", f"partner:{receipt.partner_id}", receipt.reference,
            "the receipt told the partner whether its subjects matched known people",
            "TOEX_INTAKE_DISCLOSE_MATCHES is on"))
        return receipt
