"""The outbox sender's lease: one sender at a time delivers, fenced by a token that grows when it changes hands.

The row of the one lease in use, ``outbox-sender``, is made here, untaken
(no holder, token 0), so that taking it is always a conditional UPDATE.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# toex_stream.adapters.sql.outbox.SENDER_LEASE, written out: a revision must not change when the code does.
SENDER_LEASE = "outbox-sender"


def upgrade() -> None:
    lease = op.create_table(
        "outbox_lease",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_lease")),
    )
    op.bulk_insert(lease, [{"name": SENDER_LEASE, "holder": None, "token": 0, "expires_at": None}])


def downgrade() -> None:
    op.drop_table("outbox_lease")
