"""Delivery of outbox items to Slack, Microsoft Teams and the log, and the sender loop.

A :class:`Notifier` is the port; :class:`SlackNotifier`, :class:`TeamsNotifier`
and :class:`LogNotifier` are its adapters, one per receiver (a Slack channel, a
Teams workflow webhook, the log). :class:`OutboxSender` takes due items from
the :class:`~toex_stream.adapters.sql.outbox.Outbox`, counts each attempt before
sending, marks an item delivered (with its audit record) only when the
notifier says the channel has it, and otherwise reschedules it with
exponential backoff, or after the ``Retry-After`` the channel asked for.

Retries are the outbox's, not the HTTP client's: the Slack client is built with
no retry handlers, because a retried ``chat.postMessage`` after a 5xx or a
timeout may double a message that did reach Slack. Every retry goes through
the outbox, where an item with an earlier attempt is first looked for in the
channel (``conversations.history`` with the message metadata carrying the
alert id) and only posted when it is not there.

One sender delivers at a time, whichever worker it runs on: it holds the
outbox's lease, and before each message renews it with its fencing token,
stopping as soon as another sender has taken over. So after a rebalance at
most the message each receiver had in flight can go out twice, and a Slack
post among them is then found by the history check above.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.outbox import AuditEntry, Outbox
from toex_stream.domain.clock import utc_now
from toex_stream.domain.errors import ToexError
from toex_stream.ports.alerts import DeliveryResult, Notifier, OutboxItem

log = logging.getLogger(__name__)

SLACK_EVENT_TYPE = "toex_alert"
SLACK_UPDATE_EVENT_TYPE = "toex_alert_update"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# How long the sender's lease lasts after its last renewal. A sender renews it before each
# message, so it must outlast one message's delivery (pacing, a history search and a post, each
# call with a 10 s timeout); it is also how long another worker waits after the holder stops.
DEFAULT_LEASE_TTL_S = 30.0
MAX_HOLDER_CHARS = 255  # outbox_lease.holder
# The default holder: one per process, so that a sender rebuilt in the same worker keeps the lease.
_PROCESS_NONCE = uuid.uuid4().hex[:12]
# How far before the first attempt the history search starts: clocks differ a little.
HISTORY_MARGIN_S = 60.0
HISTORY_PAGE = 200
# Slack errors that no retry cures: a person must fix the token, the bot's
# membership or the routes. The item is kept (nothing is lost) and retried at
# the longest backoff, so it goes out soon after the fix.
PERMANENT_SLACK_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "missing_scope", "no_permission", "restricted_action",
})

__all__ = [
    "DEFAULT_LEASE_TTL_S",
    "AlertingError",
    "ChannelPacer",
    "DeliveryResult",
    "LogNotifier",
    "Notifier",
    "OutboxSender",
    "ReceiverConfig",
    "SlackNotifier",
    "TeamsNotifier",
    "build_notifiers",
    "build_slack_client",
    "process_holder",
]


class AlertingError(ToexError):
    """Alert delivery is misconfigured (no token, an unknown receiver)."""


def process_holder() -> str:
    """This process's name as a lease holder, ``host:pid:nonce``: unique to it, and readable in the lease table."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_NONCE}"


class ChannelPacer:
    """Keeps the messages written to each channel at least ``interval`` seconds apart.

    Slack allows about one message per second per channel; share one pacer
    between every notifier that writes to the same workspace.
    """

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._held_until: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        """Write one message to ``channel`` inside: once its slot comes, and the next slot ``interval`` after
        this one is done.

        Counted from the end of the call, not its start: the chat API counts a
        message when it arrives, which may be any time before the answer (a busy
        event loop sends late), so the next one starts a full interval after.
        """
        async with self._locks[channel]:
            await self._wait_hold(channel)
            delay = self._next.get(channel, 0.0) - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                self._next[channel] = self._clock() + self.interval

    async def clear(self, channel: str) -> None:
        """Wait while the channel is held after a 429 (for reads, which take no slot)."""
        await self._wait_hold(channel)

    def hold(self, channel: str, seconds: float) -> None:
        """Send nothing to ``channel`` for ``seconds``: Slack answered 429 with this ``Retry-After``."""
        self._held_until[channel] = max(self._held_until.get(channel, 0.0), self._clock() + seconds)

    async def _wait_hold(self, channel: str) -> None:
        delay = self._held_until.get(channel, 0.0) - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)


