"""students' reports on questions, and corrections with the one text owed to each student

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "question_reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("question_version", sa.Integer(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=254), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_question_reports_question_status",
        "question_reports",
        ["question_id", "question_version", "status"],
    )
    op.create_index("ix_question_reports_person_id", "question_reports", ["person_id"])
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("old_answer", sa.String(length=1), nullable=False),
        sa.Column("new_answer", sa.String(length=1), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("answered_since", store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_id", "version", name="uq_corrections_question_version"),
    )
    op.create_table(
        "correction_notices",
        sa.Column("correction_id", sa.Integer(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("due_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("queued_at", store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["correction_id"], ["corrections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("correction_id", "person_id"),
    )
    op.create_index("ix_correction_notices_due_at", "correction_notices", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_correction_notices_due_at", table_name="correction_notices")
    op.drop_table("correction_notices")
    op.drop_table("corrections")
    op.drop_index("ix_question_reports_person_id", table_name="question_reports")
    op.drop_index("ix_question_reports_question_status", table_name="question_reports")
    op.drop_table("question_reports")
