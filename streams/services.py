"""What the agents need from the outside world, built once by the composition root (``streams/__main__.py``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from streams import topics
from streams.metrics import WorkerMetrics, build_metrics
from toex_stream.adapters.kafka_access import KafkaAccess
from toex_stream.adapters.sql.intake_store import IntakeStore
from toex_stream.adapters.sql.outbox import Outbox
from toex_stream.adapters.sql.silences import Silences
from toex_stream.domain.alerting.routes_file import RoutesFile
from toex_stream.domain.erasure import NO_ONE, ErasedPeople
from toex_stream.domain.matching.index import Matcher
from toex_stream.domain.scoring.scorer import Scorer
from toex_stream.ports.alerts import Notifier
from toex_stream.ports.audit import AuditTrail
from toex_stream.ports.erasure import ErasureRegister
from toex_stream.ports.store import NominalStore

AGENTS = ("enrich", "match", "score", "alert", "feedback", "training", "nominals", "erasures")


class OwnNominals:
    """The toex.nominals messages this worker stored before it sent them (its provisional nominals).

    Read back by the nominals follower, such a message need not be stored
    again: the store had it before the broker did. Bounded: past ``limit``
    the oldest are forgotten, and then simply stored again (it changes nothing).
    """

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._values: dict[bytes, bytes] = {}

    def sent(self, key: bytes, value: bytes) -> None:
        self._values.pop(key, None)
        self._values[key] = value
        if len(self._values) > self.limit:
            del self._values[next(iter(self._values))]

    def stored(self, key: bytes | None, value: bytes | None) -> bool:
        """Whether this is a message this worker sent after storing it (once: it is forgotten here)."""
        if key is None or value is None or self._values.get(key) != value:
            return False
        del self._values[key]
        return True


@dataclass
class Services:
    """What the agents need from the outside world, built once by the composition root."""

    kafka: KafkaAccess  # the brokers and credentials of the clients the worker makes beside Faust's own
    store: NominalStore
    matcher: Matcher
    scorer: Scorer
    checkpoint_file: Path
    outbox: Outbox
    routes: RoutesFile
    notifiers: dict[str, Notifier]
    silences: Silences
    # Receipts of partners' referrals: the match agent marks each processed (and matched or not).
    receipts: IntakeStore | None = None
    # u from random pairs of the loaded nominals, unless a trained model was given.
    estimate_u_on_load: bool = True
    # Set once this worker has read every nominal on toex.nominals: matching waits for it.
    nominals_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    # Where the match model is written once the nominals are loaded, for replay to match as this worker does.
    match_model_file: Path | None = None
    # The provisional nominals this worker stored and sent: the follower need not store them again.
    own_nominals: OwnNominals = field(default_factory=OwnNominals)
    # The s.62 log: what the steps collected and combined, written with the batch's rows.
    audit: AuditTrail | None = None
    # The erasure register, and what of it this worker holds: loaded before the first batch that needs it,
    # and again whenever toex.nominals carries a tombstone (streams/followers.py).
    erasures: ErasureRegister | None = None
    erased: ErasedPeople = NO_ONE
    erased_loaded: bool = False
    # The dashboard's address (TOEX_PUBLIC_URL): chat messages link to each alert's page there.
    public_url: str | None = None
    # The worker's /metrics series (its own registry).
    metrics: WorkerMetrics = field(default_factory=lambda: build_metrics(AGENTS, [t.name for t in topics.ALL]))
