"""JSON Schema of every topic's value, generated from the contract models.

``schemas/<topic>.v1.json`` is what partners read; a test fails when those
files drift from the models, so the two cannot disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from toex_stream.domain.contract import SCHEMA_VERSION, TOPIC_MODELS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_file_name(topic: str) -> str:
    """The file a topic's schema is published in.

    >>> schema_file_name("toex.referrals")
    'toex.referrals.v1.json'
    """
    return f"{topic}.v{SCHEMA_VERSION}.json"


def schema_documents() -> dict[str, str]:
    """File name to JSON text, for every topic of the contract."""
    documents = {}
    for topic, model in sorted(TOPIC_MODELS.items()):
        schema = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_file_name(topic),
            "x-topic": topic,
            **model.model_json_schema(mode="validation"),
        }
        documents[schema_file_name(topic)] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return documents


def export_schemas(directory: Path) -> list[Path]:
    """Write every schema into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted(directory: Path) -> list[str]:
    """Schema files that are missing, stale or unexpected in ``directory``."""
    expected = schema_documents()
    problems = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    problems += sorted(p.name for p in directory.glob("*.json") if p.name not in expected)
    return problems
