"""Who may do what, and in which regions: users, their roles and their scope.

A user has one role and a scope: some regions, or ``national`` (every region,
``UNKNOWN`` included: an alert no place resolved is still somebody's to see).
Every command that reads or changes personal data or alerts asks :func:`require`
first, for the signed-in user.

========================  ========  ==========  =====  ============================================
permission                analyst   supervisor  admin  in scope
========================  ========  ==========  =====  ============================================
``alerts.read``           yes       yes         no     the alert's region (list shows only those)
``alerts.handle``         yes       yes         no     the alert's region (ack, assign, close)
``silences.read``         yes       yes         no     the silence's region (list, muted)
``silences.manage``       no        yes         no     the silence's region (add, expire)
``replay``                yes       yes         no     national only: a report spans every region
``nominals.import``       no        yes         yes    no region (forces' nominals are national)
``users.manage``          no        no          yes    no region
``partners.manage``       no        no          yes    no region (intake tokens)
``retention.manage``      no        no          yes    no region (retention runs, erasure)
``audit.manage``          no        no          yes    no region (audit export and verify)
========================  ========  ==========  =====  ============================================

A supervisor may do all an analyst may. An admin administers (people,
partners, what is kept, the audit) but handles no case: reading alerts takes
an operational role, so that administering accounts and seeing casework are
separate duties. Replay needs a national scope because its report holds every
region's events; a silence with no ``region`` mutes every region, so only a
national scope may set, end or see one.

>>> ersou = User("analyst-7", "analyst", frozenset({"ERSOU"}))
>>> can(ersou, "alerts.handle", "ERSOU"), can(ersou, "alerts.handle", "LONDON"), can(ersou, "silences.manage", "ERSOU")
(True, False, False)
>>> everywhere = User("lead-1", "supervisor", parse_scope("national"))
>>> can(everywhere, "alerts.read", "UNKNOWN"), can(everywhere, "replay"), can(ersou, "replay")
(True, True, False)
>>> require(ersou, "alerts.read", "LONDON")
Traceback (most recent call last):
...
toex_stream.domain.access.AccessDenied: analyst-7 (analyst, scope ERSOU) may not read alerts in LONDON, outside \
the scope; ask a user whose scope covers LONDON, or an admin to add one
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from toex_stream.domain.contract import Region
from toex_stream.domain.errors import ToexError

__all__ = [
    "LOCKOUT", "MAX_FAILED_SIGN_INS", "MIN_PASSWORD_LENGTH", "NATIONAL", "REGIONS", "ROLES", "AccessDenied",
    "AccessError", "Permission", "Role", "User", "after_failed_sign_in", "can", "check_name", "check_password",
    "covers", "describe_scope", "parse_scope", "require", "visible_regions",
]

Role = Literal["analyst", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
Permission = Literal[
    "alerts.read", "alerts.handle", "silences.read", "silences.manage", "replay", "nominals.import",
    "users.manage", "partners.manage", "retention.manage", "audit.manage",
]
NATIONAL = "national"
REGIONS: tuple[str, ...] = get_args(Region)

# Lock-out: this many wrong passwords in a row lock the account for this long.
MAX_FAILED_SIGN_INS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12

_ANALYST: frozenset[Permission] = frozenset({"alerts.read", "alerts.handle", "silences.read", "replay"})
_SUPERVISOR: frozenset[Permission] = _ANALYST | {"silences.manage", "nominals.import"}
_ADMIN: frozenset[Permission] = frozenset(
    {"nominals.import", "users.manage", "partners.manage", "retention.manage", "audit.manage"})
GRANTS: dict[Role, frozenset[Permission]] = {"analyst": _ANALYST, "supervisor": _SUPERVISOR, "admin": _ADMIN}
# Permissions whose every use spans all regions: only a national scope may have them.
_NATIONAL_ONLY: frozenset[Permission] = frozenset({"replay"})

# What each permission lets a user do, for messages ("may not <this>").
_DOES: dict[Permission, str] = {
    "alerts.read": "read alerts", "alerts.handle": "acknowledge, assign or close alerts",
    "silences.read": "see silences", "silences.manage": "set or end silences", "replay": "run a replay",
    "nominals.import": "import nominals", "users.manage": "manage users", "partners.manage": "manage partners",
    "retention.manage": "run retention or erase", "audit.manage": "export or verify the audit log",
}

# A user's name is an audit actor: lower case, no ':' (``system:``/``partner:`` actors are the machine's).
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class AccessError(ToexError):
    """A user, role or scope that cannot be accepted as given; the message says how to write it."""


class AccessDenied(AccessError):
    """The user acting has not the role, or not the region, for what was asked."""


@dataclass(frozen=True)
class User:
    """Someone who acts: a name (their audit name), a role, the regions they work in, whether disabled."""

    name: str
    role: Role
    scopes: frozenset[str]
    disabled: bool = False

    @property
    def national(self) -> bool:
        return NATIONAL in self.scopes


def check_name(name: str) -> str:
    """The user name as kept: lower case letters, digits, '.', '_' or '-', 2 to 64 of them.

    >>> check_name("Analyst-7")
    'analyst-7'
    """
    folded = name.strip().lower()
    if not _NAME.match(folded):
        raise AccessError("a user name is 2 to 64 lower-case letters, digits, '.', '_' or '-', starting with a "
                          "letter or digit (no ':' or spaces), e.g. analyst-7")
    return folded


def check_password(password: str) -> None:
    """Refuse a password too short to be one (the message never repeats it)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters; a few words make a good one")