def build_slack_client(settings: Settings, timeout: float = 10.0) -> AsyncWebClient:
    """The Slack Web API client for ``settings`` (token, and the API URL of a gateway or test server).

    Built with no retry handlers: see the module's docstring.
    """
    if settings.slack_bot_token is None:
        raise AlertingError("Slack receivers need a bot token: set TOEX_SLACK_BOT_TOKEN (xoxb-...)")
    base_url = settings.slack_api_url or DEFAULT_SLACK_API_URL
    if not base_url.endswith("/"):
        base_url += "/"
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=base_url, timeout=int(max(1, timeout)),
        retry_handlers=[]
    )


def _slack_failure(method: str, exc: Exception) -> DeliveryResult:
    """A failure described by status and Slack's error code only: the response may echo message content."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        retry_after = None
        if status == 429:
            header = {k.lower(): v for k, v in (exc.response.headers or {}).items()}.get("retry-after")
            value = header[0] if isinstance(header, list) else header
            retry_after = float(value) if value is not None and str(value).replace(".", "", 1).isdigit() else 1.0
        return DeliveryResult.failed(
            f"{method}: HTTP {status} {code or ''}".strip(), retry_after, permanent=code in PERMANENT_SLACK_ERRORS
        )
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return DeliveryResult.failed(f"{method}: timed out")
    return DeliveryResult.failed(f"{method}: {type(exc).__name__}: {exc}")


_TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, OSError)


class SlackNotifier:
    """Posts alerts to one Slack channel (give its id, ``C0123...``: history and updates need it).

    A ``post`` is one ``chat.postMessage`` carrying metadata
    ``{"event_type": "toex_alert", "event_payload": {"alert_id": ...}}``. An
    ``update`` rewrites the first post (``chat.update``) and replies in its
    thread, the reply carrying ``toex_alert_update`` metadata with the version.
    When the item was tried before, the channel (or thread) is searched for
    that metadata first, and a message found there is taken as delivered.
    """

    def __init__(self, client: AsyncWebClient, channel: str, pacer: ChannelPacer | None = None) -> None:
        self.client = client
        self.channel = channel
        self.pacer = pacer or ChannelPacer()
        # History needs the channel's id: known when configured as one, else learnt from a
        # post's answer or, after a restart, looked up by name (conversations.list).
        self._channel_id: str | None = None if channel.startswith("#") else channel

    async def send(self, item: OutboxItem) -> DeliveryResult:
        method = "chat.postMessage"
        try:
            if item.kind == "post":
                return await self._post(item)
            method = "chat.update"
            return await self._update(item)
        except _TRANSPORT_ERRORS as exc:
            failure = _slack_failure(method, exc)
            if failure.retry_after is not None:
                self.pacer.hold(self.channel, failure.retry_after)
            return failure

    async def _post(self, item: OutboxItem) -> DeliveryResult:
        metadata = {"event_type": SLACK_EVENT_TYPE, "event_payload": {"alert_id": item.alert_id}}
        if item.attempts > 1 and item.first_attempt_at is not None:
            await self.pacer.clear(self.channel)
            channel_id = await self._resolve_channel_id()
            if channel_id is None:
                return DeliveryResult.failed(
                    f"conversations.list: no channel {self.channel} that the bot can see; "
                    "invite the bot or use the channel id"
                )
            found = await self._find_in_history(channel_id, item.alert_id, item.first_attempt_at)
            if found is not None:
                return DeliveryResult(ok=True, action="found_existing", slack_channel=channel_id, slack_ts=found)
        async with self.pacer.slot(self.channel):
            response = await self.client.chat_postMessage(
                channel=self.channel, text=item.payload["text"], blocks=item.payload.get("blocks"), metadata=metadata
            )
        self._channel_id = response.get("channel") or self._channel_id
        return DeliveryResult(
            ok=True, action="posted", slack_channel=self._channel_id or self.channel, slack_ts=response["ts"]
        )

    async def _update(self, item: OutboxItem) -> DeliveryResult:
        if item.thread_ts is None:
            return DeliveryResult.failed(
                f"update of {item.alert_id}: its first post to this receiver is not delivered yet"
            )
        channel = item.thread_channel or self.channel
        # chat.update is idempotent: done again on every attempt, it leaves one message.
        async with self.pacer.slot(self.channel):
            await self.client.chat_update(
                channel=channel, ts=item.thread_ts, text=item.payload["text"], blocks=item.payload.get("blocks")
            )
        reply = item.payload.get("reply")
        if not reply:
            return DeliveryResult(ok=True, action="updated", slack_channel=channel, slack_ts=item.thread_ts)
        if item.attempts > 1:
            await self.pacer.clear(self.channel)
            found = await self._find_reply(channel, item.thread_ts, item.alert_id, item.version)
            if found is not None:
                return DeliveryResult(ok=True, action="found_existing", slack_channel=channel, slack_ts=found)
        async with self.pacer.slot(self.channel):
            response = await self.client.chat_postMessage(
                channel=channel,
                thread_ts=item.thread_ts,
                text=reply["text"],
                blocks=reply.get("blocks"),
                metadata={
                    "event_type": SLACK_UPDATE_EVENT_TYPE,
                    "event_payload": {"alert_id": item.alert_id, "version": item.version},
                },
            )
        return DeliveryResult(ok=True, action="updated", slack_channel=channel, slack_ts=response["ts"])

    async def _resolve_channel_id(self) -> str | None:
        if self._channel_id is not None:
            return self._channel_id
        name = self.channel.removeprefix("#")
        cursor: str | None = None
        while True:
            response = await self.client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
            channels: list[dict[str, Any]] = response.get("channels", [])
            for channel in channels:
                if channel.get("name") == name:
                    self._channel_id = channel["id"]
                    return self._channel_id
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _find_in_history(self, channel_id: str, alert_id: str, since: dt.datetime) -> str | None:
        """The ts of a message in the channel since ``since`` whose metadata names ``alert_id``."""
        oldest = f"{since.timestamp() - HISTORY_MARGIN_S:.6f}"
        cursor: str | None = None
        while True:
            response = await self.client.conversations_history(
                channel=channel_id, oldest=oldest, include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor
            )
            found = _with_metadata(response.get("messages", []), SLACK_EVENT_TYPE, {"alert_id": alert_id})
            if found is not None:
                return found
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _find_reply(self, channel: str, thread_ts: str, alert_id: str, version: int) -> str | None:
        cursor: str | None = None
        while True:
            response = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor
            )
            wanted = {"alert_id": alert_id, "version": version}
            found = _with_metadata(response.get("messages", []), SLACK_UPDATE_EVENT_TYPE, wanted)
            if found is not None:
                return found
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None


def _with_metadata(messages: list[dict[str, Any]], event_type: str, wanted: dict[str, Any]) -> str | None:
    for message in messages:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == event_type and all(payload.get(k) == v for k, v in wanted.items()):
            return message.get("ts")
    return None


class TeamsNotifier:
    """Posts the Adaptive Card to a Microsoft Teams workflow webhook.

    The webhook URL is a secret (anyone holding it can post): the composition
    root reads it from the setting the receiver names and passes it in.
    Teams has no way to look a message up, so a retry after a timeout may
    show a card twice; 4xx other than 429 are not retried sooner than backoff.
    """

    def __init__(self, webhook_url: SecretStr, timeout: float = 10.0) -> None:
        self._url = webhook_url
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, item: OutboxItem) -> DeliveryResult:
        body = {key: value for key, value in item.payload.items() if key not in ("disclosure", "withdraws_post")}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session:
                async with session.post(self._url.get_secret_value(), json=body) as response:
                    if 200 <= response.status < 300:
                        return DeliveryResult(ok=True, action="posted")
                    retry_after = response.headers.get("Retry-After")
                    wait = (
                        float(retry_after) if response.status == 429 and retry_after and retry_after.isdigit() else None
                    )
                    return DeliveryResult.failed(f"teams webhook: HTTP {response.status}", wait)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return DeliveryResult.failed(f"teams webhook: {type(exc).__name__}")


class LogNotifier:
    """Writes ``alert <id> band=... region=...`` to the log: a receiver for development."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("toex_stream.alerts")

    async def send(self, item: OutboxItem) -> DeliveryResult:
        text = item.payload.get("text") or f"alert {item.alert_id}"
        self._log.info("%s (%s v%d)", text, item.kind, item.version)
        return DeliveryResult(ok=True, action="logged")


