"""Retention: indexes on the times the retention run looks up, and when an outbox payload was emptied.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_nominals_provisional_updated_at", "nominals", ["provisional", "updated_at"])
    op.create_index("ix_match_decisions_decided_at", "match_decisions", ["decided_at"])
    op.create_index("ix_alerts_updated_at", "alerts", ["updated_at"])
    op.create_index("ix_referral_receipts_updated_at", "referral_receipts", ["updated_at"])
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("payload_erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("payload_erased_at")
    op.drop_index("ix_referral_receipts_updated_at", "referral_receipts")
    op.drop_index("ix_alerts_updated_at", "alerts")
    op.drop_index("ix_match_decisions_decided_at", "match_decisions")
    op.drop_index("ix_nominals_provisional_updated_at", "nominals")
