"""The event contract rejects what a partner would expect it to reject, and accepts the examples."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from toex_stream.domain import contract


def errors_of(model, value: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(json.dumps(value))
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def test_examples_are_valid(referral, advert, intel):
    assert contract.Referral.model_validate_json(json.dumps(referral)).subjects[0].nationality == "HU"
    assert contract.Advert.model_validate_json(json.dumps(advert)).stated_age == 21
    assert contract.IntelReport.model_validate_json(json.dumps(intel)).source_evaluation == 2


def test_datetimes_need_a_time_zone_and_are_stored_as_utc(referral):
    assert "submitted_at" in errors_of(contract.Referral, {**referral, "submitted_at": "2026-11-02T10:15:00"})
    parsed = contract.Referral.model_validate_json(
        json.dumps({**referral, "submitted_at": "2026-11-02T10:15:00-05:00"}))
    assert parsed.submitted_at == dt.datetime(2026, 11, 2, 15, 15, tzinfo=dt.timezone.utc)


def test_a_date_of_birth_in_the_future_is_refused(referral):
    future = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    subject = {**referral["subjects"][0], "date_of_birth": future}
    errors = errors_of(contract.Referral, {**referral, "subjects": [subject]})
    assert errors == {"subjects.0.date_of_birth": "Value error, a date of birth cannot be in the future"}


@pytest.mark.parametrize("code", ["UK", "hu", "HUN", "XX"])
def test_nationality_must_be_iso_3166_alpha_2(referral, code):
    subject = {**referral["subjects"][0], "nationality": code}
    assert "subjects.0.nationality" in errors_of(contract.Referral, {**referral, "subjects": [subject]})


def test_types_are_strict(referral, advert, intel):
    assert "consent_to_share" in errors_of(contract.Referral, {**referral, "consent_to_share": "true"})
    assert "stated_age" in errors_of(contract.Advert, {**advert, "stated_age": "21"})
    assert "source_evaluation" in errors_of(contract.IntelReport, {**intel, "source_evaluation": "2"})


@pytest.mark.parametrize(
    ("field", "value"),
    [("urgency", "urgent"), ("exploitation_types", ["slavery"]), ("exploitation_types", [])],
)
def test_closed_sets_are_enforced(referral, field, value):
    assert field in {k.split(".")[0] for k in errors_of(contract.Referral, {**referral, field: value})}


def test_grading_is_3x5x2(intel):
    for field, bad in (("source_evaluation", 4), ("intelligence_assessment", "F"), ("handling_code", "X")):
        assert field in errors_of(contract.IntelReport, {**intel, field: bad})


@pytest.mark.parametrize("bad_id", ["", " ", " padded", "x" * 129])
def test_ids_are_non_empty_and_bounded(referral, bad_id):
    assert "referral_id" in errors_of(contract.Referral, {**referral, "referral_id": bad_id})


def test_free_text_is_bounded(referral, advert):
    assert "narrative" in errors_of(contract.Referral, {**referral, "narrative": "x" * 20_001})
    assert "title" in errors_of(contract.Advert, {**advert, "title": "x" * 501})


def test_schema_version_is_required_and_must_be_1(referral):
    assert "schema_version" in errors_of(contract.Referral, {**referral, "schema_version": 2})
    without = {k: v for k, v in referral.items() if k != "schema_version"}
    assert "schema_version" in errors_of(contract.Referral, without)


def test_unknown_extra_fields_are_ignored_for_forward_compatibility(referral):
    parsed = contract.Referral.model_validate_json(json.dumps({**referral, "added_in_v1_1": "x"}))
    assert not hasattr(parsed, "added_in_v1_1")


def test_event_keys_follow_the_contract(referral, advert, intel):
    assert (contract.event_key(contract.Referral.model_validate_json(json.dumps(referral)))
            == "salvation-army:REF-2026-0001")
    assert (contract.event_key(contract.Advert.model_validate_json(json.dumps(advert)))
            == "example-adult-services:88120451")
    assert contract.event_key(contract.IntelReport.model_validate_json(json.dumps(intel))) == "WMP-INT-2026-4471"


def test_nominal_and_feedback_and_alert_models():
    nominal = contract.Nominal.model_validate_json(
        '{"schema_version": 1, "nominal_id": "N1", "flags": ["ocg_member"], "updated_at": "2026-01-01T00:00:00Z"}'
    )
    assert nominal.flags == ["ocg_member"]
    assert "outcome" in errors_of(
        contract.Feedback,
        {"schema_version": 1, "alert_id": "a", "outcome": "maybe", "analyst_id": "x", "at": "2026-01-01T00:00:00Z"},
    )
    alert = {
        "schema_version": 1, "alert_id": "a", "created_at": "2026-01-01T00:00:00Z", "region": "ERSOU",
        "threat": "msht", "band": "high", "risk_score": 1.5, "model_version": "m1",
    }
    assert "risk_score" in errors_of(contract.Alert, alert)
    assert "region" in errors_of(contract.Alert, {**alert, "risk_score": 0.5, "region": "KENT"})