@dataclass
class _Tenure:
    """The lease as one delivery round holds it: its token, and whether it has been found lost."""

    token: int
    lost: bool = False


class OutboxSender:
    """Delivers the outbox: every due item, in order per alert and receiver, each exactly once.

    ``notifiers`` maps a receiver's name (as enqueued) to its notifier.
    Receivers are served concurrently, each one's items one after another.

    Only the holder of the outbox's lease delivers, so senders on several
    workers may run at once. ``holder`` names this sender in the lease (the
    default, :func:`process_holder`, is shared by every sender of one process,
    so a sender rebuilt in the same process keeps the lease); ``lease_ttl_s``
    is how long the lease outlives the sender's last renewal. ``clock`` gives
    the time for the lease and the outbox's records: the workers' clocks must
    agree to well within ``lease_ttl_s``.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        *,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 300.0,
        batch_size: int = 100,
        per_receiver_round: int = 3,
        holder: str | None = None,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if lease_ttl_s <= 0:
            raise AlertingError(f"lease_ttl_s={lease_ttl_s} must be positive: give the seconds a lease lasts")
        if holder is not None and not 0 < len(holder) <= MAX_HOLDER_CHARS:
            raise AlertingError(f"holder {holder!r} must be 1 to {MAX_HOLDER_CHARS} characters, e.g. host:pid")
        self.outbox = outbox
        self.notifiers = dict(notifiers)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.batch_size = batch_size
        self.per_receiver_round = per_receiver_round
        self.holder = process_holder() if holder is None else holder
        self.lease_ttl_s = lease_ttl_s
        self._clock = clock

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones: doubling, capped, with 10% jitter."""
        delay = min(self.backoff_base_s * 2 ** max(0, attempts - 1), self.backoff_max_s)
        return delay * (1.0 + random.random() * 0.1)

    async def run_once(self, now: dt.datetime | None = None) -> int:
        """Deliver every item due at ``now`` (default: the clock), if this sender holds the lease; the number delivered.

        The lease is acquired (or renewed) first, by the clock; without it
        nothing is sent and 0 returned. An update becomes due once its post is
        delivered, so it goes out in the same call. A failed item is
        rescheduled and not tried again in this call. When the lease is found
        lost before a message, the call stops there and sends nothing more.
        """
        token = self.outbox.acquire_lease(self.holder, self.lease_ttl_s, self._clock())
        if token is None:
            log.debug("outbox lease held by another sender; %s delivers nothing this round", self.holder)
            return 0
        tenure = _Tenure(token)
        delivered = 0
        tried: set[int] = set()
        while not tenure.lost:
            coalesced = self.outbox.coalesce_updates(self._clock())
            if coalesced:
                log.info("outbox: %d update(s) replaced by a later update of the same alert", coalesced)
            # A few per receiver per round (a channel takes one a second), then the queue is read again:
            # a first post queued meanwhile goes next, not behind a hundred updates.
            due = [item for item in self.outbox.due(now or self._clock(), self.batch_size, self.per_receiver_round)
                   if item.id not in tried]
            if not due:
                break
            tried.update(item.id for item in due)
            by_receiver: dict[str, list[OutboxItem]] = defaultdict(list)
            for item in due:
                by_receiver[item.receiver].append(item)
            results = await asyncio.gather(*(self._deliver_in_order(items, tenure) for items in by_receiver.values()))
            delivered += sum(results)
        return delivered

    async def _deliver_in_order(self, items: list[OutboxItem], tenure: _Tenure) -> int:
        delivered = 0
        for item in items:
            if not self._still_holds(tenure):
                break
            delivered += await self._deliver(item)
        return delivered

    def _still_holds(self, tenure: _Tenure) -> bool:
        """Renew the lease before a message; once it is found lost, the round sends nothing more."""
        if tenure.lost:
            return False
        if self.outbox.renew_lease(self.holder, tenure.token, self.lease_ttl_s, self._clock()):
            return True
        tenure.lost = True
        log.warning(
            "outbox lease lost by %s (token %d): another sender has taken over or it lapsed; stopping this round",
            self.holder, tenure.token,
        )  # fmt: skip
        return False

    async def _deliver(self, item: OutboxItem) -> bool:
        notifier = self.notifiers.get(item.receiver)
        if notifier is None:
            error = f"no receiver named {item.receiver!r} is configured: add it to the routes file"
            log.error("alert %s not delivered: %s", item.alert_id, error)
            self.outbox.mark_failed(item.id, error, self._clock() + dt.timedelta(seconds=self.backoff_max_s))
            return False
        attempt = self.outbox.mark_attempt(item.id, self._clock())
        attempt = _with_thread(attempt, item)
        try:
            result = await notifier.send(attempt)
        except Exception as exc:  # a notifier's bug must not stop the others; the item is kept
            log.exception("alert %s to %s: notifier failed", item.alert_id, item.receiver)
            result = DeliveryResult.failed(f"{type(exc).__name__}: {exc}")
        if not result.ok:
            if result.permanent:
                wait = self.backoff_max_s
                log.error(
                    "alert %s to %s not delivered (attempt %d): %s; a retry will not cure this: check the token, "
                    "invite the bot to the channel or fix the routes file; kept, next try in %.0fs",
                    item.alert_id, item.receiver, attempt.attempts, result.error, wait,
                )  # fmt: skip
            else:
                wait = result.retry_after if result.retry_after is not None else self.backoff(attempt.attempts)
                log.warning(
                    "alert %s to %s not delivered (attempt %d): %s; next try in %.1fs",
                    item.alert_id, item.receiver, attempt.attempts, result.error, wait,
                )  # fmt: skip
            self.outbox.mark_failed(item.id, result.error or "failed", self._clock() + dt.timedelta(seconds=wait))
            return False
        at = self._clock()
        entry = AuditEntry(
            at=at,
            alert_id=item.alert_id,
            receiver=item.receiver,
            route=item.route,
            action=result.action,
            what=str(item.payload.get("disclosure") or f"{item.kind} message"),
        )
        return self.outbox.mark_delivered(item.id, result.slack_channel, result.slack_ts, at, audit=entry)


