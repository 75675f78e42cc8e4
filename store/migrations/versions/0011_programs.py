"""programs: days, cohorts, enrolments and certificates

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("tracks", sa.JSON(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "program_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("lesson", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "day", name="uq_program_days"),
    )
    op.create_table(
        "program_cohorts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("program_id", "starts_on", name="uq_program_cohorts"),
    )
    op.create_table(
        "enrolments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_sent_on", sa.Date(), nullable=True),
        sa.Column("next_used_on", sa.Date(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("enrolled_at", UTC(), nullable=False),
        sa.Column("completed_at", UTC(), nullable=True),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cohort_id"], ["program_cohorts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "program_id", name="uq_enrolments"),
    )
    op.create_index("ix_enrolments_person_status", "enrolments", ["person_id", "status"])
    op.create_table(
        "certificates",
        sa.Column("id", BigId, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("enrolment_id", BigId, nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=60), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("answered_share", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTC(), nullable=False),
        sa.Column("revoked_at", UTC(), nullable=True),
        sa.Column("revoked_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("enrolment_id"),
    )


def downgrade() -> None:
    op.drop_table("certificates")
    op.drop_index("ix_enrolments_person_status", table_name="enrolments")
    op.drop_table("enrolments")
    op.drop_table("program_cohorts")
    op.drop_table("program_days")
    op.drop_table("programs")
