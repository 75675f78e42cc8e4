"""admin accounts, API tokens, login throttling, broadcasts

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 09:00:00

Hangs off 0001 beside the mentoring branch (0002); a merge revision joins them later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "admin_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["admin_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_admin_api_tokens_user_id", "admin_api_tokens", ["user_id"])
    op.create_table(
        "admin_login_failures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_admin_login_failures_email_ip_at", "admin_login_failures", ["email", "ip", "at"])
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(length=8), nullable=False),
        sa.Column("send_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("whatsapp_template", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("segments_per_sms", sa.Integer(), nullable=False),
        sa.Column("total_segments", sa.Integer(), nullable=False),
        sa.Column("estimated_cost", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("started_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("fanned_out_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("finished_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["admin_users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_broadcasts_status", "broadcasts", ["status"])
    # Nullable, no default and no foreign key: a plain ADD COLUMN on both backends,
    # so a large message log is not rewritten.
    op.add_column("messages", sa.Column("broadcast_id", BIG_ID, nullable=True))
    op.create_index("ix_messages_broadcast_id", "messages", ["broadcast_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_broadcast_id", table_name="messages")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("broadcast_id")
    op.drop_index("ix_broadcasts_status", table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_index("ix_admin_login_failures_email_ip_at", table_name="admin_login_failures")
    op.drop_table("admin_login_failures")
    op.drop_index("ix_admin_api_tokens_user_id", table_name="admin_api_tokens")
    op.drop_table("admin_api_tokens")
    op.drop_table("admin_users")
