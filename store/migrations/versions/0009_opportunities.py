"""opportunities: observerships, scholarships and the like; saved reminders; the weekly digest

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "opportunities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("org", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("tracks", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("approved_by", sa.String(length=254), nullable=True),
        sa.Column("approved_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_opportunities_status_deadline", "opportunities", ["status", "deadline"])
    op.create_table(
        "opportunity_subscriptions",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("seen_until", store.models.UTCDateTime(), nullable=False),
        sa.Column("next_check_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_index(
        "ix_opportunity_subscriptions_next_check_at", "opportunity_subscriptions", ["next_check_at"]
    )
    op.create_table(
        "opportunity_saves",
        sa.Column("id", BigId, nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("remind_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("reminded_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "opportunity_id", name="uq_opportunity_saves"),
    )
    op.create_index("ix_opportunity_saves_remind_at", "opportunity_saves", ["remind_at"])


def downgrade() -> None:
    op.drop_index("ix_opportunity_saves_remind_at", table_name="opportunity_saves")
    op.drop_table("opportunity_saves")
    op.drop_index("ix_opportunity_subscriptions_next_check_at", table_name="opportunity_subscriptions")
    op.drop_table("opportunity_subscriptions")
    op.drop_index("ix_opportunities_status_deadline", table_name="opportunities")
    op.drop_table("opportunities")
