"""mentoring: mentor profiles, pairs, waiting list, check-ins, safeguarding flags

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:00:00.000000

Only the mentoring tables: the admin branch (0003) also hangs off 0001 and brings its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE_ONLY = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "mentor_profiles",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("display_name", sa.String(length=24), nullable=False),
        sa.Column("tracks", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "mentor_pairs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("mentor_id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("thread_open", sa.Boolean(), nullable=False),
        sa.Column("last_student_message_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("last_mentor_message_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("ended_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["mentor_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mentor_id", "number", name="uq_mentor_pairs_number"),
    )
    with op.batch_alter_table("mentor_pairs", schema=None) as batch_op:
        batch_op.create_index("ix_mentor_pairs_mentor_status", ["mentor_id", "status"], unique=False)
        batch_op.create_index(
            "uq_mentor_pairs_active_student",
            ["student_id"],
            unique=True,
            sqlite_where=ACTIVE_ONLY,
            postgresql_where=ACTIVE_ONLY,
        )

    op.create_table(
        "mentor_waitlist",
        sa.Column("student_id", BigId, nullable=False),
        sa.Column("since", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("student_id"),
    )
    op.create_table(
        "checkins",
        sa.Column("id", BigId, nullable=False),
        sa.Column("pair_id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False),
        sa.Column("mentor_id", BigId, nullable=False),
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("asked_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("answered_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=160), nullable=True),
        sa.Column("summarised_at", store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["mentor_id"], ["people.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["pair_id"], ["mentor_pairs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pair_id", "week", name="uq_checkins_pair_week"),
    )
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_index("ix_checkins_mentor_week", ["mentor_id", "week"], unique=False)
        batch_op.create_index("ix_checkins_student_asked", ["student_id", "asked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkins_summarised_at"), ["summarised_at"], unique=False)

    op.create_table(
        "safeguarding_flags",
        sa.Column("id", BigId, nullable=False),
        sa.Column("person_id", BigId, nullable=True),
        sa.Column("pair_id", BigId, nullable=True),
        sa.Column("checkin_id", BigId, nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("matched", sa.JSON(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkins.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["pair_id"], ["mentor_pairs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safeguarding_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safeguarding_flags_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            "ix_safeguarding_flags_resolved_created", ["resolved", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("safeguarding_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_safeguarding_flags_resolved_created")
        batch_op.drop_index(batch_op.f("ix_safeguarding_flags_person_id"))

    op.drop_table("safeguarding_flags")
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkins_summarised_at"))
        batch_op.drop_index("ix_checkins_student_asked")
        batch_op.drop_index("ix_checkins_mentor_week")

    op.drop_table("checkins")
    op.drop_table("mentor_waitlist")
    with op.batch_alter_table("mentor_pairs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mentor_pairs_active_student", sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY
        )
        batch_op.drop_index("ix_mentor_pairs_mentor_status")

    op.drop_table("mentor_pairs")
    op.drop_table("mentor_profiles")
