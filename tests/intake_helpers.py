"""What the intake tests share: a fake publisher, a migrated store, and the app served from a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import free_port
from toex_stream.adapters.settings import Settings
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.store import build_engine, migrate
from toex_stream.domain.contract import Referral
from toex_stream.domain.intake.errors import PublishFailed

T = TypeVar("T")


class FakePublisher:
    """Records what would have gone to Kafka; ``down`` makes every publish fail as a dead broker would."""

    def __init__(self) -> None:
        self.published: list[Referral] = []
        self.down = False

    async def publish(self, referral: Referral) -> None:
        if self.down:
            raise PublishFailed("Kafka did not acknowledge the write to toex.referrals within 0 s")
        self.published.append(referral)


def intake_store(folder: Path) -> IntakeStore:
    """A migrated SQLite store in ``folder`` (a file: the app reads it from worker threads)."""
    engine = build_engine(Settings(database_url=f"sqlite:///{folder / 'intake.sqlite3'}"))
    migrate(engine)
    return IntakeStore(engine)


def with_client(app: web.Application, scenario: Callable[[TestClient], Awaitable[T]]) -> T:
    """Run ``scenario`` against ``app`` on a loopback server of aiohttp's test utilities."""

    async def main() -> T:
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)

    return asyncio.run(main())


@contextmanager
def served(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from a thread of its own; yield its base URL."""
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the intake app did not start within 30 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def anonymous_referral(referral_id: str) -> dict[str, Any]:
    """A valid duty-to-notify referral: an adult without consent, no identifying details."""
    return {
        "schema_version": 1, "referral_id": referral_id, "submitted_at": "2026-11-02T10:15:00+00:00",
        "exploitation_types": ["labour"], "subjects": [{"role": "potential_victim", "nationality": "RO", "age": 30}],
        "locations": [{"town": "Northampton"}], "narrative": "Works 14 hours a day, wages kept by the landlord.",
        "urgency": "standard", "consent_to_share": False, "subject_is_child": False,
    }
