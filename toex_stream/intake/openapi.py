"""The OpenAPI 3.1 document of the partner API, its schemas generated from the pydantic contract.

>>> doc = openapi_document()
>>> doc["openapi"], sorted(doc["paths"])
('3.1.0', ['/v1/referrals', '/v1/referrals/{referral_id}'])
>>> "partner_id" in doc["components"]["schemas"]["ReferralSubmission"]["required"]
False
"""

from __future__ import annotations

import functools
from typing import Any

from toex_stream.contract import Referral

REF = "#/components/schemas/{model}"


def _errors_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["errors"],
        "properties": {"errors": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["loc", "message"],
            "properties": {
                "loc": {"type": "string", "description": "Dotted field path, e.g. subjects.0.date_of_birth; "
                                                         "empty for the whole body."},
                "message": {"type": "string", "description": "What is wrong and what to change."},
            },
        }}},
    }


def _receipt_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["reference", "referral_id", "received_at", "status", "matched", "updated_at"],
        "properties": {
            "reference": {"type": "string", "description": "Quote it in any contact about the referral."},
            "referral_id": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "status": {"enum": ["received", "processed"]},
            "matched": {"type": ["boolean", "null"],
                        "description": "Once processed: whether any subject matched a known person."},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }


def _errors(description: str, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": {"$ref": REF.format(model="Errors")}}}}
    if retry:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at ``/v1/openapi.json`` (built once)."""
    submission = Referral.model_json_schema(ref_template=REF)
    schemas = submission.pop("$defs", {})
    submission["title"] = "ReferralSubmission"
    submission["required"] = [name for name in submission["required"] if name != "partner_id"]
    submission["properties"]["partner_id"]["description"] = (
        "Optional: taken from your API token. A different value is refused (403).")
    submission["description"] = (
        "A referral (contract v1, toex.referrals). An adult (subject_is_child false) who has not consented "
        "(consent_to_share false) may be referred only anonymously, as a duty to notify: subjects other than "
        "suspects then carry no names, aliases, dates of birth, phones, emails or addresses.")
    schemas.update(ReferralSubmission=submission, Receipt=_receipt_schema(), Errors=_errors_schema())
    receipt = {"content": {"application/json": {"schema": {"$ref": REF.format(model="Receipt")}}}}
    common = {"401": _errors("No token, or one not valid or revoked."),
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
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="ReferralSubmission")}}}},
                "responses": {
                    "202": {"description": "Received: Kafka has it.", **receipt},
                    "200": {"description": "Sent before: the same receipt, nothing published again.", **receipt},
                    "403": _errors("The body names another partner."),
                    "413": _errors("The body is over the size limit."),
                    "415": _errors("Not application/json in UTF-8."),
                    "422": _errors("Not a valid referral: every field at fault, with what to change."),
                    **common,
                },
            }},
            "/v1/referrals/{referral_id}": {"get": {
                "operationId": "referralStatus",
                "parameters": [{"name": "referral_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Its status: no intelligence, only how far it has got.", **receipt},
                    "404": _errors("Your organisation has sent no referral with this id."),
                    **common,
                },
            }},
        },
    }
