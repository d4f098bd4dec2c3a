"""Partner intake: partners with hashed API tokens, and a receipt per referral received.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("partner_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_partners")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_partners_token_hash")),
    )
    op.create_table(
        "referral_receipts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(128), nullable=False),
        sa.Column("referral_id", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'received', 'processed')", name=op.f("ck_referral_receipts_status")),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"],
                                name=op.f("fk_referral_receipts_partner_id_partners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_receipts")),
        sa.UniqueConstraint("partner_id", "referral_id", name=op.f("uq_referral_receipts_partner_id_referral_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_referral_receipts_reference")),
    )


def downgrade() -> None:
    op.drop_table("referral_receipts")
    op.drop_table("partners")
