"""`toex-stream audit verify` and `audit export` as the data protection officer's admin runs them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from tests.unit.test_cli import toex
from tests.users_helpers import settings_of, signed_in
from toex_stream.adapters.sql.audit import SqlAuditTrail, entries
from toex_stream.adapters.sql.store import build_engine
from toex_stream.domain.audit import AuditRecord


def test_verify_passes_on_a_whole_log_fails_on_an_edit_and_export_is_itself_logged(tmp_path: Path) -> None:
    env = {"TOEX_DATA_DIR": str(tmp_path), "TOEX_DATABASE_URL": f"sqlite:///{tmp_path / 'toex.sqlite3'}"}
    admin = signed_in(env, tmp_path / "admin-session", "dpo-admin", "admin", "national")
    analyst = signed_in(env, tmp_path / "analyst-session", "analyst-7", "analyst", "ERSOU")
    settings = settings_of(env)
    engine = build_engine(settings)
    SqlAuditTrail(engine, settings.audit_head_path).record(
        AuditRecord("consultation", "alert.read", "analyst-7", "A-1", "alert page", "in my queue"),
        AuditRecord("combination", "match.decided", "system:match", "N-1", "mention M-1: match"))

    verified = toex("audit", "verify", env=admin)
    assert verified.returncode == 0, verified.stderr
    assert "the audit log verifies: 2 entries, unbroken" in verified.stdout

    out = tmp_path / "export.jsonl"
    refused = toex("audit", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--reason", "SAR 2026/17",
                   "--out", str(out), env=analyst)
    assert refused.returncode == 1 and "admin" in refused.stderr and not out.exists()
    exported = toex("audit", "export", "--from", "2020-01-01", "--to", "2100-01-01", "--reason", "SAR 2026/17",
                    "--out", str(out), env=admin)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(line["seq"], line["action"]) for line in lines] == [
        (1, "alert.read"), (2, "match.decided"), (3, "audit.export")]
    assert lines[2]["actor"] == "dpo-admin" and lines[2]["why"] == "SAR 2026/17"
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert out.stat().st_mode & 0o777 == 0o600

    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain SET actor = 'someone-else' WHERE seq = 1"))
    broken = toex("audit", "verify", env=admin)
    assert broken.returncode == 1
    assert "entry 1 was changed after it was written" in broken.stderr
    assert [e.seq for e in entries(engine)] == [1, 2, 3]
