"""Each receipt keeps a digest of the referral it received, so that a resubmission with another body is refused.

Receipts made before have none: a resubmission of one is taken as the same referral, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_receipts") as table:
        table.add_column(sa.Column("body_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referral_receipts") as table:
        table.drop_column("body_digest")
