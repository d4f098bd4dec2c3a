"""The intake over HTTP (aiohttp): the partner API, its OpenAPI document and the form.

Every handler carries its own guards (authentication, rate limit, content type,
body size, error shaping) rather than relying on application middleware, so
that the same routes can be added to the Faust worker's web server (whose
aiohttp application and middlewares belong to Faust) and to the standalone
``toex-stream intake serve`` application alike: see :func:`add_intake_routes`.

Status codes: 202 a new referral (Kafka has it), 200 a resubmission (the same
receipt, nothing published), 401 no or a bad token, 403 another partner's
id in the body, 404 not this partner's referral, 413 a body over the limit,
415 not JSON (API) or not a form post (form), 422 with every reason (malformed
JSON included, rather than a 400: one error shape for partners to handle), 429 with
``Retry-After`` over the partner's rate, 503 with ``Retry-After`` when Kafka
or the database fails (nothing is kept). An unexpected bug is a 500 that
says so, with an error id for the operators: no partner's input should reach
one (the generated-input test checks that none does), and hiding a bug behind a
4xx would tell the partner their referral was wrong when it was not.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.intake_store import IntakeStore, Partner, Receipt
from toex_stream.application.intake import Intake, Unavailable
from toex_stream.domain.intake.api import ErrorItem, ErrorsBody, Health, ReceiptBody, usable_referral_id
from toex_stream.domain.intake.limits import RateLimiter
from toex_stream.domain.intake.openapi import openapi_document
from toex_stream.domain.intake.rules import Problem, Refused, parse_json_body
from toex_stream.entry import form
from toex_stream.ports.intake import ReferralPublisher

log = logging.getLogger(__name__)

INTAKE_KEY = web.AppKey("toex_intake", Intake)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded",)


class Stop(Exception):
    """Ends a request early with a ready response (401, 413, 415, 429)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


def errors_response(problems: list[Problem], status: int, headers: dict[str, str] | None = None) -> web.Response:
    body = ErrorsBody(errors=[ErrorItem(loc=p.loc, message=p.message) for p in problems])
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)


def receipt_response(receipt: Receipt, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = ReceiptBody(reference=receipt.reference, referral_id=receipt.referral_id,
                       received_at=receipt.received_at, matched=receipt.matched, updated_at=receipt.updated_at,
                       status=receipt.status, revision=receipt.revision)  # type: ignore[arg-type]  # never "pending" here, and pydantic checks
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)


def _error(status: int, message: str, loc: str = "", headers: dict[str, str] | None = None) -> Stop:
    return Stop(errors_response([Problem(loc, message)], status, headers))


def status_location(receipt: Receipt) -> str:
    """Where a receipt's status is read. Every character of the id is quoted, a slash included (url_for
    would leave it, and the status would not be found)."""
    return f"/v1/referrals/{quote(receipt.referral_id, safe='')}"


def no_such_referral() -> Stop:
    return _error(404, "your organisation has sent no referral with this id", loc="referral_id")


def guarded(handler: Callable[[Intake, web.Request], Awaitable[web.StreamResponse]]) -> Handler:
    """Wrap a handler: early stops, refusals and failing dependencies become their status codes."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        intake: Intake = request.config_dict[INTAKE_KEY]
        try:
            return await handler(intake, request)
        except Stop as stop:
            return stop.response
        except Refused as refused:
            return errors_response(refused.problems, refused.status)
        except Unavailable as down:
            return errors_response([Problem("", str(down))], 503, {"Retry-After": str(down.retry_after)})
        except web.HTTPException:
            raise
        except Exception as exc:  # the last guard: logged without the request's content
            error_id = uuid.uuid4().hex[:12]
            log.exception("intake error %s on %s %s (%s)", error_id, request.method, request.path,
                          type(exc).__name__)
            return errors_response([Problem("", f"an internal error in toex-stream (error id {error_id}); "
                                                "nothing was lost by resubmitting: it is safe to try again")], 500)

    return wrapper


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, or a 413 as soon as it is over ``limit`` bytes (declared or streamed)."""
    too_big = _error(413, f"the body is over the limit of {limit} bytes; send less (a referral needs far less)")
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def require_type(request: web.Request, allowed: tuple[str, ...]) -> None:
    charset = request.charset
    if request.content_type not in allowed or (charset is not None and charset.lower() not in ("utf-8", "utf8")):
        raise _error(415, f"send the body as {' or '.join(allowed)} (UTF-8), not {request.content_type or 'nothing'}")


