"""The agents' error policy without a broker: what becomes a dead letter, what stalls, what is given up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError

from streams.metrics import build_metrics
from streams.policy import INTERNAL_ATTEMPTS, Policy, until_done
from toex_stream.domain import contract
from toex_stream.domain.pipeline import Effects, Send


@dataclass
class FakeApp:
    rebalancing: bool = False
    consumer_generation_id: int = 1


@dataclass
class FakeMessage:
    topic: str = "toex.observations"
    partition: int = 2
    offset: int = 40
    generation_id: int = 1


@dataclass
class Recorder:
    letters: list[tuple[str, str]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    async def dead_letter(self, message: FakeMessage, kind: str, reason: str) -> None:
        self.letters.append((kind, reason))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def failing(*errors: BaseException):
    remaining = list(errors)

    async def step(message: FakeMessage) -> None:
        if remaining:
            raise remaining.pop(0)

    return step


def database_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


def invalid() -> ValidationError:
    try:
        contract.Score.model_validate_json(b"{}")
    except ValidationError as exc:
        return exc
    raise AssertionError("an empty object is not a Score")


def run(policy: Policy, step) -> bool:
    return asyncio.run(policy.process("match", FakeMessage(), step))  # type: ignore[arg-type]  # a stand-in for faust's Message


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def policy_for(recorder: Recorder, app: FakeApp | None = None) -> Policy:
    return Policy(app or FakeApp(), build_metrics(["match"]), recorder.dead_letter, sleep=recorder.sleep)  # type: ignore[arg-type]  # fakes of faust's


def test_a_database_outage_stalls_on_the_record_until_the_database_answers(recorder: Recorder) -> None:
    policy = policy_for(recorder)
    assert run(policy, failing(*(database_down() for _ in range(7)))) is True
    assert recorder.letters == [], "nothing is skipped"
    assert recorder.sleeps == [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 30.0], "backoff, capped"
    assert policy.metrics.agent_errors.labels("match", "database")._value.get() == 7


def test_a_malformed_record_is_dead_lettered_at_once(recorder: Recorder) -> None:
    assert run(policy_for(recorder), failing(invalid())) is True
    assert recorder.letters == [("schema", "match could not process it: ValidationError")]
    assert recorder.sleeps == []


def test_a_bug_is_tried_again_then_dead_lettered_so_it_cannot_hold_the_partition(recorder: Recorder) -> None:
    assert run(policy_for(recorder), failing(*(KeyError("x") for _ in range(10)))) is True
    assert recorder.letters == [("internal", "match could not process it: KeyError")]
    assert len(recorder.sleeps) == INTERNAL_ATTEMPTS - 1


def test_a_stalled_record_is_given_up_unprocessed_when_the_group_rebalances(recorder: Recorder) -> None:
    app = FakeApp()

    async def step(message: FakeMessage) -> None:
        app.rebalancing = True
        raise database_down()

    assert run(policy_for(recorder, app), step) is False, "not counted: the next owner reads it again"
    assert recorder.letters == []


def test_the_nominals_follower_waits_out_a_database_outage(recorder: Recorder) -> None:
    attempts = iter([database_down(), database_down(), "stored"])

    async def store() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    metrics = build_metrics(["nominals"])
    assert asyncio.run(until_done(store, "nominals", metrics, sleep=recorder.sleep)) == "stored"
    assert recorder.sleeps == [0.5, 1.0]


# -- batches: pure steps per record, the batch's effects applied together ---------------------------


class Payload(BaseModel):
    n: int


def batch_of(count: int) -> list[FakeMessage]:
    return [FakeMessage(offset=40 + i) for i in range(count)]


def effects_of(message: FakeMessage) -> Effects:
    return Effects(sends=[Send("toex.matches", str(message.offset), Payload(n=message.offset))])


def keys(effects: Effects) -> list[str]:
    return [send.key for send in effects.sends]


def run_batch(policy: Policy, messages: list[FakeMessage], compute, apply) -> list[bool]:
    return asyncio.run(policy.process_batch("match", messages, compute, apply))  # type: ignore[arg-type]  # fakes


def test_a_batch_is_applied_once_and_a_record_its_step_rejects_is_dead_lettered_alone(recorder: Recorder) -> None:
    applied: list[list[str]] = []

    def compute(message: FakeMessage) -> Effects:
        if message.offset == 41:
            raise invalid()
        return effects_of(message)

    async def apply(effects: Effects) -> None:
        applied.append(keys(effects))

    policy = policy_for(recorder)
    assert run_batch(policy, batch_of(3), compute, apply) == [True, True, True]
    assert applied == [["40", "42"]], "one application for the batch, without the rejected record"
    assert recorder.letters == [("schema", "match could not process it: ValidationError")]
    assert policy.metrics.agent_processed.labels("match")._value.get() == 3


def test_a_database_outage_stalls_the_batch_until_the_database_answers(recorder: Recorder) -> None:
    outcomes = [database_down(), database_down(), None]
    applied: list[list[str]] = []

    async def apply(effects: Effects) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        applied.append(keys(effects))

    assert run_batch(policy_for(recorder), batch_of(2), effects_of, apply) == [True, True]
    assert applied == [["40", "41"]] and recorder.sleeps == [0.5, 1.0] and recorder.letters == []


def test_a_stalled_batch_is_given_up_unprocessed_when_the_group_rebalances(recorder: Recorder) -> None:
    app = FakeApp()

    async def apply(effects: Effects) -> None:
        app.rebalancing = True
        raise database_down()

    assert run_batch(policy_for(recorder, app), batch_of(3), effects_of, apply) == [False, False, False]
    assert recorder.letters == []


def test_a_bug_applying_a_batch_isolates_the_record_whose_effects_fail(recorder: Recorder) -> None:
    applied: list[list[str]] = []

    async def apply(effects: Effects) -> None:
        if "41" in keys(effects):
            raise KeyError("x")
        applied.append(keys(effects))

    assert run_batch(policy_for(recorder), batch_of(3), effects_of, apply) == [True, True, True]
    assert applied == [["40"], ["42"]], "after the batch failed, each record's effects on their own"
    assert recorder.letters == [("internal", "match could not process it: KeyError")]