def _with_thread(attempt: OutboxItem, due: OutboxItem) -> OutboxItem:
    """The attempt as counted, with the thread the due item was given."""
    return replace(attempt, thread_ts=due.thread_ts, thread_channel=due.thread_channel)


class ReceiverConfig(Protocol):
    """What :func:`build_notifiers` needs of a receiver (:class:`toex_stream.domain.alerting.routes.Receiver`)."""

    # Read-only, as the routes' frozen models have them.
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def webhook_setting(self) -> str | None: ...


def build_notifiers(
    receivers: Iterable[ReceiverConfig],
    settings: Settings,
    webhook_urls: Mapping[str, SecretStr] | None = None,
    *,
    slack_client: AsyncWebClient | None = None,
    pacer: ChannelPacer | None = None,
) -> dict[str, Notifier]:
    """One notifier per receiver, for the composition root: one Slack client and one pacer shared.

    ``webhook_urls`` maps a Teams receiver's ``webhook_setting`` to its URL,
    read by the entry point (the URL is a secret, never in the routes file).
    """
    notifiers: dict[str, Notifier] = {}
    pacer = pacer or ChannelPacer()
    for receiver in receivers:
        if receiver.kind == "slack":
            if slack_client is None:
                slack_client = build_slack_client(settings)
            notifiers[receiver.name] = SlackNotifier(slack_client, receiver.channel or "", pacer)
        elif receiver.kind == "teams":
            url = (webhook_urls or {}).get(receiver.webhook_setting or "")
            if url is None:
                raise AlertingError(
                    f"teams receiver '{receiver.name}' needs its webhook URL: set {receiver.webhook_setting}"
                )
            notifiers[receiver.name] = TeamsNotifier(url)
        elif receiver.kind == "log":
            notifiers[receiver.name] = LogNotifier()
        else:
            raise AlertingError(f"receiver '{receiver.name}': kind {receiver.kind!r} must be slack, teams or log")
    return notifiers