async def bearer_partner(intake: Intake, request: web.Request) -> Partner:
    challenge = {"WWW-Authenticate": 'Bearer realm="toex-stream intake"'}
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _error(401, "send your API token as 'Authorization: Bearer <token>'", headers=challenge)
    partner = await intake.authenticate(token.strip())
    if partner is None:
        raise _error(401, "this API token is not valid or was revoked; ask for a new one", headers=challenge)
    return partner


def check_rate(intake: Intake, partner: Partner) -> None:
    wait = intake.limiter.take(partner.partner_id)
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        raise _error(429, f"too many requests from your organisation; try again in {seconds} s",
                     headers={"Retry-After": str(seconds)})


@guarded
async def post_referral(intake: Intake, request: web.Request) -> web.StreamResponse:
    partner = await bearer_partner(intake, request)
    check_rate(intake, partner)
    require_type(request, JSON_TYPES)
    body = parse_json_body(await read_body(request, request.config_dict[MAX_BODY_KEY]))
    receipt, published = await intake.submit(partner, body)
    return receipt_response(await intake.answer(receipt), status=202 if published else 200,
                            headers={"Location": status_location(receipt)})


@guarded
async def post_amendment(intake: Intake, request: web.Request) -> web.StreamResponse:
    """A correction: the whole corrected referral and a reason; 202 when published, 200 when nothing changed."""
    partner = await bearer_partner(intake, request)
    check_rate(intake, partner)
    require_type(request, JSON_TYPES)
    referral_id = request.match_info["referral_id"]
    if not usable_referral_id(referral_id):
        raise no_such_referral()
    body = parse_json_body(await read_body(request, request.config_dict[MAX_BODY_KEY]))
    receipt, published = await intake.amend(partner, referral_id, body)
    return receipt_response(await intake.answer(receipt), status=202 if published else 200,
                            headers={"Location": status_location(receipt)})


@guarded
async def get_referral(intake: Intake, request: web.Request) -> web.StreamResponse:
    partner = await bearer_partner(intake, request)
    check_rate(intake, partner)
    referral_id = request.match_info["referral_id"]
    receipt = await intake.status(partner, referral_id) if usable_referral_id(referral_id) else None
    if receipt is None:
        raise no_such_referral()
    return receipt_response(await intake.answer(receipt))


async def get_openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document())


async def get_health(request: web.Request) -> web.StreamResponse:
    """Liveness and readiness for a load balancer; nothing about the data."""
    ready = request.config_dict.get(READY_KEY)
    return web.json_response(Health(ready=True if ready is None else ready()).model_dump(mode="json"))


@guarded
async def get_form(intake: Intake, request: web.Request) -> web.StreamResponse:
    return form.page(form.render_form({}, []))


