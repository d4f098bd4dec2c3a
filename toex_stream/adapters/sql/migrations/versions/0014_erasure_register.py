"""Erasure of one person: the erasure register (keyed hashes of identifiers, never the identifiers) and its key.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_register",
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("identifier_hashes", sa.JSON(), nullable=False),
        sa.Column("keep_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nominal_id", name=op.f("pk_erasure_register")),
    )
    op.create_index(op.f("ix_erasure_register_keep_until"), "erasure_register", ["keep_until"])
    op.create_table(
        "erasure_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.LargeBinary(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_key")),
    )


def downgrade() -> None:
    op.drop_table("erasure_key")
    op.drop_index(op.f("ix_erasure_register_keep_until"), table_name="erasure_register")
    op.drop_table("erasure_register")
