"""The alert outbox: alerts with their lifecycle, the outbox of messages to deliver, the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("force_code", sa.String(64), nullable=True),
        sa.Column("threat", sa.String(32), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("risk_score", sa.Float(), nullable=False),
        sa.Column("nominal_ids", sa.JSON(), nullable=False),
        sa.Column("event_refs", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name=op.f("ck_alerts_status")),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_region"), "alerts", ["region"])
    op.create_index(op.f("ix_alerts_status"), "alerts", ["status"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(128), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("slack_channel", sa.String(64), nullable=True),
        sa.Column("slack_ts", sa.String(32), nullable=True),
        sa.CheckConstraint("kind IN ('post', 'update')", name=op.f("ck_outbox_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "alert_id", "receiver", "kind", "version", name=op.f("uq_outbox_alert_id_receiver_kind_version")
        ),
    )
    op.create_index(op.f("ix_outbox_delivered_at_not_before"), "outbox", ["delivered_at", "not_before"])
    op.create_index(op.f("ix_outbox_alert_id_receiver"), "outbox", ["alert_id", "receiver"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("receiver", sa.String(128), nullable=False),
        sa.Column("route", sa.String(128), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("what", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_alert_id"), "audit_log", ["alert_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("outbox")
    op.drop_table("alerts")