@guarded
async def post_form(intake: Intake, request: web.Request) -> web.StreamResponse:
    """The form posts through the same validation as the API; errors go back beside their fields."""
    require_type(request, FORM_TYPES)
    raw = await read_body(request, request.config_dict[MAX_BODY_KEY])
    try:
        fields = form.parse_fields(raw)
    except Refused as refused:
        return form.page(form.render_form({}, refused.problems), status=refused.status)
    token = fields.get(form.TOKEN_FIELD, [""])[0].strip()
    values = {name: given for name, given in fields.items() if name != form.TOKEN_FIELD}
    partner = await intake.authenticate(token)
    if partner is None:
        problem = Problem(form.TOKEN_FIELD, "this API token is not valid or was revoked; ask for a new one")
        return form.page(form.render_form(values, [problem]), status=401)
    try:
        check_rate(intake, partner)
        receipt, _published = await intake.submit(partner, form.referral_body(values))
    except Refused as refused:
        return form.page(form.render_form(values, refused.problems), status=refused.status)
    except Stop as stop:
        return form.page(form.render_form(values, [Problem("", "too many referrals at once; wait a minute")]),
                         status=stop.response.status,
                         headers={k: v for k, v in stop.response.headers.items() if k == "Retry-After"})
    return form.page(form.render_receipt(receipt))


MAX_BODY_KEY = web.AppKey("toex_intake_max_body", int)
READY_KEY = web.AppKey[Callable[[], bool]]("toex_ready")  # subscripted: a Callable is no class to pass


# What the intake serves, and nothing else: (method, path). HEAD is answered wherever GET is.
INTAKE_ROUTES = frozenset({
    ("POST", "/v1/referrals"), ("GET", "/v1/referrals/{referral_id}"), ("GET", "/v1/openapi.json"),
    ("POST", "/v1/referrals/{referral_id}/amendments"),
    ("GET", "/referrals/new"), ("POST", "/referrals/new"),
})
HEALTH_ROUTE = ("GET", "/healthz")


def served_routes(app: web.Application) -> frozenset[tuple[str, str]]:
    """Every (method, path) that ``app``'s router answers, HEAD left out (it follows GET)."""
    return frozenset((route.method, route.resource.canonical) for route in app.router.routes()
                     if route.method != "HEAD" and route.resource is not None)


def add_intake_routes(app: web.Application, intake: Intake, max_body_bytes: int) -> None:
    """Put the intake's routes and state on ``app`` (a new application, or the Faust worker's)."""
    app[INTAKE_KEY] = intake
    app[MAX_BODY_KEY] = max_body_bytes
    app.router.add_post("/v1/referrals", post_referral)
    # [^/]+, not aiohttp's default [^{}/]+: a referral_id may hold a brace, and its status must be found
    # (schemathesis created one and then read a 404). An encoded slash stays in the id.
    app.router.add_get("/v1/referrals/{referral_id:[^/]+}", get_referral, name="referral_status")
    app.router.add_post("/v1/referrals/{referral_id:[^/]+}/amendments", post_amendment)
    app.router.add_get("/v1/openapi.json", get_openapi)
    app.router.add_get("/referrals/new", get_form)
    app.router.add_post("/referrals/new", post_form)


def add_health_route(app: web.Application, ready: Callable[[], bool] | None = None) -> None:
    """``/healthz`` on ``app``: 200 while the process serves; ``ready`` says whether it can do its work."""
    if ready is not None:
        app[READY_KEY] = ready
    app.router.add_get(HEALTH_ROUTE[1], get_health)


def build_intake(settings: Settings, store: IntakeStore, publisher: ReferralPublisher) -> Intake:
    from toex_stream.adapters.sql.audit import SqlAuditTrail

    return Intake(store, publisher, RateLimiter(settings.intake_rate_per_minute, settings.intake_burst),
                  disclose_matches=settings.intake_disclose_matches,
                  audit=SqlAuditTrail(store.engine, settings.audit_head_path))


def build_intake_app(settings: Settings, store: IntakeStore, publisher: ReferralPublisher) -> web.Application:
    """The standalone intake application: the partner API, the OpenAPI document and the form."""
    # aiohttp's own limit sits above ours, so that ours (a 413 with a reason) is the one that speaks.
    app = web.Application(client_max_size=settings.intake_max_body_bytes + 1024)
    add_intake_routes(app, build_intake(settings, store, publisher), settings.intake_max_body_bytes)
    add_health_route(app)
    return app
