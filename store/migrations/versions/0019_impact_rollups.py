"""impact rollups: additive counts per day and group, and one summary row per learner

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "impact_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("cohort", sa.String(length=7), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("inbound", sa.Integer(), nullable=False),
        sa.Column("outbound", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("actual_cost", sa.Float(), nullable=False),
        sa.Column("priced", sa.Integer(), nullable=False),
        sa.Column("checkin_replies", sa.Integer(), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "country", "channel", "track", "language", "cohort"),
    )
    op.create_table(
        "learner_summary",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("track", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("cohort", sa.String(length=7), nullable=False),
        sa.Column("joined", sa.Date(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("active_mask", sa.BigInteger(), nullable=False),
        sa.Column("mask_day", sa.Date(), nullable=True),
        sa.Column("weeks_mask", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("first_n", sa.Integer(), nullable=False),
        sa.Column("first_correct", sa.Integer(), nullable=False),
        sa.Column("last_n", sa.Integer(), nullable=False),
        sa.Column("last_bits", sa.Integer(), nullable=False),
        sa.Column("last_correct", sa.Integer(), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("retrievability", sa.Float(), nullable=True),
        sa.Column("rolled_day", sa.Date(), nullable=True),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "impact_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("group_rows", sa.Integer(), nullable=False),
        sa.Column("learners", sa.Integer(), nullable=False),
        sa.Column("rolled_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_index("ix_learner_summary_first_day", "learner_summary", ["first_day"])
    op.create_index("ix_learner_summary_last_day", "learner_summary", ["last_day"])
    op.create_index("ix_attempts_answered_at", "attempts", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_attempts_answered_at", table_name="attempts")
    op.drop_index("ix_learner_summary_last_day", table_name="learner_summary")
    op.drop_index("ix_learner_summary_first_day", table_name="learner_summary")
    op.drop_table("impact_rollups")
    op.drop_table("learner_summary")
    op.drop_table("impact_days")
