"""The nominal store's tables (SQLAlchemy 2 typed ORM), portable between SQLite and PostgreSQL.

The migrations in ``migrations/versions`` create exactly these tables; a test
compares the two on both databases. Change a table here and in a new revision.

>>> {'aliases', 'identifiers', 'match_decisions', 'nominals', 'provenance'} <= set(Base.metadata.tables)
True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from toex_stream.ports.store import DecisionKind, IdentifierKind, SourceKind

# Named constraints, so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A time zone-aware datetime stored as UTC and read back aware.

    PostgreSQL keeps the zone (timestamptz); SQLite keeps none, so the UTC
    value is stored naive and given its zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored: give it a time zone")
        utc = value.astimezone(dt.timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _nominal_fk() -> ForeignKey:
    return ForeignKey("nominals.nominal_id", ondelete="CASCADE")


class NominalRow(Base):
    """A person a force holds, or a provisional one created from an unmatched mention."""

    __tablename__ = "nominals"
    # The retention run looks for provisional nominals not updated for a while.
    __table_args__ = (Index("ix_nominals_provisional_updated_at", "provisional", "updated_at"),)

    nominal_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    nationality: Mapped[str | None] = mapped_column(String(2))
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owning_force: Mapped[str | None] = mapped_column(String(64))
    # True when the nominal has the provisional flag (made from an unmatched mention): kept as a
    # column so that known and provisional nominals can be counted and listed apart.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # sha256 of the contract content without updated_at: a re-import of the same row is a no-op.
    content_hash: Mapped[str] = mapped_column(String(64))


class AliasRow(Base):
    __tablename__ = "aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nominal_id: Mapped[str] = mapped_column(String(128), _nominal_fk(), index=True)
    position: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str] = mapped_column(String(100))


class IdentifierRow(Base):
    """A phone, email, address text, postcode or town of a nominal: as written and normalised.

    An address is stored as its parts (kinds ``address``, ``postcode``, ``town``)
    sharing one ``position``, so each part is searchable and the address can be
    put back together.
    """

    __tablename__ = "identifiers"
    __table_args__ = (
        CheckConstraint("kind IN ('phone', 'email', 'address', 'postcode', 'town')", name="kind"),
        Index("ix_identifiers_kind_normalised", "kind", "normalised"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nominal_id: Mapped[str] = mapped_column(String(128), _nominal_fk(), index=True)
    kind: Mapped[IdentifierKind] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(254))
    normalised: Mapped[str] = mapped_column(String(254))


class ProvenanceRow(Base):
    __tablename__ = "provenance"
    __table_args__ = (CheckConstraint("source_kind IN ('import', 'event', 'topic')", name="source_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    nominal_id: Mapped[str] = mapped_column(String(128), _nominal_fk(), index=True)
    source_kind: Mapped[SourceKind] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class MatchDecisionRow(Base):
    """One decision per mention and model version.

    ``nominal_id`` is deliberately not a foreign key: the decision is the audit
    record of what the model said, and stays when the nominal is erased.
    """

    __tablename__ = "match_decisions"
    __table_args__ = (
        UniqueConstraint("mention_id", "model_version"),
        CheckConstraint("decision IN ('match', 'possible_match', 'new')", name="decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mention_id: Mapped[str] = mapped_column(String(128))
    nominal_id: Mapped[str | None] = mapped_column(String(128), index=True)
    decision: Mapped[DecisionKind] = mapped_column(String(16))
    probability: Mapped[float] = mapped_column(Float)
    weights: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    # Where the mention came from (migration 0018; None on decisions filed before it).
    event: Mapped[str | None] = mapped_column(String(600), index=True)
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    role: Mapped[str | None] = mapped_column(String(32))
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prior_weight: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[int | None] = mapped_column(Integer)
