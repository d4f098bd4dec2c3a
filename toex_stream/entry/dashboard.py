"""The regional teams' dashboard (aiohttp, Jinja2): sign in, the queue, an alert's case file, decisions, export.

``toex-stream dashboard serve`` runs it apart from the worker, over the same
database and Kafka. Pages are rendered on the server (Jinja2, autoescaped);
one small script of ours (``dashboard_static/dashboard.js``) makes the queue
live (server-sent events say when an alert in the user's regions changed; the
script fetches the queue again) and loads an advert's text into the alert page.

Security, as the pages need it:

- Sign-in with the users of ``toex-stream users`` (argon2 hashes, lock-out after
  repeated failures); the session token lives only in a cookie that is
  HttpOnly, SameSite=Strict, and Secure when ``TOEX_PUBLIC_URL`` is https; the
  session expires after ``TOEX_DASHBOARD_SESSION_HOURS``. Signed out, every
  page redirects to the sign-in (an event stream or a fragment answers 401).
- Every form carries a CSRF token (an HMAC of the session token; before
  sign-in, a random token also set as a cookie), checked on every POST: a
  form without it is refused with 403.
- Scope is the use case's (:mod:`toex_stream.application.casework`): another
  region's alert is a 404, as an alert that does not exist.
- No personal data in URLs: pages are addressed by alert id, filters are
  bands, threats, statuses, user names and forces.
- A strict Content-Security-Policy: only our own script and stylesheet, no
  inline code, no framing. Pages with personal data are never cached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.users import SignInRefused, Users
from toex_stream.application.alert_lifecycle import AlertNotFound
from toex_stream.application.casework import BadRequest, Casework, ReasonNeeded
from toex_stream.domain.access import AccessDenied, User, describe_scope
from toex_stream.domain.casefile import drawn
from toex_stream.domain.clock import utc_now
from toex_stream.domain.contract import Band, Outcome
from toex_stream.domain.errors import ToexError
from toex_stream.ports.casework import QueueFilter

__all__ = ["SESSION_COOKIE", "build_dashboard_app", "csrf_token"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "toex_session"
SIGNIN_CSRF_COOKIE = "toex_signin_csrf"
CSRF_FIELD = "csrf_token"
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "dashboard_templates"
STATIC = HERE / "dashboard_static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# How often the event stream looks for a change, and sends a comment to keep the connection open.
LIVE_POLL_S = 1.0
LIVE_KEEPALIVE_S = 15.0
OUTCOMES: tuple[str, ...] = get_args(Outcome)
BANDS: tuple[str, ...] = get_args(Band)
FILTER_FIELDS = ("band", "threat", "status", "assignee", "force", "reference")

CASEWORK = web.AppKey("toex_casework", Casework)
USERS = web.AppKey("toex_users", Users)
SETTINGS = web.AppKey("toex_settings", Settings)
JINJA = web.AppKey("toex_jinja", jinja2.Environment)
USER = web.RequestKey("toex_user", User)
TOKEN = web.RequestKey("toex_token", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: its forms carry it, and only a page of the session can read it."""
    return hmac.new(session_token.encode(), b"toex-dashboard-csrf", hashlib.sha256).hexdigest()


