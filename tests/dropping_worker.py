"""The worker for the commit-rule test: the real worker, with records acknowledged but never handed to an agent.

    TOEX_TEST_DROP="7:3" [TOEX_TEST_STOCK_FAUST=1] python -m tests.dropping_worker

The first delivery of each ``toex.referrals`` record whose offset is 3 modulo 7
is acknowledged to the consumer and not delivered: what faust-streaming 0.15.3
does to a record its stream skips after a rebalance (generation changed,
flow suspended), the effect of the race, made deterministic. With
``TOEX_TEST_STOCK_FAUST=1`` the fix is switched off: Faust's own consumer,
recovery and commit bookkeeping as the release ships them.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.tables.manager import TableManager
from faust.transport.drivers import aiokafka as faust_aiokafka

import streams.__main__ as worker
from streams import agents, runtime
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.domain.contract import TOPIC_REFERRALS


def dropping(init: Callable[..., None], modulus: int, remainder: int) -> Callable[..., None]:
    """Wrap a consumer's constructor so its delivery callback drops (and acks) the chosen records once."""

    def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        deliver: Callable[[Any], Awaitable[None]] = self.callback
        dropped: set[tuple[int, int]] = set()

        async def maybe_deliver(message: Any) -> None:
            position = (message.partition, message.offset)
            if (message.topic == TOPIC_REFERRALS and message.offset % modulus == remainder
                    and position not in dropped):
                dropped.add(position)
                self.ack(message)  # acknowledged, never processed
                return
            await deliver(message)

        self.callback = maybe_deliver

    return wrapped_init


async def plain(app: faust.App, stream: faust.StreamT, handle: Any) -> None:
    async for event in stream.events():
        await handle([event])


async def no_healing(app: faust.App, kafka: KafkaAccess, on_heal: Any = None) -> None:
    return None


def main() -> None:
    modulus, remainder = (int(part) for part in os.environ.get("TOEX_TEST_DROP", "7:3").split(":"))
    faust_aiokafka.Consumer.__init__ = dropping(faust_aiokafka.Consumer.__init__, modulus, remainder)  # type: ignore[method-assign]  # wrapped in place
    if os.environ.get("TOEX_TEST_STOCK_FAUST") == "1":
        runtime.ToexApp._new_transport = faust.App._new_transport  # type: ignore[method-assign,assignment]  # stock Faust's
        runtime.OrderedTableManager.recovery = TableManager.recovery  # type: ignore[method-assign]  # stock Faust's
        agents.consume = plain
        agents.report_partitions = lambda app, metrics: None
        agents.heal_stalled_partitions = no_healing
    worker.main()


if __name__ == "__main__":
    main()
