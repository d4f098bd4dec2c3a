"""The outbox orders a channel's messages by priority (critical first posts, first posts, updates) and
coalesces updates of one alert to one receiver into the latest.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="2"))
        table.add_column(sa.Column("superseded_by", sa.Integer(), nullable=True))
    # Posts queued before priorities existed are first posts: ahead of updates.
    op.execute("UPDATE outbox SET priority = 1 WHERE kind = 'post'")


def downgrade() -> None:
    with op.batch_alter_table("outbox") as table:
        table.drop_column("superseded_by")
        table.drop_column("priority")
