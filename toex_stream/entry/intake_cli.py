"""``toex-stream partners add | list | rotate | revoke`` and ``toex-stream intake serve``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from toex_stream.domain.errors import ToexError

if TYPE_CHECKING:
    from toex_stream.adapters.sql.intake_store import IntakeStore, Partner
    from toex_stream.domain.access import User

partners_app = typer.Typer(help="Partner organisations and their API tokens for the intake.", no_args_is_help=True)
intake_app = typer.Typer(help="The partner intake API and form, apart from the worker.", no_args_is_help=True)


def _store() -> tuple[User, IntakeStore]:  # imported lazily: the CLI starts faster
    """The signed-in user and the partners' store, when the user is an admin (partners' tokens are theirs to give)."""
    from toex_stream.adapters.sql.intake_store import IntakeStore
    from toex_stream.entry.cli_support import acting_user
    from toex_stream.entry.cli_support import cli_database as _database

    user = acting_user("partners.manage")
    return user, IntakeStore(_database())


def _valid_for(days: int) -> dt.timedelta | None:
    if days < 0:
        raise ToexError("--valid-days must be 0 (until revoked) or more")
    return dt.timedelta(days=days) if days else None


VALID_DAYS_HELP = "Days the token works (0: until revoked)."


def _until(partner: Partner) -> str:
    return f"until {partner.expires_at:%Y-%m-%d}" if partner.expires_at else "until revoked"


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    partner_id: Annotated[str | None, typer.Option(help="Its id in referrals; default made from the name.")] = None,
    valid_days: Annotated[int, typer.Option(help=VALID_DAYS_HELP)] = 365,
) -> None:
    """Register a partner and print its API token: shown this once, stored only as a hash."""
    from toex_stream.entry.cli_support import console

    _user, store = _store()
    partner, token = store.add_partner(name, partner_id, valid_for=_valid_for(valid_days))
    console.print(escape(f"partner {partner.partner_id} ({partner.name}) added. Its API token ({_until(partner)}), "
                         "shown only now:"))
    console.print(token, highlight=False, soft_wrap=True)


@partners_app.command("rotate")
def partners_rotate(
    partner_id: str,
    valid_days: Annotated[int, typer.Option(help=VALID_DAYS_HELP)] = 365,
) -> None:
    """Give a partner a new API token (shown this once); the old one stops working at once."""
    from toex_stream.entry.cli_support import console

    _user, store = _store()
    partner, token = store.rotate_token(partner_id, valid_for=_valid_for(valid_days))
    console.print(escape(f"partner {partner.partner_id}: new API token ({_until(partner)}), shown only now:"))
    console.print(token, highlight=False, soft_wrap=True)


@partners_app.command("list")
def partners_list() -> None:
    """Every partner, live, expired or revoked, with when its token was last used (never a token or its hash)."""
    from toex_stream.domain.clock import utc_now
    from toex_stream.entry.cli_support import console

    now = utc_now()
    _user, store = _store()
    for partner in store.partners():
        if partner.revoked_at:
            state = f"revoked {partner.revoked_at:%Y-%m-%d %H:%M}"
        elif partner.expired(now):
            state = f"expired {partner.expires_at:%Y-%m-%d}"
        else:
            state = f"live {_until(partner)}"
        used = f"last used {partner.last_used_at:%Y-%m-%d %H:%M}" if partner.last_used_at else "never used"
        console.print(escape(f"{partner.partner_id}\t{partner.name}\t{state}\t{used}\t"
                             f"since {partner.created_at:%Y-%m-%d}"))


@partners_app.command("revoke")
def partners_revoke(partner_id: str) -> None:
    """Revoke a partner's token now; its requests are refused from this moment (401)."""
    from toex_stream.entry.cli_support import console

    _user, store = _store()
    if not store.revoke_partner(partner_id):
        raise ToexError(f"no live partner {partner_id}; `toex-stream partners list` shows them")
    console.print(f"partner {partner_id}: token revoked")


@intake_app.command("serve")
def intake_serve(
    port: Annotated[int | None, typer.Option(help="Port to listen on; default TOEX_WEB_PORT.")] = None,
) -> None:
    """Serve the intake API and form alone (the worker serves them too), so intake can scale apart."""
    from aiohttp import web

    from toex_stream.adapters.kafka_access import KafkaAccess
    from toex_stream.adapters.kafka_publisher import KafkaReferralPublisher
    from toex_stream.adapters.sql.intake_store import IntakeStore
    from toex_stream.entry.cli_support import cli_database as _database
    from toex_stream.entry.cli_support import cli_settings as _settings
    from toex_stream.entry.cli_support import console
    from toex_stream.entry.web import build_intake_app

    settings = _settings()
    publisher = KafkaReferralPublisher(KafkaAccess.from_settings(settings), settings.intake_publish_timeout_s)
    app = build_intake_app(settings, IntakeStore(_database()), publisher)
    where = f"http://{settings.web_bind}:{port or settings.web_port}"
    console.print(f"intake at {where}/v1/referrals, form at {where}/referrals/new")
    web.run_app(app, host=settings.web_bind, port=port or settings.web_port, print=None, access_log=None)
