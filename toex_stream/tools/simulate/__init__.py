"""The simulator: realistic synthetic streams with their ground truth.

``simulate(scenario, events, seed)`` gives a :class:`Simulation`: its events in
arrival order (deterministic for a seed), the networks and the nominals a
force would already hold. Sinks send the events to Kafka or to JSON lines;
the truth and nominals writers record what the right answers are.

>>> sim = simulate("headdress", events=40, seed=7)
>>> [e.topic for e in sim.events()][:3] == [e.topic for e in simulate("headdress", 40, 7).events()][:3]
True
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson

from toex_stream.domain.errors import ToexError
from toex_stream.tools.simulate.people import SimRandom
from toex_stream.tools.simulate.scenarios import (
    DEFAULT_EVENTS,
    SCENARIOS,
    Network,
    NominalRecord,
    SimEvent,
    arrival_order,
)

if TYPE_CHECKING:
    from toex_stream.adapters.kafka_access import KafkaTarget

PERSON_CSV_COLUMNS = [
    "record_id", "given_name", "family_name", "date_of_birth", "gender", "nationality", "phone", "email",
    "address", "postcode", "aliases", "flags", "owning_force",
]


class SimulationError(ToexError):
    """A scenario that cannot be generated as asked."""


@dataclass
class Simulation:
    scenario: str
    seed: int
    total: int
    networks: list[Network]
    nominals: list[NominalRecord]
    _events: Iterator[SimEvent]

    def events(self) -> Iterator[SimEvent]:
        """The events in arrival order (out of event-time order, as feeds deliver them)."""
        return arrival_order(SimRandom(f"{self.seed}:arrival"), self._events)


def simulate(scenario: str, events: int | None = None, seed: int = 1) -> Simulation:
    """Build a scenario's stream; nothing is generated until its events are iterated."""
    if scenario not in SCENARIOS:
        raise SimulationError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    total = DEFAULT_EVENTS[scenario] if events is None else events
    try:
        built = SCENARIOS[scenario](seed, total)
    except ValueError as exc:
        raise SimulationError(str(exc)) from None
    return Simulation(scenario, seed, total, built.networks, built.nominals, built.events)


def encode(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


# -- sinks ------------------------------------------------------------------------------


class EventSink(Protocol):
    def send(self, event: SimEvent, payload: bytes) -> None: ...

    def close(self) -> int:
        """Finish; return how many events could not be delivered."""
        ...


class JsonLinesSink:
    """``{"topic", "key", "value"}`` per line: what ``simulate --out`` writes (the README gives the format)."""

    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = open(path, "wb")  # closed in close()

    def send(self, event: SimEvent, payload: bytes) -> None:
        self._file.write(
            b'{"topic":"%s","key":%s,"value":%s}\n' % (event.topic.encode(), orjson.dumps(event.key), payload)
        )

    def close(self) -> int:
        self._file.close()
        return 0


class KafkaSink:
    """Produces to the topics with acks=all; counts what the broker did not acknowledge."""

    def __init__(self, kafka: KafkaTarget) -> None:
        from toex_stream.adapters.kafka_io import durable_producer

        config: dict[str, str | int] = {
            "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000, "message.timeout.ms": 60_000,
        }
        self._producer = durable_producer(kafka, **config)
        self.failed = 0
        self._first_error: str | None = None

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self._first_error = self._first_error or str(err)

    def send(self, event: SimEvent, payload: bytes) -> None:
        while True:
            try:
                self._producer.produce(
                    event.topic, value=payload, key=event.key.encode(), on_delivery=self._on_delivery
                )
                break
            except BufferError:  # the local queue is full: let the broker catch up
                self._producer.poll(0.05)
        self._producer.poll(0)

    def close(self) -> int:
        remaining = self._producer.flush(120)
        if self._first_error:
            raise SimulationError(f"{self.failed} events were not delivered; first error: {self._first_error}")
        return self.failed + remaining


# -- writers ----------------------------------------------------------------------------


def write_nominals(path: Path, nominals: list[NominalRecord]) -> None:
    """The known nominals as a Person CSV, the file ``toex-stream nominals import`` reads."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=PERSON_CSV_COLUMNS)
        writer.writeheader()
        for record in nominals:
            writer.writerow(record.row())


class TruthWriter:
    """JSON lines: the networks, the nominal records' people, then every event as it is sent."""

    def __init__(self, path: Path, simulation: Simulation) -> None:
        self._file = open(path, "wb")  # closed in close()
        for network in simulation.networks:
            self._write(network.truth())
        for record in simulation.nominals:
            self._write({"type": "nominal", "record_id": record.record_id, "person_id": record.person.person_id})

    def _write(self, line: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(line) + b"\n")

    def event(self, event: SimEvent) -> None:
        self._write(event.truth())

    def close(self) -> None:
        self._file.close()


# -- running --------------------------------------------------------------------------------


def run(
    simulation: Simulation,
    sink: EventSink,
    *,
    rate: float | None,
    truth: TruthWriter | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> tuple[int, float]:
    """Send every event (at ``rate`` per second, or as fast as possible); return (count, seconds)."""
    started = time.perf_counter()
    sent = 0
    for event in simulation.events():
        if rate:
            lag = started + sent / rate - time.perf_counter()
            if lag > 0:
                time.sleep(lag)
        sink.send(event, encode(event.value))
        if truth is not None:
            truth.event(event)
        sent += 1
        if sent % 500 == 0:
            progress(500)
    progress(sent % 500)
    undelivered = sink.close()
    if truth is not None:
        truth.close()
    if undelivered:
        raise SimulationError(f"{undelivered} of {sent} events were not acknowledged by Kafka")
    return sent, time.perf_counter() - started
