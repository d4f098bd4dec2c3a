"""`toex-stream partners add | list | revoke`: a token shown once, hashes never shown, revocation at once."""

from __future__ import annotations

from tests.unit.test_cli import toex
from tests.users_helpers import signed_in
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.store import build_engine


def test_partners_are_added_listed_and_revoked_from_the_command_line(tmp_path) -> None:
    env = signed_in({"TOEX_DATA_DIR": str(tmp_path)}, tmp_path / "session", "admin-1", "admin")
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


def test_a_token_expires_records_when_it_was_last_used_and_can_be_rotated(tmp_path) -> None:
    import datetime as dt

    from sqlalchemy import update

    from toex_stream.adapters.sql.intake_models import PartnerRow

    env = signed_in({"TOEX_DATA_DIR": str(tmp_path)}, tmp_path / "session", "admin-1", "admin")
    added = toex("partners", "add", "Unseen", "--valid-days", "30", env=env)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    engine = build_engine(Settings(data_dir=tmp_path))
    store = IntakeStore(engine)
    [fresh] = store.partners()
    assert fresh.last_used_at is None and fresh.expires_at is not None
    assert dt.timedelta(days=29) < fresh.expires_at - fresh.created_at <= dt.timedelta(days=30)
    assert "never used" in toex("partners", "list", env=env).stdout

    assert store.authenticate(token).partner_id == "unseen"
    [used] = store.partners()
    assert used.last_used_at is not None
    assert "last used" in toex("partners", "list", env=env).stdout

    with engine.begin() as connection:  # thirty days on
        connection.execute(update(PartnerRow).values(expires_at=dt.datetime.now(dt.timezone.utc)
                                                     - dt.timedelta(seconds=1)))
    assert store.authenticate(token) is None
    assert "expired" in toex("partners", "list", env=env).stdout

    rotated = toex("partners", "rotate", "unseen", env=env)
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip().splitlines()[-1]
    assert new_token != token and store.authenticate(new_token).partner_id == "unseen"
    assert store.authenticate(token) is None
    assert "live until" in toex("partners", "list", env=env).stdout
    assert toex("partners", "add", "Bad", "--valid-days", "-1", env=env).returncode == 1
