"""Amendments: a partner's correction of a referral already received, numbered per receipt.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_receipts") as table:
        table.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("processed_revision", sa.Integer(), nullable=True))
    op.create_table(
        "referral_amendments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("body_digest", sa.String(64), nullable=False),
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["receipt_id"], ["referral_receipts.id"],
                                name=op.f("fk_referral_amendments_receipt_id_referral_receipts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_amendments")),
        sa.UniqueConstraint("receipt_id", "revision", name=op.f("uq_referral_amendments_receipt_id_revision")),
    )
    op.create_index(op.f("ix_referral_amendments_receipt_id"), "referral_amendments", ["receipt_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_referral_amendments_receipt_id"), table_name="referral_amendments")
    op.drop_table("referral_amendments")
    with op.batch_alter_table("referral_receipts") as table:
        table.drop_column("processed_revision")
        table.drop_column("revision")
