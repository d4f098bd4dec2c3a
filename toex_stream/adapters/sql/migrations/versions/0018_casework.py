"""The regional teams' workspace: where each match decision came from, what each user last saw of an alert
(and why they looked), and comments on alerts.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("match_decisions") as table:
        table.add_column(sa.Column("event", sa.String(600), nullable=True))
        table.add_column(sa.Column("source_partition", sa.Integer(), nullable=True))
        table.add_column(sa.Column("source_offset", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("role", sa.String(32), nullable=True))
        table.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        table.add_column(sa.Column("prior_weight", sa.Float(), nullable=True))
        table.add_column(sa.Column("candidates", sa.Integer(), nullable=True))
        table.create_index("ix_match_decisions_event", ["event"])
    op.create_table(
        "alert_views",
        sa.Column("user_name", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("version_seen", sa.Integer(), nullable=False),
        sa.Column("events_seen", sa.Integer(), nullable=False),
        sa.Column("members_seen", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_comments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(128), nullable=False, index=True),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
    )
    with op.batch_alter_table("alerts") as table:
        # The queue: a region's alerts by status, newest first.
        table.create_index("ix_alerts_region_status_created", ["region", "status", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as table:
        table.drop_index("ix_alerts_region_status_created")
    op.drop_table("alert_comments")
    op.drop_table("alert_views")
    with op.batch_alter_table("match_decisions") as table:
        table.drop_index("ix_match_decisions_event")
        for column in ("candidates", "prior_weight", "facts", "role", "occurred_at", "source_offset",
                       "source_partition", "event"):
            table.drop_column(column)
