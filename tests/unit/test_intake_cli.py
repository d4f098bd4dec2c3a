"""`toex-stream partners add | list | revoke`: a token shown once, hashes never shown, revocation at once."""

from __future__ import annotations

from tests.unit.test_cli import toex
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.store import build_engine


def test_partners_are_added_listed_and_revoked_from_the_command_line(tmp_path) -> None:
    env = {"TOEX_DATA_DIR": str(tmp_path)}
    added = toex("partners", "add", "Hope for Justice", env=env)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert "hope-for-justice" in added.stdout and token.startswith("toex_")
    store = IntakeStore(build_engine(Settings(data_dir=tmp_path)))
    assert store.authenticate(token).partner_id == "hope-for-justice"

    listed = toex("partners", "list", env=env)
    assert "hope-for-justice" in listed.stdout and "live" in listed.stdout
    assert token not in listed.stdout and store.partners()[0].partner_id == "hope-for-justice"

    assert toex("partners", "add", "Again", "--partner-id", "hope-for-justice", env=env).returncode == 1
    assert toex("partners", "revoke", "hope-for-justice", env=env).returncode == 0
    assert store.authenticate(token) is None
    assert "revoked" in toex("partners", "list", env=env).stdout
    missing = toex("partners", "revoke", "nobody", env=env)
    assert missing.returncode == 1 and "no live partner nobody" in missing.stderr
