"""The nominal store: the port the core talks to, and the values that cross it.

Known nominals, their aliases and identifiers, where each came from
(provenance), provisional nominals created from unmatched mentions, and every
match decision. The core depends only on :class:`NominalStore`; the SQLAlchemy
adapter lives in :mod:`toex_stream.adapters.sql.store` and is built by the
composition root (``build_engine``, ``migrate``, ``SqlAlchemyNominalStore``).

>>> Provenance("import", "nominals.csv:2").source_kind
'import'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from toex_stream.domain import contract
from toex_stream.domain.clock import utc_now
from toex_stream.domain.errors import ToexError

SourceKind = Literal["import", "event", "topic"]
IdentifierKind = Literal["phone", "email", "address", "postcode", "town"]
DecisionKind = contract.MatchDecisionKind  # one definition, in the contract
UpsertOutcome = Literal["created", "updated", "unchanged"]

# A provisional nominal carries this flag: the flag travels with it on toex.nominals, so
# every worker's store and index know it for what it is (the matcher sets the same flag).


class StoreError(ToexError):
    """The nominal store cannot be reached, migrated or written."""


@dataclass(frozen=True)
class Provenance:
    """Where a nominal's current content came from.

    ``source_ref`` says which record: ``"nominals.csv:17"`` (file and line) for an
    import, the mention id for an event, ``"toex.nominals:3:1200"`` for a topic.
    """

    source_kind: SourceKind
    source_ref: str
    recorded_at: dt.datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class MatchDecision:
    """What the matcher decided for one mention, with the per-field weights that explain it.

    ``nominal_id`` is the matched nominal, or the provisional one a ``new``
    decision created; None is kept for a decision that names no nominal. One
    decision per (mention_id, model_version): a replay with the same model
    records nothing new.
    """

    mention_id: str
    nominal_id: str | None
    decision: DecisionKind
    probability: float
    weights: list[dict[str, Any]]
    model_version: str
    decided_at: dt.datetime
    # Where the mention came from, for the people who review the alerts it led to: the event ("topic:key"),
    # the input message's partition and offset, the event's time, the role it named the person in, the
    # event's facts (no personal data), and the matcher's prior and number of candidates.
    event: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    occurred_at: dt.datetime | None = None
    role: str | None = None
    facts: dict[str, Any] | None = None
    prior_weight: float | None = None
    candidates: int | None = None

    def __post_init__(self) -> None:
        if self.decision not in get_args(contract.MatchDecisionKind):
            raise ValueError(f"decision {self.decision!r} must be 'match', 'possible_match' or 'new'")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability {self.probability} must be between 0 and 1")


@dataclass(frozen=True)
class ChangeAudit:
    """Who changes nominals and why: the store logs what it created and, per nominal, which fields it changed."""

    actor: str
    why: str
    source: str  # where the nominals came from (a file's name), never personal data


class NominalStore(Protocol):
    """Known and provisional nominals, their provenance, and match decisions."""

    def upsert_nominal(self, nominal: contract.Nominal, provenance: Provenance) -> bool:
        """Store ``nominal`` (created or replaced); False when its content is already stored as it is."""
        ...

    def upsert_nominals(
        self,
        entries: Sequence[tuple[contract.Nominal, Provenance]],
        before_commit: Callable[[list[contract.Nominal]], None] | None = None,
        *,
        before_write: Callable[[list[contract.Nominal]], None] | None = None,
        audit: ChangeAudit | None = None,
    ) -> list[UpsertOutcome]:
        """Store a batch in one transaction; one outcome per entry.

        With ``audit``, the s.62 log gets, in the same transaction, one
        collection entry naming the nominals created and one alteration entry
        per nominal updated, naming the fields that changed.

        ``before_commit`` is given the batch's created and updated nominals
        before it commits: if it raises (the topic cannot be written), nothing
        of the batch is stored, so importing again sends it again.
        ``before_write`` is given them as soon as they are known, before their
        rows are written (to start sending them while the database works);
        if it raises, nothing is stored either.
        """
        ...

    def erase_nominal(self, nominal_id: str) -> bool:
        """Delete a nominal with its aliases, identifiers and provenance; False if it was not there."""
        ...

    def get_nominal(self, nominal_id: str) -> contract.Nominal | None:
        """The stored nominal, identifiers as they were written; None if unknown."""
        ...

    def is_provisional(self, nominal_id: str) -> bool | None:
        """Whether the nominal was created from an unmatched mention (it has the provisional flag); None if unknown."""
        ...

    def iter_nominals(self, *, provisional: bool | None = None) -> Iterator[contract.Nominal]:
        """Every nominal (or only provisional / only known ones), streamed page by page."""
        ...

    def count_nominals(self, *, provisional: bool | None = None) -> int:
        """How many nominals are stored (or only provisional / only known ones)."""
        ...

    def find_by_identifier(self, kind: IdentifierKind, value: str) -> list[str]:
        """Ids of the nominals holding this phone, email, address, postcode or town (normalised first)."""
        ...

    def provenance_of(self, nominal_id: str) -> list[Provenance]:
        """Where each stored version of the nominal came from, oldest first."""
        ...

    def record_decision(self, decision: MatchDecision) -> bool:
        """Keep a match decision; False if one for this mention and model version is already kept."""
        ...

    def record_decisions(self, decisions: Sequence[MatchDecision]) -> int:
        """Keep many decisions in one transaction; how many were new.

        As :meth:`record_decision` for each: one already kept for its mention and
        model version (or earlier in ``decisions``) is skipped, not an error.
        """
        ...

    def decisions_for(self, mention_id: str) -> list[MatchDecision]:
        """The decisions kept for a mention, oldest first (one per model version)."""
        ...
