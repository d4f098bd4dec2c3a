"""The OpenAPI 3.1 document of the partner API, generated from the models the server validates and answers with.

Request, receipt and error schemas come from :mod:`toex_stream.domain.intake.api`;
the few rules that depend on the day (a date of birth is not in the future)
are written as patterns for the day the document is asked for, so a client
that follows the document is never refused for a reason it does not state.

>>> doc = openapi_document()
>>> doc["openapi"], sorted(doc["paths"])[:3], sorted(doc["paths"])[3]
('3.1.0', ['/healthz', '/v1/referrals', '/v1/referrals/{referral_id}'], '/v1/referrals/{referral_id}/amendments')
>>> "partner_id" in doc["components"]["schemas"]["ReferralSubmission"]["required"]
False
>>> import re; day = re.compile(birth_date_pattern(dt.date(2026, 3, 9)))
>>> [bool(day.match(d)) for d in ("1899-12-31", "1900-01-01", "2026-03-09", "2026-03-10", "2026-04-01")]
[False, True, True, False, False]
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from typing import Any

from pydantic import BaseModel

from toex_stream.domain.contract import EARLIEST_BIRTH_YEAR
from toex_stream.domain.intake.api import (
    REFERRAL_ID_MAX,
    REFERRAL_ID_PATTERN,
    AmendmentSubmission,
    ErrorsBody,
    Health,
    ReceiptBody,
    ReferralSubmission,
)

REF = "#/components/schemas/{model}"
_ANY_DAY = "(0[1-9]|[12][0-9]|3[01])"
_ANY_MONTH = "(0[1-9]|1[0-2])"
# A UTC instant Python can hold: years 1000 to 9998 in any offset (year 1 at +01:00 is year 0 in UTC).
_DATETIME_YEARS = "^(1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"


def _alternatives(values: range, width: int) -> str:
    return "|".join(f"{value:0{width}d}" for value in values)


def birth_date_pattern(today: dt.date) -> str:
    """A pattern for the dates of birth the contract accepts on ``today``: from 1900 up to today."""
    parts = [f"({_alternatives(range(EARLIEST_BIRTH_YEAR, today.year), 4)})-{_ANY_MONTH}-{_ANY_DAY}"]
    if today.month > 1:
        parts.append(f"{today.year:04d}-({_alternatives(range(1, today.month), 2)})-{_ANY_DAY}")
    parts.append(f"{today.year:04d}-{today.month:02d}-({_alternatives(range(1, today.day + 1), 2)})")
    return "^(" + "|".join(parts) + ")$"


def _schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    return schema, schema.pop("$defs", {})


def _dated(schemas: dict[str, Any], today: dt.date) -> None:
    """Write today's limits into the schemas: dates of birth up to today, instants Python can hold in UTC."""
    person = schemas["Person"]["properties"]["date_of_birth"]
    for option in person["anyOf"]:
        if option.get("format") == "date":
            option["pattern"] = birth_date_pattern(today)
            option["description"] = f"From {EARLIEST_BIRTH_YEAR} to today."
    submitted = schemas["ReferralSubmission"]["properties"]["submitted_at"]
    submitted["pattern"] = _DATETIME_YEARS


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


def _errors(description: str, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json("Errors")}
    if retry:
        response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1},
                                               "description": "Seconds to wait."}}
    return response


@functools.cache
def _document(today: dt.date) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (ReferralSubmission, AmendmentSubmission, ReceiptBody, ErrorsBody, Health):
        schema, defs = _schema(model)
        schemas.update(defs)
        schemas[schema["title"]] = schema
    _dated(schemas, today)
    corrected = schemas["Amendment"]["properties"]["referral"]
    schemas["Amendment"]["properties"]["referral"] = {"$ref": REF.format(model="ReferralSubmission"),
                                                      "description": corrected["description"]}
    location = {"Location": {"required": True, "schema": {"type": "string"},
                             "description": "Where to ask for the referral's status."}}
    receipt = {"content": _json("Receipt"), "headers": location}
    referral_id = {"name": "referral_id", "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1, "maxLength": REFERRAL_ID_MAX,
                              "pattern": REFERRAL_ID_PATTERN}}
    status_link = {"links": {"referralStatus": {
        "operationId": "referralStatus", "parameters": {"referral_id": "$response.body#/referral_id"},
        "description": "The status of the referral just sent.",
    }}}
    common = {"401": {**_errors("No token, or one not valid or revoked."),
                      "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}},
              "429": _errors("Over your organisation's rate.", retry=True),
              "503": _errors("Kafka or the database is unavailable; nothing was kept.", retry=True)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "toex-stream partner intake", "version": "1",
                 "description": "Submit referrals and see their status. Every value is OFFICIAL-SENSITIVE."},
        "components": {"schemas": schemas,
                       "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
        "paths": {
            "/v1/referrals": {"post": {
                "operationId": "submitReferral",
                "requestBody": {"required": True, "content": _json("ReferralSubmission")},
                "responses": {
                    "202": {"description": "Received: Kafka has it.", **receipt, **status_link},
                    "200": {"description": "Sent before: the same receipt, nothing published again.", **receipt,
                            **status_link},
                    "403": _errors("The body names another partner."),
                    "409": _errors("A different referral was received with this referral_id: nothing changed."),
                    "413": _errors("The body is over the size limit."),
                    "415": _errors("Not application/json in UTF-8."),
                    "422": _errors("Not a valid referral: every field at fault, with what to change."),
                    **common,
                },
            }},
            "/v1/referrals/{referral_id}": {"get": {
                "operationId": "referralStatus",
                "parameters": [referral_id],
                "responses": {
                    "200": {"description": "Its status: no intelligence, only how far it has got.",
                            "content": _json("Receipt")},
                    "404": _errors("Your organisation has sent no referral with this id."),
                    **common,
                },
            }},
            "/v1/referrals/{referral_id}/amendments": {"post": {
                "operationId": "amendReferral",
                "description": "Correct a referral already received: the whole corrected referral and why. "
                               "It is published as the referral's next revision, which replaces the earlier "
                               "one's evidence; the correction and its reason are kept in the audit log.",
                "parameters": [referral_id],
                "requestBody": {"required": True, "content": _json("Amendment")},
                "responses": {
                    "202": {"description": "Amended: Kafka has the corrected referral.", **receipt},
                    "200": {"description": "The referral is already so: nothing published.", **receipt},
                    "403": _errors("The corrected referral names another partner."),
                    "404": _errors("Your organisation has sent no referral with this id."),
                    "409": _errors("The corrected referral has another referral_id than the path's."),
                    "413": _errors("The body is over the size limit."),
                    "415": _errors("Not application/json in UTF-8."),
                    "422": _errors("Not a valid amendment: every field at fault, with what to change."),
                    **common,
                },
            }},
            "/healthz": {"get": {
                "operationId": "health",
                "security": [],
                "responses": {"200": {"description": "The server is up.", "content": _json("Health")}},
            }},
        },
    }


def openapi_document(today: dt.date | None = None) -> dict[str, Any]:
    """The document served at ``/v1/openapi.json`` for ``today`` (built once a day)."""
    return copy.deepcopy(_document(today or dt.date.today()))
