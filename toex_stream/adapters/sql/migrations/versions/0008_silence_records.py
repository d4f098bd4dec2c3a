"""What each silence muted, and who ended a silence early.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("silences") as table:
        table.add_column(sa.Column("ended_by", sa.String(128), nullable=True))
    op.create_table(
        "silenced_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("silence_id", sa.String(64), nullable=False),
        sa.Column("muted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nominal_id", sa.String(128), nullable=False),
        sa.Column("mention_id", sa.String(128), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("threat", sa.String(32), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silenced_alerts")),
        sa.UniqueConstraint("silence_id", "mention_id", "threat", "route",
                            name=op.f("uq_silenced_alerts_silence_id_mention_id_threat_route")),
    )
    op.create_index(op.f("ix_silenced_alerts_silence_id"), "silenced_alerts", ["silence_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_silenced_alerts_silence_id"), table_name="silenced_alerts")
    op.drop_table("silenced_alerts")
    with op.batch_alter_table("silences") as table:
        table.drop_column("ended_by")