def _secure(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    return request.secure or (settings.public_url or "").startswith("https://")


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    user: User | None = request.get(USER)
    token: str | None = request.get(TOKEN)
    page = request.app[JINJA].get_template(template).render(
        user=user, scope=describe_scope(user.scopes) if user else "", csrf=csrf_token(token) if token else "",
        bands=BANDS, outcomes=OUTCOMES, **context)
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    return _render(request, "error.html", status=status, status_code=status, message=message)


# -- middlewares --------------------------------------------------------------------------------


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as raised:  # a redirect or a refusal is a response too
        _secured(request, raised)
        raise
    return _secured(request, response)


def _secured(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


_PUBLIC = ("/signin", "/static/", "/healthz", "/favicon.ico")


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The session's user on the request; signed out, a page redirects to the sign-in and anything else is 401."""
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token:
        user = await asyncio.to_thread(request.app[USERS].session_user, token)
        if user is not None and user.disabled:
            user = None
    if user is not None and token:
        request[USER] = user
        request[TOKEN] = token
    elif not request.path.startswith(_PUBLIC):
        if request.method == "GET" and not request.path.startswith(("/live", "/fragments/")):
            raise web.HTTPSeeOther("/signin")
        raise web.HTTPUnauthorized(text="sign in first")
    return await handler(request)


@web.middleware
async def csrf_checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST carries the form's CSRF token; one without it, or with another session's, is refused."""
    if request.method == "POST":
        form = await request.post()
        sent = str(form.get(CSRF_FIELD, ""))
        token = request.get(TOKEN)
        expected = csrf_token(token) if token else request.cookies.get(SIGNIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent, expected):
            return _error_page(request, 403, "This form is out of date or was not sent from this dashboard. "
                                             "Go back, reload the page and try again.")
    return await handler(request)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except AlertNotFound:
        return _error_page(request, 404, "No such alert in your regions.")
    except AccessDenied as denied:
        return _error_page(request, 403, str(denied))
    except (BadRequest, ToexError) as refused:
        return _error_page(request, 400, str(refused))
    except Exception as exc:  # logged without the request's content
        error_id = uuid.uuid4().hex[:12]
        log.exception("dashboard error %s on %s %s (%s)", error_id, request.method, request.path,
                      type(exc).__name__)
        return _error_page(request, 500, f"Something went wrong in toex-stream (error id {error_id}).")


# -- signing in ---------------------------------------------------------------------------------


async def signin_page(request: web.Request) -> web.StreamResponse:
    if request.get(USER) is not None:
        raise web.HTTPSeeOther("/")
    # The same token while the browser holds one: another tab, or a request the browser makes on its own
    # (an icon), must not replace the token of the form on screen.
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    return _signin_form(request, token)


def _signin_form(request: web.Request, token: str, status: int = 200, message: str = "") -> web.Response:
    """The sign-in page, its CSRF token also set as the cookie the form's post is checked against."""
    response = _render(request, "signin.html", status=status, signin_csrf=token, message=message)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(request),
                        path="/signin")
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    settings = request.app[SETTINGS]
    try:
        token = await asyncio.to_thread(request.app[USERS].sign_in, name, password,
                                        dt.timedelta(hours=settings.dashboard_session_hours))
    except SignInRefused as refused:
        return _signin_form(request, secrets.token_urlsafe(24), status=401, message=str(refused))
    response = web.HTTPSeeOther("/")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(request), path="/",
                        max_age=int(settings.dashboard_session_hours * 3600))
    response.del_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(request.app[USERS].sign_out, request[TOKEN])
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# -- the queue ----------------------------------------------------------------------------------


def _filters(request: web.Request) -> QueueFilter:
    values = {name: request.query.get(name, "").strip()[:64] for name in FILTER_FIELDS}
    if "status" not in request.query:
        values["status"] = "active"
    return QueueFilter(**values)


async def _queue_context(request: web.Request) -> dict[str, Any]:
    casework = request.app[CASEWORK]
    filters = _filters(request)
    rows, counts = await asyncio.to_thread(casework.queue, request[USER], filters)
    now = utc_now()
    return {"rows": [(row, casework.grew(row), _age(now - row.created_at)) for row in rows], "counts": counts,
            "filters": filters, "query": urlencode({k: v for k, v in vars(filters).items() if v})}


def _age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(0, minutes)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


async def queue_page(request: web.Request) -> web.StreamResponse:
    return _render(request, "queue.html", **await _queue_context(request))


async def queue_fragment(request: web.Request) -> web.StreamResponse:
    return _render(request, "queue_section.html", **await _queue_context(request))


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``change`` whenever an alert in the user's regions is added or changes."""
    casework, user = request.app[CASEWORK], request[USER]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    last = await asyncio.to_thread(casework.last_change, user)
    quiet = 0.0
    await response.write(b"retry: 2000\n\n")
    while True:
        await asyncio.sleep(LIVE_POLL_S)
        now = await asyncio.to_thread(casework.last_change, user)
        if now != last:
            last = now
            await response.write(b"event: change\ndata: queue\n\n")
            quiet = 0.0
        else:
            quiet += LIVE_POLL_S
            if quiet >= LIVE_KEEPALIVE_S:
                await response.write(b": still here\n\n")
                quiet = 0.0


