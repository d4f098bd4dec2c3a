"""The nominal store: nominals, aliases, identifiers, provenance, match decisions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _nominal_id_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["nominal_id"], ["nominals.nominal_id"], name=op.f(f"fk_{table}_nominal_id_nominals"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "nominals",
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("given_name", sa.String(100), nullable=True),
        sa.Column("family_name", sa.String(100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(16), nullable=True),
        sa.Column("nationality", sa.String(2), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("owning_force", sa.String(64), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("nominal_id", name=op.f("pk_nominals")),
    )
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        _nominal_id_fk("aliases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
    )
    op.create_index(op.f("ix_aliases_nominal_id"), "aliases", ["nominal_id"])
    op.create_table(
        "identifiers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(254), nullable=False),
        sa.Column("normalised", sa.String(254), nullable=False),
        sa.CheckConstraint(
            "kind IN ('phone', 'email', 'address', 'postcode', 'town')", name=op.f("ck_identifiers_kind")
        ),
        _nominal_id_fk("identifiers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identifiers")),
    )
    op.create_index(op.f("ix_identifiers_nominal_id"), "identifiers", ["nominal_id"])
    op.create_index(op.f("ix_identifiers_kind_normalised"), "identifiers", ["kind", "normalised"])
    op.create_table(
        "provenance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source_kind IN ('import', 'event', 'topic')", name=op.f("ck_provenance_source_kind")),
        _nominal_id_fk("provenance"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provenance")),
    )
    op.create_index(op.f("ix_provenance_nominal_id"), "provenance", ["nominal_id"])
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(128), nullable=False),
        sa.Column("nominal_id", sa.String(128), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('match', 'possible_match', 'new')", name=op.f("ck_match_decisions_decision")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_decisions")),
        sa.UniqueConstraint("mention_id", "model_version", name=op.f("uq_match_decisions_mention_id_model_version")),
    )
    op.create_index(op.f("ix_match_decisions_nominal_id"), "match_decisions", ["nominal_id"])


def downgrade() -> None:
    op.drop_table("match_decisions")
    op.drop_table("provenance")
    op.drop_table("identifiers")
    op.drop_table("aliases")
    op.drop_table("nominals")
