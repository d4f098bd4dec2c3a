"""``toex-stream users add | list | disable | map-os``, ``login``, ``logout`` and ``whoami``.

The people who act, their role (analyst, supervisor, admin) and the regions
they work in; see :mod:`toex_stream.domain.access` for what each role may do.
Only an admin manages users, except the very first, who may be added by
anyone and must be an admin.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer
from rich.markup import escape

from toex_stream.domain.access import ROLES, Role, check_password, describe_scope, parse_scope
from toex_stream.domain.errors import ToexError
from toex_stream.entry.cli_support import (
    acting_user,
    cli_database,
    cli_settings,
    console,
    new_session_file,
    read_session_token,
    session_file,
    signed_in_user,
    users_store,
)

users_app = typer.Typer(
    help="People who act, with a role (analyst, supervisor, admin) and a scope (regions, or national). "
    "Only an admin manages users; when no user exists yet, `users add` makes the first, who must be an admin.",
    no_args_is_help=True,
)

ROLE_HELP = ("analyst (alerts in scope, replay), supervisor (also silences, nominal import) or admin (users, "
             "partners, retention, audit).")
SCOPE_HELP = "The regions they work in, comma-separated (e.g. ERSOU,LONDON), or national (every region, UNKNOWN too)."
PASSWORD_STDIN_HELP = "Read the password from the first line of standard input instead of asking."


def _password(from_stdin: bool, *, confirm: bool) -> str:
    """A password read without echo (twice when ``confirm``), or from stdin's first line; never printed."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ToexError("--password-stdin: standard input held no password")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Their user name, as the audit will name them (e.g. analyst-7).")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    scope: Annotated[str, typer.Option(help=SCOPE_HELP)],
    os_account: Annotated[str | None, typer.Option(help="An OS login name that acts as them without a password "
                                                        "(then no password is asked unless --password-stdin).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=PASSWORD_STDIN_HELP)] = False,
) -> None:
    """Add a user (admin only). The first user of a new database needs nobody signed in, and must be an admin.

    Asks for their password twice, unless --password-stdin; a user mapped to an OS account needs none.
    """
    if role not in ROLES:
        raise ToexError(f"--role {role}: give one of {', '.join(ROLES)}")
    checked_role: Role = role  # narrowed by the check above
    scopes = parse_scope(scope)
    users = users_store(cli_database())
    first = users.count() == 0
    if first:
        if checked_role != "admin":
            raise ToexError("no user exists yet: the first user must be an admin (--role admin), "
                            "who then adds everyone else")
    else:
        acting_user("users.manage", users=users)
    password = None
    if password_stdin or os_account is None:
        password = _password(password_stdin, confirm=True)
        check_password(password)
    user = users.add(name, checked_role, scopes, password=password, os_account=os_account, first=first)
    how = " and ".join(part for part in ("a password" if password else "", "their OS account" if os_account else "")
                       if part)
    console.print(escape(f"user {user.name} added: {user.role}, scope {describe_scope(user.scopes)}; "
                         f"signs in with {how}"))
    if first:
        console.print(f"{user.name} is the first user, an admin: from now on only an admin adds users "
                      f"(`toex-stream login {user.name}` first)")


@users_app.command("list")
def users_list() -> None:
    """Every user: role, scope, how they sign in, and whether they are active, locked or disabled (admin only)."""
    users = users_store(cli_database())
    acting_user("users.manage", users=users)
    now = dt.datetime.now(dt.timezone.utc)
    for stored in users.all():
        user = stored.user
        if stored.disabled_at:
            state = f"disabled {stored.disabled_at:%Y-%m-%d %H:%M}"
        elif stored.locked_until and stored.locked_until > now:
            state = f"locked until {stored.locked_until:%H:%M} UTC"
        else:
            state = "active"
        ways = [w for w in ("password" if stored.has_password else "",
                            f"os:{stored.os_account}" if stored.os_account else "") if w]
        console.print(escape(f"{user.name}\t{user.role}\t{describe_scope(user.scopes)}\t{'+'.join(ways)}\t"
                             f"{state}\tsince {stored.created_at:%Y-%m-%d}"), highlight=False)


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user at once: their sessions end and they can no longer sign in (admin only; kept for the audit)."""
    users = users_store(cli_database())
    acting_user("users.manage", users=users)
    if not users.disable(name):
        raise ToexError(f"no active user {name}; `toex-stream users list` shows them")
    console.print(escape(f"user {name.strip().lower()} disabled; their sessions have ended"))


@users_app.command("map-os")
def users_map_os(
    account: Annotated[str, typer.Argument(help="The OS login name (as `whoami` prints it).")],
    name: Annotated[str, typer.Argument(help="The user it acts as.")],
) -> None:
    """Let an operating-system account act as a user without signing in (admin only)."""
    users = users_store(cli_database())
    acting_user("users.manage", users=users)
    user = users.map_os_account(account, name)
    console.print(escape(f"OS account {account.strip()} now acts as {user.name}"))


def login(
    name: Annotated[str, typer.Argument(help="Your user name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=PASSWORD_STDIN_HELP)] = False,
) -> None:
    """Sign in: the commands that follow act as you until the session expires (TOEX_SESSION_HOURS, 8 by default).

    The session's token is written to TOEX_SESSION_FILE (default ~/.config/toex-stream/session), readable by
    you alone; the database keeps only its hash. Five wrong passwords in a row lock the account for 15 minutes.
    """
    settings = cli_settings()
    password = _password(password_stdin, confirm=False)
    users = users_store(cli_database())
    token = users.sign_in(name, password, valid_for=dt.timedelta(hours=settings.session_hours))
    path = session_file(settings)
    previous = read_session_token(path) if path.exists() else None
    new_session_file(path, token)
    if previous is not None:
        users.sign_out(previous)
    user = users.session_user(token)
    assert user is not None, "a session made a moment ago"
    expires = users.session_expires_at(token)
    until = f" until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
    console.print(escape(f"signed in as {user.name} ({user.role}, scope {describe_scope(user.scopes)}){until}"))


def logout() -> None:
    """Sign out: the session ends in the database and its file is removed."""
    path = session_file(cli_settings())
    token = read_session_token(path)
    if token is None:
        console.print("nobody was signed in")
        return
    users_store(cli_database()).sign_out(token)
    path.unlink(missing_ok=True)
    console.print("signed out")


def whoami() -> None:
    """Who the commands act as now, and how (a session, or an OS account an admin mapped)."""
    user, how = signed_in_user(users_store(cli_database()))
    way = "signed in" if how == "session" else "through this OS account"
    console.print(escape(f"{user.name} ({user.role}, scope {describe_scope(user.scopes)}), {way}"))
