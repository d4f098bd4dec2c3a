"""Alerts about situations: each alert keeps its situation (id, threats and bands, members with their roles
and links, version, and the alert it was merged into).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.add_column(sa.Column("situation_id", sa.String(128), nullable=True))
        table.add_column(sa.Column("situation", sa.JSON(), nullable=True))
        table.create_index("ix_alerts_situation_id", ["situation_id"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.drop_index("ix_alerts_situation_id")
        table.drop_column("situation")
        table.drop_column("situation_id")
