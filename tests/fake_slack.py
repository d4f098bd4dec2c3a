"""A Slack-compatible Web API server for tests: the methods toex-stream uses, on 127.0.0.1.

It implements ``chat.postMessage``, ``chat.update``, ``conversations.history``
and ``conversations.replies`` over an in-memory store of messages (with their
metadata), records when each call arrived, and can be told to fail the next
calls: HTTP 429 with ``Retry-After``, HTTP 500, or a post that is stored but
answered with 500 (the message reached Slack, the reply was lost). It can also
fail every post and edit for a while, as an outage does (``fail_with``).

    with FakeSlack() as slack:
        settings = Settings(slack_bot_token="xoxb-test", slack_api_url=slack.api_url)
        slack.fail_next(3, status=500)
        slack.fail_with(429, seconds=30, retry_after=5)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Call:
    method: str
    at: float  # time.monotonic() when the request arrived
    params: dict[str, Any]
    status: int


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    store_first: bool = False  # do the work, then answer with the failure (a lost response)
    methods: tuple[str, ...] | None = None
    error: str = "fake_failure"  # Slack's error code in the answer


@dataclass
class Outage:
    """Every call of ``failure.methods`` fails as ``failure`` says for ``seconds`` from its start (time.monotonic()).

    It starts at ``since``; or, without it, when ``after`` ends; or, without
    either, with the first call it fails.
    """

    failure: Failure
    seconds: float
    since: float | None = None
    after: Outage | None = None

    def start(self) -> float | None:
        """When it started (or starts); None while it waits for its first call."""
        if self.since is None and self.after is not None:
            began = self.after.start()
            return None if began is None else began + self.after.seconds
        return self.since

    def end(self) -> float | None:
        began = self.start()
        return None if began is None else began + self.seconds


# What an outage of the chat API breaks by default: posting and editing, not reading the history.
CHAT_WRITES = ("chat.postMessage", "chat.update")


@dataclass
class FakeSlack:
    """Start with ``with FakeSlack() as slack`` (or ``start()``/``stop()``); ``api_url`` is the base URL."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _outages: list[Outage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    channels: dict[str, str] = field(default_factory=dict)  # name -> id, made when a call first names it
    teams_cards: list[dict[str, Any]] = field(default_factory=list)  # bodies POSTed to /teams-webhook

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                fake._handle(self)

            def do_POST(self) -> None:  # http.server's name
                fake._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    @property
    def teams_webhook_url(self) -> str:
        """A Teams workflow webhook on the same server: it keeps each card POSTed to it."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/teams-webhook"

    # -- what tests ask of it -------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 500, retry_after: int | None = None, *, store_first: bool = False,
        methods: tuple[str, ...] | None = None, error: str = "fake_failure",
    ) -> None:  # fmt: skip
        """Answer the next ``count`` calls (of ``methods``, default any) with ``status`` and Slack's ``error`` code."""
        with self._lock:
            self._failures.extend(Failure(status, retry_after, store_first, methods, error) for _ in range(count))

    def rate_limit_next(self, count: int, retry_after: int = 1) -> None:
        self.fail_next(count, status=429, retry_after=retry_after)

    def fail_with(
        self, status: int, seconds: float, retry_after: int | None = None, *, store_first: bool = False,
        methods: tuple[str, ...] = CHAT_WRITES, after: Outage | None = None, from_next_call: bool = False,
    ) -> Outage:  # fmt: skip
        """Answer every call of ``methods`` with ``status`` for ``seconds``: from now, from the next such call
        (``from_next_call``, so that at least one call fails however late it comes) or once ``after`` ends.

        A 429 carries ``Retry-After: retry_after``; with ``store_first`` a post is
        stored and then answered with ``status`` (the reply was lost). Calls
        ``fail_next`` queued are answered first, as before.
        """
        since = None if from_next_call or after is not None else time.monotonic()
        outage = Outage(Failure(status, retry_after, store_first, methods), seconds, since, after)
        with self._lock:
            self._outages.append(outage)
        return outage

    def failed_calls(self, method: str | None = None) -> list[Call]:
        """Calls (of ``method``, default any) answered with an HTTP error."""
        return [c for c in self.calls if (method is None or c.method == method) and c.status >= 400]

    def top_level(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages posted to channels (not thread replies), oldest first."""
        return [
            m for m in self.messages
            if (channel is None or m["channel"] == channel) and m.get("thread_ts") in (None, m["ts"])
        ]  # fmt: skip

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def alert_posts(self, alert_id: str) -> list[dict[str, Any]]:
        """Top-level messages whose metadata carries ``alert_id``."""
        return [
            m for m in self.top_level()
            if ((m.get("metadata") or {}).get("event_payload") or {}).get("alert_id") == alert_id
        ]  # fmt: skip

    def successful_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    # -- the server side ------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        method = url.path.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(parse_qsl(url.query))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if raw:
            if "json" in (request.headers.get("Content-Type") or ""):
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode()))
        for key in ("metadata", "blocks"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        arrived = time.monotonic()
        with self._lock:
            if isinstance(params.get("channel"), str):
                # The channel exists in the workspace whether or not this call succeeds: a post
                # that failed must still find it by name (conversations.list) when it is retried.
                self._channel_id(params["channel"])
            failure = next(
                (f for f in self._failures if f.methods is None or method in f.methods), None
            )
            if failure is not None:
                self._failures.remove(failure)
            else:
                failure = self._outage_failure(method, arrived)
            if failure is not None and not failure.store_first:
                status, body, headers = failure.status, {"ok": False, "error": failure.error}, {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                    body["error"] = "ratelimited"
            else:
                status, body, headers = 200, self._answer(method, params), {}
                if failure is not None:
                    status, body = failure.status, {"ok": False, "error": "fake_lost_response"}
            self.calls.append(Call(method, arrived, params, status))
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _outage_failure(self, method: str, now: float) -> Failure | None:
        for outage in self._outages:
            if outage.start() is None and outage.after is None and method in (outage.failure.methods or (method,)):
                outage.since = now  # its first call
        self._outages = [o for o in self._outages if (end := o.end()) is None or end > now]
        return next((o.failure for o in self._outages if (began := o.start()) is not None and began <= now
                     and (o.failure.methods is None or method in o.failure.methods)), None)

    def _channel_id(self, channel: str) -> str:
        """Slack answers with the channel's id even when a post names it (``#toex-ersou``)."""
        if not channel.startswith("#"):
            return channel
        return self.channels.setdefault(channel[1:], f"C{len(self.channels) + 1:08d}")

    def _next_ts(self) -> str:
        # Real time with a counter in the microseconds, so that ts are unique and ordered.
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "teams-webhook":
            self.teams_cards.append(params)
            return {"ok": True}
        if method == "conversations.list":
            found = [{"id": cid, "name": name, "is_member": True} for name, cid in self.channels.items()]
            return {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}
        if "channel" in params:
            params = {**params, "channel": self._channel_id(params["channel"])}
        if method == "chat.postMessage":
            message = {
                "type": "message",
                "channel": params["channel"],
                "ts": self._next_ts(),
                "text": params.get("text", ""),
                "blocks": params.get("blocks"),
                "metadata": params.get("metadata"),
                "thread_ts": params.get("thread_ts"),
                "posted_at": time.time(),
            }
            self.messages.append(message)
            return {"ok": True, "channel": message["channel"], "ts": message["ts"], "message": _public(message, True)}
        if method == "chat.update":
            for message in self.messages:
                if message["channel"] == params["channel"] and message["ts"] == params["ts"]:
                    message["text"] = params.get("text", message["text"])
                    message["blocks"] = params.get("blocks", message["blocks"])
                    message["edits"] = message.get("edits", 0) + 1
                    return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message["text"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "conversations.history":
            oldest = float(params.get("oldest") or 0)
            metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            found = [
                _public(m, metadata) for m in reversed(self.top_level(params["channel"])) if float(m["ts"]) >= oldest
            ]
            return {"ok": True, "messages": found, "has_more": False, "response_metadata": {"next_cursor": ""}}
        if method == "conversations.replies":
            metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            thread = [m for m in self.messages if m["channel"] == params["channel"] and m["ts"] == params["ts"]]
            thread += self.replies(params["ts"])
            return {"ok": True, "messages": [_public(m, metadata) for m in thread], "has_more": False}
        return {"ok": False, "error": "unknown_method"}


def _public(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    shown = {k: v for k, v in message.items() if k not in ("channel", "posted_at", "metadata") and v is not None}
    if with_metadata and message.get("metadata"):
        shown["metadata"] = message["metadata"]
    return shown
