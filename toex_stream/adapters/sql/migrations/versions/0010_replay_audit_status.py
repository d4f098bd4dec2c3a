"""A replay is audited when it starts: its row says whether it finished, failed or is still running.

Rows written before were written at the end: they are finished.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replay_audit") as table:
        table.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="finished"))
        table.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replay_audit") as table:
        table.drop_column("finished_at")
        table.drop_column("status")
