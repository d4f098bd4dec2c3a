"""Who may do what, and where: the roles' permissions, scopes (national covers UNKNOWN), and the refusals' words."""

from __future__ import annotations

import datetime as dt

import pytest

from toex_stream.domain.access import (
    LOCKOUT,
    NATIONAL,
    REGIONS,
    AccessDenied,
    AccessError,
    User,
    after_failed_sign_in,
    can,
    check_name,
    check_password,
    parse_scope,
    require,
    visible_regions,
)

ERSOU_ANALYST = User("analyst-7", "analyst", frozenset({"ERSOU"}))
ERSOU_SUPERVISOR = User("supervisor-3", "supervisor", frozenset({"ERSOU", "LONDON"}))
NATIONAL_ANALYST = User("triage-1", "analyst", frozenset({NATIONAL}))
ADMIN = User("admin-1", "admin", frozenset({NATIONAL}))

# (permission, analyst, supervisor, admin), each in a region all three have in scope.
TABLE = [
    ("alerts.read", True, True, False),
    ("alerts.handle", True, True, False),
    ("silences.read", True, True, False),
    ("silences.manage", False, True, False),
    ("replay", True, True, False),
    ("nominals.import", False, True, True),
    ("users.manage", False, False, True),
    ("partners.manage", False, False, True),
    ("retention.manage", False, False, True),
    ("audit.manage", False, False, True),
]


@pytest.mark.parametrize(("permission", "analyst", "supervisor", "admin"), TABLE)
def test_each_role_may_do_what_the_table_says(permission, analyst, supervisor, admin) -> None:
    everywhere = frozenset({NATIONAL})
    assert can(User("a", "analyst", everywhere), permission, "ERSOU") is analyst
    assert can(User("s", "supervisor", everywhere), permission, "ERSOU") is supervisor
    assert can(User("d", "admin", everywhere), permission, "ERSOU") is admin


def test_a_regional_user_acts_in_their_regions_only_and_a_national_one_everywhere_unknown_included() -> None:
    assert can(ERSOU_ANALYST, "alerts.read", "ERSOU") and not can(ERSOU_ANALYST, "alerts.read", "LONDON")
    assert not can(ERSOU_ANALYST, "alerts.handle", "UNKNOWN")
    assert all(can(NATIONAL_ANALYST, "alerts.handle", region) for region in REGIONS)
    assert "UNKNOWN" in REGIONS
    assert can(ERSOU_SUPERVISOR, "silences.manage", "LONDON") and not can(ERSOU_SUPERVISOR, "silences.manage", "TARIAN")
    # Something that spans every region (a silence with no region) takes a national scope.
    assert not can(ERSOU_SUPERVISOR, "silences.manage", NATIONAL)
    assert can(User("s", "supervisor", frozenset({NATIONAL})), "silences.manage", NATIONAL)
    assert visible_regions(ERSOU_SUPERVISOR) == {"ERSOU", "LONDON"} and visible_regions(NATIONAL_ANALYST) is None


def test_replay_takes_the_analyst_role_and_a_national_scope_since_its_report_spans_every_region() -> None:
    assert can(NATIONAL_ANALYST, "replay")
    assert not can(ERSOU_ANALYST, "replay"), "a regional analyst would read every region's events"
    assert not can(ADMIN, "replay")


def test_a_disabled_user_may_do_nothing() -> None:
    disabled = User("analyst-7", "analyst", frozenset({NATIONAL}), disabled=True)
    assert not any(can(disabled, permission, "ERSOU") for permission, *_ in TABLE)
    with pytest.raises(AccessDenied, match="disabled"):
        require(disabled, "alerts.read", "ERSOU")


def test_a_refusal_says_who_what_and_how_to_put_it_right() -> None:
    with pytest.raises(AccessDenied) as region:
        require(ERSOU_ANALYST, "alerts.handle", "LONDON")
    assert str(region.value) == ("analyst-7 (analyst, scope ERSOU) may not acknowledge, assign or close alerts in "
                                 "LONDON, outside the scope; ask a user whose scope covers LONDON, or an admin to "
                                 "add one")
    with pytest.raises(AccessDenied, match=r"may not manage partners: it takes the admin role; ask an admin"):
        require(ERSOU_SUPERVISOR, "partners.manage")
    with pytest.raises(AccessDenied, match=r"may not set or end silences: it takes the supervisor role"):
        require(ERSOU_ANALYST, "silences.manage", "ERSOU")
    with pytest.raises(AccessDenied, match=r"may not run a replay: it spans every region, so it takes a national"):
        require(ERSOU_ANALYST, "replay")
    with pytest.raises(AccessDenied, match=r"across every region: that takes a national scope; name a region"):
        require(ERSOU_SUPERVISOR, "silences.manage", NATIONAL)


def test_scopes_are_regions_or_national_and_nothing_else() -> None:
    assert parse_scope("ersou, London") == {"ERSOU", "LONDON"}
    assert parse_scope("National") == {NATIONAL} and parse_scope("ERSOU,national") == {NATIONAL}
    assert parse_scope("UNKNOWN") == {"UNKNOWN"}
    for bad in ("", "KENT", "ERSOU,MARS"):
        with pytest.raises(AccessError, match="give national or regions from NERSOU"):
            parse_scope(bad)


def test_names_cannot_pass_for_the_systems_actors_and_passwords_are_never_repeated() -> None:
    assert check_name(" Analyst-7 ") == "analyst-7"
    for bad in ("system:sender", "partner:x", "a", "two words", "-dash"):
        with pytest.raises(AccessError, match="lower-case letters"):
            check_name(bad)
    with pytest.raises(AccessError) as short:
        check_password("hunter2")
    assert "hunter2" not in str(short.value) and "at least 12 characters" in str(short.value)


def test_five_wrong_passwords_in_a_row_lock_the_account_for_fifteen_minutes() -> None:
    at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
    failures, locked = 0, None
    for _ in range(4):
        failures, locked = after_failed_sign_in(failures, at)
        assert locked is None
    assert after_failed_sign_in(failures, at) == (0, at + LOCKOUT) and LOCKOUT == dt.timedelta(minutes=15)
