"""prices synced from Twilio's Pricing API; each message's actual cost, fetched after it is final

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "actual_cost IS NULL AND twilio_sid IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "synced_prices",
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("price_unit", sa.String(length=8), nullable=False),
        sa.Column("number_type", sa.String(length=16), nullable=False),
        sa.Column("carriers", sa.Integer(), nullable=False),
        sa.Column("synced_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("country", "channel"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("actual_cost", sa.Float(), nullable=True))
        batch.add_column(sa.Column("price_unit", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("cost_checks", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("cost_due_at", store.models.UTCDateTime(), nullable=True))
    op.create_index(
        "ix_messages_cost_pending",
        "messages",
        ["sent_at"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_cost_pending", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("cost_due_at")
        batch.drop_column("cost_checks")
        batch.drop_column("price_unit")
        batch.drop_column("actual_cost")
    op.drop_table("synced_prices")
