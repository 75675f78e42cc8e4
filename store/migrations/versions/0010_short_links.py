"""short links: one code per (resource or opportunity, channel, country) and clicks per UTC day

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("kind", "target", "channel", "country", name="uq_short_links_target"),
    )
    op.create_table(
        "link_clicks",
        sa.Column("link_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["short_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("link_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("link_clicks")
    op.drop_table("short_links")