# -- an alert -----------------------------------------------------------------------------------


async def alert_page(request: web.Request) -> web.StreamResponse:
    casework, user = request.app[CASEWORK], request[USER]
    alert_id = request.match_info["alert_id"]
    try:
        case = await asyncio.to_thread(casework.open, user, alert_id)
    except ReasonNeeded:
        return _render(request, "reason.html", alert_id=alert_id, message="")
    return _render(request, "alert.html", case=case, done=request.query.get("done", ""))


async def give_reason(request: web.Request) -> web.StreamResponse:
    casework, user = request.app[CASEWORK], request[USER]
    alert_id = request.match_info["alert_id"]
    reason = str((await request.post()).get("reason", "")).strip()
    if not reason:
        return _render(request, "reason.html", status=400, alert_id=alert_id,
                       message="Say why you open this alert: the reason is kept in the s.62 log.")
    await asyncio.to_thread(casework.give_reason, user, alert_id, reason)
    raise web.HTTPSeeOther(f"/alerts/{alert_id}")


async def event_text(request: web.Request) -> web.StreamResponse:
    casework, user = request.app[CASEWORK], request[USER]
    try:
        text = await asyncio.to_thread(casework.event_text, user, request.match_info["alert_id"],
                                       request.query.get("event", ""))
    except ReasonNeeded as why:
        return _error_page(request, 403, str(why))
    return _render(request, "event_text.html", text=text)


async def decide(request: web.Request) -> web.StreamResponse:
    casework, user = request.app[CASEWORK], request[USER]
    alert_id, action = request.match_info["alert_id"], request.match_info["action"]
    form = await request.post()
    reason = str(form.get("reason", ""))

    def run() -> str:
        if action == "acknowledge":
            casework.acknowledge(user, alert_id, reason)
            return "acknowledged"
        if action == "assign":
            to = str(form.get("to", ""))
            casework.assign(user, alert_id, to, reason)
            return "assigned"
        if action == "close":
            outcome = str(form.get("outcome", ""))
            if outcome not in OUTCOMES:
                raise BadRequest(f"choose an outcome: {', '.join(OUTCOMES)}")
            casework.close(user, alert_id, outcome, str(form.get("note", "")), reason)  # type: ignore[arg-type]
            return "closed"
        if action == "comment":
            casework.comment(user, alert_id, str(form.get("text", "")))
            return "commented"
        raise web.HTTPNotFound()

    done = await asyncio.to_thread(run)
    raise web.HTTPSeeOther(f"/alerts/{alert_id}?{urlencode({'done': done})}#decisions")


async def export(request: web.Request) -> web.StreamResponse:
    """The case file as a JSON download: a disclosure, logged with its recipient and purpose first."""
    casework, user = request.app[CASEWORK], request[USER]
    alert_id = request.match_info["alert_id"]
    form = await request.post()
    data = await asyncio.to_thread(casework.export, user, alert_id, str(form.get("recipient", "")),
                                   str(form.get("purpose", "")))
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in alert_id)
    return web.Response(text=json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json",
                        charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


async def healthz(_: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


# -- the application ----------------------------------------------------------------------------


def jinja_environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["when"] = lambda at: at.strftime("%Y-%m-%d %H:%M UTC") if at else ""
    environment.globals["drawn"] = drawn
    return environment


def build_dashboard_app(settings: Settings, casework: Casework, users: Users) -> web.Application:
    app = web.Application(middlewares=[security_headers, errors, signed_in, csrf_checked],
                          client_max_size=64 * 1024)
    app[CASEWORK], app[USERS], app[SETTINGS], app[JINJA] = casework, users, settings, jinja_environment()
    app.router.add_get("/signin", signin_page)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
    app.router.add_get("/", queue_page)
    app.router.add_get("/fragments/queue", queue_fragment)
    app.router.add_get("/live", live)
    app.router.add_get("/alerts/{alert_id}", alert_page)
    app.router.add_post("/alerts/{alert_id}/reason", give_reason)
    app.router.add_get("/fragments/alerts/{alert_id}/event", event_text)
    app.router.add_post("/alerts/{alert_id}/export", export)
    app.router.add_post("/alerts/{alert_id}/{action}", decide)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static/", STATIC)
    return app
