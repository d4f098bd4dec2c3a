"""The published JSON Schemas are exactly what the models generate."""

from __future__ import annotations

import json

from tests.conftest import ROOT
from toex_stream.domain.contract import TOPIC_MODELS
from toex_stream.entry.schemas import drifted, export_schemas, schema_file_name


def test_schemas_folder_matches_the_models():
    stale = drifted(ROOT / "schemas")
    assert stale == [], f"run `toex-stream schemas export`: {stale} differ from the models"


def test_drift_is_detected(tmp_path):
    export_schemas(tmp_path)
    assert drifted(tmp_path) == []
    path = tmp_path / schema_file_name("toex.referrals")
    schema = json.loads(path.read_text())
    del schema["properties"]["urgency"]
    path.write_text(json.dumps(schema))
    (tmp_path / "toex.retired.v1.json").write_text("{}")
    assert drifted(tmp_path) == ["toex.referrals.v1.json", "toex.retired.v1.json"]


def test_every_topic_has_a_schema_with_its_required_fields():
    for topic in TOPIC_MODELS:
        schema = json.loads((ROOT / "schemas" / schema_file_name(topic)).read_text())
        assert schema["x-topic"] == topic
        assert "schema_version" in schema["required"]
    referral = json.loads((ROOT / "schemas" / "toex.referrals.v1.json").read_text())
    assert set(referral["required"]) >= {"referral_id", "partner_id", "urgency", "consent_to_share"}
    nationality = referral["$defs"]["Person"]["properties"]["nationality"]["anyOf"][0]
    assert "GB" in nationality["enum"] and "UK" not in nationality["enum"]
