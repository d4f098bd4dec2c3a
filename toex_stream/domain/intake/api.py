"""The partner API's wire models: what the server accepts and answers, and the OpenAPI document's source.

The server validates submissions with :class:`ReferralSubmission` and writes
receipts and errors through :class:`ReceiptBody` and :class:`ErrorsBody`; the
OpenAPI document (:mod:`toex_stream.domain.intake.openapi`) is generated from these
same classes, so the document cannot say one thing while the server does
another. Rules that pydantic does not check by itself (the NRM duty-to-notify
subset) are also written into the schema, as JSON Schema conditions.

>>> ReferralSubmission.model_json_schema()["properties"]["partner_id"]["anyOf"][1]
{'type': 'null'}
>>> usable_referral_id("REF-2026-0001"), usable_referral_id("a" + chr(0) + "b"), usable_referral_id("x" * 129)
(True, False, False)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from toex_stream.domain.contract import NOT_SPACE, Id, Referral, not_a_boolean

# Person fields that identify someone: forbidden for the anonymous duty-to-notify subset.
IDENTIFYING_FIELDS = ("given_name", "family_name", "aliases", "date_of_birth", "phones", "emails", "addresses")
# The consent is the potential victim's (and a witness's or anyone else's about themselves). A
# suspect's details are not theirs to withhold: the duty-to-notify form asks for what is known of
# the exploiters, so a suspect keeps them. (A deliberate narrowing of "subjects must carry no names".)
ROLES_UNDER_CONSENT = ("potential_victim", "witness", "other", "unknown")

# A referral id goes into a URL (its status) and a database (PostgreSQL refuses NUL in text), so the
# intake is stricter than the contract: no control characters, besides the contract's own rule (no
# leading or trailing white space). The same pattern is in the document.
# Written out rather than with \s, whose meaning differs between Python, Rust (pydantic) and ECMA regexes.
_NOT_ALLOWED = r"\x00-\x1f\x7f-\x9f"
_NOT_AT_ENDS = _NOT_ALLOWED + r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
REFERRAL_ID_PATTERN = f"^[^{_NOT_AT_ENDS}]([^{_NOT_ALLOWED}]*[^{_NOT_AT_ENDS}])?$"
_REFERRAL_ID = re.compile(REFERRAL_ID_PATTERN)
REFERRAL_ID_MAX = 128
ReferralId = Annotated[str, StringConstraints(min_length=1, max_length=REFERRAL_ID_MAX, pattern=REFERRAL_ID_PATTERN)]


def usable_referral_id(referral_id: str) -> bool:
    """Whether an id is one the intake accepts: 1 to 128 characters, no control characters, trimmed."""
    return len(referral_id) <= REFERRAL_ID_MAX and _REFERRAL_ID.match(referral_id) is not None


def _nrm_condition() -> dict[str, Any]:
    """The duty-to-notify rule as JSON Schema: without consent, an adult's identifying fields stay empty."""
    empty: dict[str, Any] = {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 0},
                                       {"type": "array", "maxItems": 0}]}
    return {
        "if": {"required": ["consent_to_share", "subject_is_child"],
               "properties": {"consent_to_share": {"const": False}, "subject_is_child": {"const": False}}},
        "then": {"properties": {"subjects": {"items": {
            "if": {"properties": {"role": {"enum": list(ROLES_UNDER_CONSENT)}}},
            "then": {"properties": {name: empty for name in IDENTIFYING_FIELDS}},
        }}}},
    }


class ReferralSubmission(Referral):
    """A referral as a partner sends it (contract v1, ``toex.referrals``).

    An adult (``subject_is_child`` false) who has not consented
    (``consent_to_share`` false) may be referred only anonymously, as a duty to
    notify: subjects other than suspects then carry no names, aliases, dates of
    birth, phones, emails or addresses.
    """

    model_config = ConfigDict(title="ReferralSubmission", json_schema_extra=lambda schema: schema.update(
        {"allOf": [_nrm_condition()]}))

    referral_id: ReferralId = Field(
        description="Your id for the referral: 1 to 128 characters, no control characters, no white space at "
                    "either end. Ask for its status with it.")
    partner_id: Id | None = Field(  # type: ignore[assignment]  # optional here, filled from the token
        default=None, description="Optional: taken from your API token. A different value is refused (403).")
    revision: Annotated[Literal[0], BeforeValidator(not_a_boolean)] = Field(  # the intake numbers amendments
        default=0, description="Leave it out: a correction is an amendment, sent to "
                               "POST /v1/referrals/{referral_id}/amendments, which numbers it.")


class AmendmentSubmission(BaseModel):
    """A correction to a referral already received: the whole referral as it should be, and why."""

    model_config = ConfigDict(title="Amendment", extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NOT_SPACE)] = Field(
        description="Why the referral is corrected, not blank (kept in the audit log with the correction).")
    referral: dict[str, Any] = Field(
        description="The corrected referral, whole (a ReferralSubmission with the same referral_id): it "
                    "replaces the earlier one.")


class ReceiptBody(BaseModel):
    """What a partner is told about one referral: no intelligence, only how far it has got."""

    model_config = ConfigDict(title="Receipt", extra="forbid")

    reference: str = Field(description="Quote it in any contact about the referral.")
    referral_id: str
    received_at: dt.datetime
    status: Literal["received", "processed"]
    matched: bool | None = Field(description="null unless the deployment discloses matching to partners "
                                 "(TOEX_INTAKE_DISCLOSE_MATCHES); then, once processed, whether any subject "
                                 "matched a known person.")
    updated_at: dt.datetime
    revision: int = Field(default=0, description="How many amendments the referral has had (0: none).")


class ErrorItem(BaseModel):
    """One reason a request was refused."""

    model_config = ConfigDict(title="Error", extra="forbid")

    loc: str = Field(description="Dotted field path, e.g. subjects.0.date_of_birth; empty for the whole body.")
    message: str = Field(description="What is wrong and what to change.")


class ErrorsBody(BaseModel):
    """Every reason a request was refused."""

    model_config = ConfigDict(title="Errors", extra="forbid")

    errors: Annotated[list[ErrorItem], Field(min_length=1)]


class Health(BaseModel):
    """``/healthz``: the process serves; ``ready`` once a worker can match (it has read the nominals)."""

    model_config = ConfigDict(title="Health", extra="forbid")

    status: Literal["ok"] = "ok"
    ready: bool