def parse_scope(text: str | Iterable[str]) -> frozenset[str]:
    """The regions of ``--scope ERSOU,LONDON`` (or ``national``), checked against the known regions.

    >>> sorted(parse_scope("ersou, london")), sorted(parse_scope(["national", "ERSOU"]))
    (['ERSOU', 'LONDON'], ['national'])
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    scopes = {part.strip() for part in parts if part.strip()}
    if any(part.lower() == NATIONAL for part in scopes):
        return frozenset({NATIONAL})  # national already covers every region named beside it
    regions = {part.upper() for part in scopes}
    unknown = sorted(regions - set(REGIONS))
    if not regions or unknown:
        raise AccessError(f"scope {', '.join(unknown) or '(empty)'}: give {NATIONAL} or regions from "
                          f"{', '.join(REGIONS)}, separated by commas")
    return frozenset(regions)


def describe_scope(scopes: frozenset[str]) -> str:
    """``national``, or the regions in order: ``ERSOU,LONDON``."""
    return NATIONAL if NATIONAL in scopes else ",".join(sorted(scopes))


def covers(scopes: frozenset[str], region: str) -> bool:
    """Whether a scope holds ``region``; ``national`` (what spans every region) is held by a national scope alone.

    >>> covers(frozenset({"national"}), "UNKNOWN"), covers(frozenset({"ERSOU"}), "national")
    (True, False)
    """
    return NATIONAL in scopes or region in scopes


def visible_regions(user: User) -> frozenset[str] | None:
    """The regions whose records ``user`` may see: ``None`` for every region (a national scope)."""
    return None if user.national else user.scopes


def can(user: User, permission: Permission, region: str | None = None) -> bool:
    """Whether ``user`` may use ``permission`` (in ``region``, for the permissions that are scoped).

    A disabled user may do nothing. ``region=None`` on a scoped permission
    asks for no particular region (listing: the caller filters to the scope);
    ``region="national"`` asks for every region at once (a silence with no
    region), which only a national scope covers.
    """
    if user.disabled or permission not in GRANTS[user.role]:
        return False
    if permission in _NATIONAL_ONLY:
        return user.national
    return region is None or covers(user.scopes, region)


def require(user: User, permission: Permission, region: str | None = None) -> User:
    """``user`` when :func:`can` allows it; otherwise :class:`AccessDenied` saying who, what, and how to fix it."""
    if can(user, permission, region):
        return user
    who = f"{user.name} ({user.role}, scope {describe_scope(user.scopes)})"
    if user.disabled:
        raise AccessDenied(f"{user.name} is disabled and may do nothing; an admin can add a new user")
    if permission not in GRANTS[user.role]:
        roles = " or ".join(role for role in ROLES if permission in GRANTS[role])
        raise AccessDenied(f"{who} may not {_DOES[permission]}: it takes the {roles} role; "
                           "ask an admin to add you with that role (`toex-stream users add`)")
    if permission in _NATIONAL_ONLY:
        raise AccessDenied(f"{who} may not {_DOES[permission]}: it spans every region, so it takes a "
                           f"{NATIONAL} scope; ask a user with one")
    if region == NATIONAL:
        raise AccessDenied(f"{who} may not {_DOES[permission]} across every region: that takes a {NATIONAL} "
                           "scope; name a region of your scope (--region) or ask a user with a national scope")
    raise AccessDenied(f"{who} may not {_DOES[permission]} in {region}, outside the scope; ask a user whose "
                       f"scope covers {region}, or an admin to add one")


def after_failed_sign_in(failures: int, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """The count of wrong passwords in a row after one more, and until when the account is then locked.

    The count starts again once the lock-out begins, so each lock-out follows five new failures.

    >>> at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone.utc)
    >>> after_failed_sign_in(0, at), after_failed_sign_in(4, at)[1] == at + LOCKOUT
    ((1, None), True)
    """
    failures += 1
    if failures >= MAX_FAILED_SIGN_INS:
        return 0, now + LOCKOUT
    return failures, None
