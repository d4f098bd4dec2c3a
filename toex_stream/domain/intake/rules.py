"""What makes a partner's submission acceptable: the contract, the partner's identity and the NRM rules.

Shared by the API and the form, so that both accept and refuse exactly the same
referrals, with the same reasons. Every reason names a field path
(``subjects.0.date_of_birth``) and says what to change; none repeats the value
it refuses (values are personal data and reasons are logged).

National Referral Mechanism (Modern Slavery Act 2015, s.52 duty to notify):
an adult may enter the NRM only with their consent. Without it, a first
responder must still notify the Home Office, anonymously. So an adult
(``subject_is_child`` false) who has not consented (``consent_to_share``
false) may be referred only through that anonymous subset: no names, aliases,
dates of birth, phones, emails or addresses of the people it protects. A child
needs no consent.

>>> problems = nrm_problems(Referral.model_validate_json(
...     '{"schema_version": 1, "referral_id": "R-1", "partner_id": "p1",'
...     ' "submitted_at": "2026-11-01T09:30:00+01:00", "exploitation_types": ["labour"],'
...     ' "subjects": [{"role": "potential_victim", "given_name": "Ana", "nationality": "RO"}],'
...     ' "urgency": "standard", "consent_to_share": false, "subject_is_child": false}'))
>>> [p.loc for p in problems]
['subjects.0.given_name']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from toex_stream.domain.contract import Referral
from toex_stream.domain.intake.api import (
    IDENTIFYING_FIELDS,
    ROLES_UNDER_CONSENT,
    AmendmentSubmission,
    ReferralSubmission,
)

M = TypeVar("M", bound=BaseModel)

__all__ = ["IDENTIFYING_FIELDS", "ROLES_UNDER_CONSENT", "Problem", "Refused", "nrm_problems", "problems_from",
           "validate_submission", "parse_json_body"]

NRM_REASON = (
    "an adult who has not consented (consent_to_share false, subject_is_child false) may be referred only "
    "anonymously, as a duty to notify: remove this, or record the person's consent"
)


@dataclass(frozen=True)
class Problem:
    """One reason a submission was refused: where (a dotted field path, '' for the whole body) and why."""

    loc: str
    message: str


class Refused(Exception):
    """A submission that cannot be accepted, with every reason (status 422 unless said otherwise)."""

    def __init__(self, problems: list[Problem], status: int = 422) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems
        self.status = status


def nrm_problems(referral: Referral) -> list[Problem]:
    """The fields that break the duty-to-notify rule, one problem each (none for a child or with consent)."""
    return _nrm_problems(referral.model_dump())


def _nrm_problems(body: dict[str, Any]) -> list[Problem]:
    # On plain data, so that a body with other faults is told of these too, all at once.
    if body.get("subject_is_child") is not False or body.get("consent_to_share") is not False:
        return []
    subjects = body.get("subjects")
    problems = []
    for position, person in enumerate(subjects if isinstance(subjects, list) else []):
        if not isinstance(person, dict) or person.get("role") not in ROLES_UNDER_CONSENT:
            continue
        for field in IDENTIFYING_FIELDS:
            if person.get(field):
                problems.append(Problem(f"subjects.{position}.{field}", NRM_REASON))
    return problems


_FRIENDLIER = {
    "missing": "this field is required",
    "extra_forbidden": "this field is not part of a referral",
    "json_invalid": "the body is not valid JSON",
}


def problems_from(error: ValidationError) -> list[Problem]:
    """Pydantic's errors as field paths and messages, without the values they refused."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"])
        message = _FRIENDLIER.get(item["type"], item["msg"]).removeprefix("Value error, ")
        if item["type"] == "too_short" and "ctx" in item:
            wanted = item["ctx"].get("min_length", 1)
            message = f"needs at least {wanted} {'entry' if wanted == 1 else 'entries'}: choose or add one"
        if item["type"] == "json_invalid":
            loc = ""
        problems.append(Problem(loc, message[0].lower() + message[1:] if message else "invalid"))
    return problems


def validate_submission(body: dict[str, Any], partner_id: str) -> Referral:
    """The referral ``body`` describes, sent by ``partner_id``; raises :class:`Refused` with every reason.

    ``partner_id`` comes from the token, never from the body: a body that
    omits it has it filled in, one that names another partner is refused (403),
    since a partner must not write into another's referrals.
    """
    if not isinstance(body, dict):
        raise Refused([Problem("", "a referral must be a JSON object")])
    claimed = body.get("partner_id")
    if isinstance(claimed, str) and claimed != partner_id:
        raise Refused([Problem("partner_id", "this token belongs to another partner; leave partner_id out or "
                                             "send your own")], status=403)
    # The submission model is the one the OpenAPI document is generated from.
    submission = _parsed(ReferralSubmission, body, "a referral", also=_nrm_problems)
    referral = Referral.model_validate({**submission.model_dump(), "partner_id": partner_id})
    problems = nrm_problems(referral)
    if problems:
        raise Refused(problems)
    return referral


def validate_amendment(body: dict[str, Any]) -> AmendmentSubmission:
    """The amendment ``body`` describes (a reason and the whole corrected referral), or :class:`Refused`."""
    if not isinstance(body, dict):
        raise Refused([Problem("", "an amendment must be a JSON object")])
    return _parsed(AmendmentSubmission, body, "an amendment")


def _parsed(model: type[M], body: dict[str, Any], what: str,
            also: Callable[[dict[str, Any]], list[Problem]] = lambda _body: []) -> M:
    """``body`` as ``model``, or :class:`Refused` with every reason (and ``also``'s, when it is invalid).

    Through JSON, so that form input and API bodies are parsed the same way (dates from strings).
    """
    try:
        return model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        raise Refused(problems_from(exc) + also(body)) from None
    except (ValueError, RecursionError):  # nesting past Python's stack, from a form or a caller's dict
        raise Refused([Problem("", f"the body is nested too deeply to be {what}")]) from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`Refused` saying what is wrong with it (as a 422, like any field)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused([Problem("", "the body is not UTF-8 text")]) from None
    try:
        body = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise Refused(
            [Problem("", f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")]
        ) from None
    except (ValueError, RecursionError):  # NaN, a number of thousands of digits, nesting past Python's stack
        raise Refused([Problem("", "the body is not valid JSON (a non-finite or oversized number, or too deep)")]) \
            from None
    if not isinstance(body, dict):
        raise Refused([Problem("", "a referral must be a JSON object")])
    return body
