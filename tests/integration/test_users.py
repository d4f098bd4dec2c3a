"""Users, sign-in and scopes on real databases, and the command line acting only as the signed-in user.

The store's tests run on SQLite and PostgreSQL. The command line's run
in-process (typer's CliRunner) on a SQLite file of their own, each as a user
signed in with a real ``toex-stream login``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from tests.users_helpers import PASSWORD, add_user, login, settings_of, signed_in
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.silences import Silences
from toex_stream.adapters.sql.store import build_engine, migrate
from toex_stream.adapters.sql.users import PasswordHasher, SignInRefused, UserExists, Users, token_hash
from toex_stream.adapters.sql.users_models import SessionRow, UserRow
from toex_stream.domain.access import AccessError
from toex_stream.domain.contract import Alert
from toex_stream.entry.cli import app

AT = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
EIGHT_HOURS = dt.timedelta(hours=8)
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # the store's behaviour, not argon2's cost


@pytest.fixture
def users(store_engine: Engine) -> Users:
    migrate(store_engine)
    return Users(store_engine, hasher=FAST)


# -- the store, on SQLite and PostgreSQL ----------------------------------------------------------


def test_a_password_is_kept_as_an_argon2_hash_and_a_session_as_its_sha256(users: Users, store_engine: Engine) -> None:
    users.add("Analyst-7", "analyst", {"ERSOU"}, password=PASSWORD, at=AT)
    token = users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT)

    with store_engine.connect() as connection:
        [row] = connection.execute(select(UserRow.name, UserRow.password_hash, UserRow.scopes)).all()
        [session] = connection.execute(select(SessionRow.token_hash, SessionRow.expires_at)).all()
    assert row.name == "analyst-7" and row.scopes == ["ERSOU"]
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert session.token_hash == token_hash(token) and token not in session.token_hash
    assert session.expires_at == AT + EIGHT_HOURS
    assert users.session_user(token, at=AT).name == "analyst-7"


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(users: Users) -> None:
    users.add("analyst-7", "analyst", {"ERSOU"}, password=PASSWORD, at=AT)
    for attempt in range(5):
        with pytest.raises(SignInRefused, match="wrong user name or password") as wrong:
            users.sign_in("analyst-7", f"not the password {attempt}", EIGHT_HOURS, at=AT)
        assert "not the password" not in str(wrong.value)

    with pytest.raises(SignInRefused, match="locked after repeated wrong passwords until 09:15 UTC"):
        users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT + dt.timedelta(minutes=14))
    assert users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT + dt.timedelta(minutes=15))
    # A success starts the count again: four more wrong ones do not lock.
    for _ in range(4):
        with pytest.raises(SignInRefused):
            users.sign_in("analyst-7", "wrong again", EIGHT_HOURS, at=AT + dt.timedelta(minutes=16))
    assert users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT + dt.timedelta(minutes=16))
    with pytest.raises(SignInRefused, match="wrong user name or password"):
        users.sign_in("nobody-here", PASSWORD, EIGHT_HOURS, at=AT)


def test_a_session_expires_and_ends_when_signed_out(users: Users) -> None:
    users.add("analyst-7", "analyst", {"ERSOU"}, password=PASSWORD, at=AT)
    token = users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT)
    assert users.session_user(token, at=AT + EIGHT_HOURS - dt.timedelta(seconds=1)) is not None
    assert users.session_user(token, at=AT + EIGHT_HOURS) is None
    assert users.session_user("toexs_made-up", at=AT) is None

    again = users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT)
    assert users.sign_out(again) and users.session_user(again, at=AT) is None and not users.sign_out(again)


def test_a_disabled_user_loses_their_sessions_and_cannot_sign_in_and_the_last_admin_stays(users: Users) -> None:
    users.add("admin-1", "admin", {"national"}, password=PASSWORD, at=AT)
    users.add("analyst-7", "analyst", {"ERSOU"}, password=PASSWORD, at=AT)
    token = users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT)

    assert users.disable("analyst-7", at=AT) and not users.disable("analyst-7", at=AT)
    assert users.session_user(token, at=AT) is None and users.get("analyst-7").disabled
    with pytest.raises(SignInRefused, match="analyst-7 is disabled"):
        users.sign_in("analyst-7", PASSWORD, EIGHT_HOURS, at=AT)
    with pytest.raises(AccessError, match="admin-1 is the last admin"):
        users.disable("admin-1")


def test_names_and_os_accounts_belong_to_one_user_each(users: Users) -> None:
    users.add("analyst-7", "analyst", {"ERSOU"}, os_account="a7", at=AT)
    with pytest.raises(UserExists):
        users.add("ANALYST-7", "analyst", {"LONDON"}, password=PASSWORD)
    with pytest.raises(UserExists):
        users.add("analyst-8", "analyst", {"LONDON"}, os_account="a7")
    with pytest.raises(AccessError, match="users exist already"):
        users.add("admin-1", "admin", {"national"}, password=PASSWORD, first=True)
    assert users.by_os_account("a7").name == "analyst-7" and users.get("analyst-8") is None
    with pytest.raises(SignInRefused):  # mapped to an OS account only: no password to sign in with
        users.sign_in("analyst-7", "", EIGHT_HOURS)


# -- the command line, as the signed-in user ----------------------------------------------------------


def toex(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run a command in-process with ``env``; its exit code, and its output with any refusal's message."""
    result = CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "200", **env})
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def alert(alert_id: str, region: str) -> Alert:
    return Alert(schema_version=1, alert_id=alert_id, created_at=AT, region=region, threat="msht", band="high",
                 risk_score=0.8, nominal_ids=["N-1"], model_version="msht@v1/l0")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A database of its own holding an ERSOU, a LONDON and an UNKNOWN alert; nobody signed in."""
    env = {"TOEX_DATA_DIR": str(tmp_path), "TOEX_SESSION_FILE": str(tmp_path / "no-session")}
    engine = build_engine(settings_of(env))
    migrate(engine)
    outbox = Outbox(engine)
    for alert_id, region in (("AL-E", "ERSOU"), ("AL-L", "LONDON"), ("AL-U", "UNKNOWN")):
        outbox.save_alert(alert(alert_id, region))
    engine.dispose()
    return env


def test_a_user_of_one_region_cannot_list_ack_close_or_silence_another_regions(env, tmp_path) -> None:
    ersou = signed_in(env, tmp_path / "ersou", "analyst-7", "analyst", "ERSOU")

    code, listed = toex(ersou, "alerts", "list")
    assert code == 0 and "AL-E" in listed and "AL-L" not in listed and "AL-U" not in listed
    code, out = toex(ersou, "alerts", "list", "--region", "LONDON")
    assert code == 1 and "may not read alerts in LONDON" in out
    for command in (["ack", "AL-L"], ["close", "AL-L", "--outcome", "safeguarded"], ["assign", "AL-L", "--to", "x"]):
        code, out = toex(ersou, "alerts", *command, "--reason", "curious")
        assert code == 1 and "may not acknowledge, assign or close alerts in LONDON" in out, out
    code, out = toex(ersou, "alerts", "ack", "AL-E", "--reason", "queue")
    assert code == 0 and "AL-E acknowledged by analyst-7" in out
    database = build_engine(settings_of(env))
    assert Outbox(database).alert_details("AL-L")["status"] == "open"

    # Silences: a supervisor of ERSOU, not of LONDON, nor of every region at once.
    supervisor = signed_in(env, tmp_path / "sup", "supervisor-3", "supervisor", "ERSOU")
    code, out = toex(ersou, "silences", "add", "--region", "ERSOU", "--hours", "1", "--comment", "operation")
    assert code == 1 and "it takes the supervisor role" in out
    code, out = toex(supervisor, "silences", "add", "--region", "LONDON", "--hours", "1", "--comment", "operation")
    assert code == 1 and "may not set or end silences in LONDON" in out
    code, out = toex(supervisor, "silences", "add", "--threat", "msht", "--hours", "1", "--comment", "operation")
    assert code == 1 and "across every region: that takes a national scope" in out
    code, out = toex(supervisor, "silences", "add", "--region", "ersou", "--hours", "1", "--comment", "operation")
    assert code == 0 and "until" in out
    london = Silences(database).add({"region": "LONDON"}, dt.timedelta(hours=1), created_by="supervisor-9")
    code, out = toex(supervisor, "silences", "expire", london.silence_id, "--reason", "over")
    assert code == 1 and "in LONDON" in out
    code, out = toex(supervisor, "silences", "list")
    assert code == 0 and london.silence_id not in out and "by supervisor-3" in out
    assert [s.created_by for s in Silences(database).all() if s.matchers == {"region": "ERSOU"}] == ["supervisor-3"]
    database.dispose()


def test_a_national_scope_sees_unknown_and_assignment_goes_to_a_user_of_the_region(env, tmp_path) -> None:
    add_user(env, "analyst-7", "analyst", "ERSOU")
    national = signed_in(env, tmp_path / "national", "triage-1", "supervisor", "national")

    code, listed = toex(national, "alerts", "list")
    assert code == 0 and all(alert_id in listed for alert_id in ("AL-E", "AL-L", "AL-U"))
    code, out = toex(national, "alerts", "assign", "AL-L", "--to", "analyst-7", "--reason", "Kent lead")
    assert code == 1 and "--to analyst-7: they may not handle alerts in LONDON" in out
    code, out = toex(national, "alerts", "assign", "AL-L", "--to", "nobody", "--reason", "Kent lead")
    assert code == 1 and "no active user of that name" in out
    code, out = toex(national, "alerts", "assign", "AL-E", "--to", "analyst-7", "--reason", "Kent lead")
    assert code == 0 and "AL-E assigned to analyst-7" in out


def test_replay_is_refused_without_the_analyst_role_or_a_national_scope(env, tmp_path) -> None:
    admin = signed_in(env, tmp_path / "admin", "admin-1", "admin", "national")
    regional = signed_in(env, tmp_path / "ersou", "analyst-7", "analyst", "ERSOU")
    replay = ["replay", "--from", "2026-11-25T08:00Z", "--to", "2026-11-25T09:00Z", "--reason", "a test",
              "--out", str(tmp_path / "r.jsonl")]

    code, out = toex(admin, *replay)
    assert code == 1 and "admin-1 (admin, scope national) may not run a replay: it takes the analyst or " \
                         "supervisor role" in out
    code, out = toex(regional, *replay)
    assert code == 1 and "it spans every region, so it takes a national scope" in out
    assert not (tmp_path / "r.jsonl").exists()
    code, out = toex(admin, "partners", "add", "Hope for Justice")
    assert code == 0, out
    code, out = toex(regional, "partners", "list")
    assert code == 1 and "may not manage partners: it takes the admin role" in out


def test_no_session_an_expired_one_and_a_disabled_user_are_refused(env, tmp_path) -> None:
    code, out = toex(env, "alerts", "list")
    assert code == 1 and "nobody is signed in: sign in with `toex-stream login NAME`" in out

    brief = {**env, "TOEX_SESSION_HOURS": "0.0002", "TOEX_SESSION_FILE": str(tmp_path / "brief")}  # 0.72 s
    add_user(brief, "analyst-7", "analyst", "ERSOU")
    assert login(brief, "analyst-7").exit_code == 0
    assert toex(brief, "whoami")[1].startswith("analyst-7 (analyst, scope ERSOU), signed in")
    time.sleep(1.0)
    code, out = toex(brief, "alerts", "list")
    assert code == 1 and "your session has expired or ended: sign in with `toex-stream login NAME` again" in out

    live = signed_in(env, tmp_path / "live", "analyst-7", "analyst", "ERSOU")
    assert (tmp_path / "live").stat().st_mode & 0o777 == 0o600, "the session file is its owner's alone"
    # Disabled while the session lives (as a second database writer might leave it): refused all the same.
    database = build_engine(settings_of(env))
    with database.begin() as connection:
        connection.execute(update(UserRow).where(UserRow.name == "analyst-7").values(disabled_at=AT))
    database.dispose()
    code, out = toex(live, "alerts", "list")
    assert code == 1 and "analyst-7 is disabled and may do nothing" in out
    live = signed_in(env, tmp_path / "other", "analyst-8", "analyst", "ERSOU")
    admin = signed_in(env, tmp_path / "admin", "admin-1", "admin", "national")
    assert toex(admin, "users", "disable", "analyst-8")[0] == 0
    code, out = toex(live, "alerts", "list")
    assert code == 1 and "your session has expired or ended" in out, "disabling ends the sessions"
    code, out = toex(env | {"TOEX_SESSION_FILE": str(tmp_path / "again")}, "login", "analyst-8",
                     "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 1 and "analyst-8 is disabled" in out and PASSWORD not in out


def test_an_os_account_mapped_by_an_admin_acts_without_signing_in(env, tmp_path) -> None:
    admin = signed_in(env, tmp_path / "admin", "admin-1", "admin", "national")
    code, out = toex(admin, "users", "add", "night-desk", "--role", "analyst", "--scope", "LONDON")
    assert code != 0 and "Password" in out, "without an OS account, a password is asked for (none given here)"
    code, out = toex(admin, "users", "add", "night-desk", "--role", "analyst", "--scope", "LONDON,UNKNOWN",
                     "--os-account", "someone-else")
    assert code == 0 and "signs in with their OS account" in out
    assert toex(env, "alerts", "list")[0] == 1, "this OS account is not mapped yet"
    code, out = toex(admin, "users", "map-os", getpass.getuser(), "night-desk")
    assert code == 0, out

    code, listed = toex(env, "alerts", "list")  # no session file: the OS account acts
    assert code == 0 and "AL-L" in listed and "AL-U" in listed and "AL-E" not in listed
    assert "through this OS account" in toex(env, "whoami")[1]
    code, users = toex(admin, "users", "list")
    assert code == 0 and f"os:{getpass.getuser()}" in users and PASSWORD not in users


def test_the_first_user_must_be_an_admin_and_then_only_an_admin_adds_users(tmp_path) -> None:
    env = {"TOEX_DATA_DIR": str(tmp_path), "TOEX_SESSION_FILE": str(tmp_path / "session")}
    code, out = toex(env, "users", "add", "analyst-7", "--role", "analyst", "--scope", "ERSOU", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert code == 1 and "the first user must be an admin" in out
    code, out = toex(env, "users", "add", "admin-1", "--role", "admin", "--scope", "national", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert code == 0 and "admin-1 is the first user, an admin" in out
    code, out = toex(env, "users", "add", "analyst-7", "--role", "analyst", "--scope", "ERSOU", "--password-stdin",
                     stdin=PASSWORD + "\n")
    assert code == 1 and "nobody is signed in" in out
    code, out = toex(env, "login", "admin-1", "--password-stdin", stdin="wrong password here\n")
    assert code == 1 and "wrong user name or password" in out
    assert toex(env, "login", "admin-1", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    code, out = toex(env, "users", "add", "analyst-7", "--role", "analyst", "--scope", "ERSOU", "--password-stdin",
                     stdin="short\n")
    assert code == 1 and "at least 12 characters" in out and "short" not in out
    stored = Users(build_engine(Settings(data_dir=tmp_path))).all()
    assert [u.user.name for u in stored] == ["admin-1"]
    assert toex(env, "logout")[1].strip() == "signed out" and toex(env, "users", "list")[0] == 1
