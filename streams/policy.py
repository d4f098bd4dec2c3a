"""One error policy for every agent: dead-letter what is malformed, retry what is transient, stall on the database.

An agent hands each record to :func:`process` with the step that handles it.
What the step raises decides what happens to the record:

- a record that is not what its topic promises (a pydantic ``ValidationError``
  that the step's own decoding did not catch) goes to ``toex.deadletter`` with
  the reason, and the agent goes on;
- a database error stalls the agent on that record: it is tried again with
  backoff until the database answers, and never skipped, so a database outage
  delays alerts but loses none;
- a transient Kafka or network error is retried the same way;
- anything else (a bug this record triggers) is tried ``INTERNAL_ATTEMPTS``
  times, then dead-lettered as ``internal`` with the exception's type, so one
  poison record cannot stop a worker or hold every partition behind it.

While it waits, a stalled agent gives up the record if the group rebalances
(the record is then not counted as processed: the commit stays behind it, and
whoever owns the partition next reads it again), so a database outage never
blocks a rebalance.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import faust
from aiokafka.errors import KafkaError as AioKafkaError
from confluent_kafka import KafkaException
from faust.exceptions import PartitionsMismatch
from faust.types import Message
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from streams.metrics import AgentErrorKind, WorkerMetrics
from toex_stream.domain.contract import DeadLetterKind
from toex_stream.domain.pipeline import Effects

log = logging.getLogger(__name__)

T = TypeVar("T")
Decision = Literal["dead_letter", "retry", "stall"]
INTERNAL_ATTEMPTS = 3
BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def on_processing_error(exc: BaseException) -> tuple[Decision, AgentErrorKind]:
    """What to do with a record whose step raised ``exc``, and the kind to count it as.

    >>> on_processing_error(ValueError("x"))
    ('retry', 'internal')
    """
    if isinstance(exc, ValidationError):
        return "dead_letter", "contract"
    if isinstance(exc, SQLAlchemyError):
        return "stall", "database"
    if isinstance(exc, (AioKafkaError, KafkaException, OSError, asyncio.TimeoutError, PartitionsMismatch)):
        return "retry", "transient"
    return "retry", "internal"


def backoff(attempt: int) -> float:
    return BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]


DeadLetterSender = Callable[[Message, DeadLetterKind, str], Awaitable[None]]


@dataclass(frozen=True)
class Failed:
    """A step that must not be tried again: what it raised, as what kind, after how many attempts."""

    exc: BaseException
    kind: AgentErrorKind
    attempts: int


@dataclass
class Policy:
    """The policy bound to a worker: where dead letters go, what is counted, how to tell a rebalance."""

    app: faust.App
    metrics: WorkerMetrics
    send_dead_letter: DeadLetterSender
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def process(self, agent: str, message: Message,
                      step: Callable[[Message], Awaitable[None]]) -> bool:
        """Run ``step`` on ``message`` under the policy; False when the record was given up unprocessed."""
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        outcome = await self._retrying(agent, functools.partial(step, message), [message], where)
        if isinstance(outcome, Failed):
            await self._give_up(agent, message, outcome.exc, outcome.kind, outcome.attempts)
            return True
        if outcome:
            self.metrics.processed(agent)
        return outcome

    async def process_batch(self, agent: str, messages: list[Message], compute: Callable[[Message], Effects],
                            apply: Callable[[Effects], Awaitable[None]]) -> list[bool]:
        """Compute each record's effects, then apply the batch's together; per record, whether it is done.

        ``compute`` is pure (the pipeline's step on one record): what it raises
        is a fault of that record, so the record goes to the dead letters at
        once and the others go on. The effects are applied under the policy: a
        database or network error is tried again with backoff, the batch given
        up (every record unprocessed) if the group rebalances meanwhile; a bug
        in applying them is tried ``INTERNAL_ATTEMPTS`` times, then each
        record's effects are applied on their own under :meth:`process`, so
        only the record whose effects fail is dead-lettered.
        """
        done = [True] * len(messages)
        parts: list[tuple[int, Effects]] = []
        for i, message in enumerate(messages):
            try:
                parts.append((i, compute(message)))
            except Exception as exc:  # a record the step cannot handle; the batch goes on
                await self._give_up(agent, message, exc, on_processing_error(exc)[1], attempts=1)
        batch = Effects()
        for _, effects in parts:
            batch += effects
        outcome = await self._retrying(agent, functools.partial(apply, batch), messages, f"a batch of {len(messages)}")
        if isinstance(outcome, Failed):
            self.metrics.agent_error(agent, outcome.kind)
            for i, effects in parts:
                async def alone(_message: Message, effects: Effects = effects) -> None:
                    await apply(effects)
                done[i] = await self.process(agent, messages[i], alone)
            return done
        if not outcome:
            return [False] * len(messages)
        for _ in parts:
            self.metrics.processed(agent)
        return done

    async def _retrying(self, agent: str, call: Callable[[], Awaitable[None]], messages: list[Message],
                        where: str) -> bool | Failed:
        """``call()`` until it succeeds (True), the group rebalances while it waits (False), or it must not be
        tried again: a malformed record, or a bug after ``INTERNAL_ATTEMPTS`` (:class:`Failed`).

        Database and network errors are tried again with backoff for as long as they last.
        """
        attempt = 0
        while True:
            try:
                await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the one place every agent's errors are decided
                decision, kind = on_processing_error(exc)
                attempt += 1
                if decision == "dead_letter" or (kind == "internal" and attempt >= INTERNAL_ATTEMPTS):
                    return Failed(exc, kind, attempt)
                self.metrics.agent_error(agent, kind)
                wait = backoff(attempt - 1)
                log.warning("%s: %s at %s (%s, attempt %d); trying it again in %.1f s", agent,
                            type(exc).__name__, where, kind, attempt, wait)
                await self.sleep(wait)
                if self.app.rebalancing or any(m.generation_id != self.app.consumer_generation_id for m in messages):
                    log.warning("%s: the group rebalanced while %s waited; it is left for the next owner",
                                agent, where)
                    return False
            else:
                return True

    async def _give_up(self, agent: str, message: Message, exc: BaseException, kind: AgentErrorKind,
                       attempts: int) -> None:
        """Send ``message`` to the dead letters, naming the exception's type only (its text may quote values)."""
        self.metrics.agent_error(agent, kind)
        log.error("%s: %s at %s[%d]@%d after %d attempt(s); sent to the dead letters", agent, type(exc).__name__,
                  message.topic, message.partition, message.offset, attempts)
        letter_kind: DeadLetterKind = "schema" if kind == "contract" else "internal"
        await self.send_dead_letter(message, letter_kind, f"{agent} could not process it: {type(exc).__name__}")
        self.metrics.processed(agent)


async def until_done(call: Callable[[], Awaitable[T]], agent: str, metrics: WorkerMetrics,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """``call()``, tried again with backoff for as long as it fails on the database or the network.

    For the followers that every later record depends on (the nominals): they
    stall until the outage ends, and never skip. Other errors are raised.
    """
    attempt = 0
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            decision, kind = on_processing_error(exc)
            if decision == "dead_letter" or kind == "internal":
                raise
            metrics.agent_error(agent, kind)
            wait = backoff(attempt)
            attempt += 1
            log.warning("%s: %s (%s, attempt %d); trying again in %.1f s", agent, type(exc).__name__, kind,
                        attempt, wait)
            await sleep(wait)
