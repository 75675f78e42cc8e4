"""question_versions and question_reviews: every version of every item with its review; educator and
reviewer capabilities on accounts; the approvals of each published question

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

UTC = store.models.UTCDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(sa.Column("capabilities", sa.JSON(), nullable=True))
    op.execute("UPDATE admin_users SET capabilities = '[]'")
    with op.batch_alter_table("admin_users") as batch:
        batch.alter_column("capabilities", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("approvals", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "question_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("tracks", sa.JSON(), nullable=False),
        sa.Column("difficulty", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("stem", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("answer", sa.String(length=1), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column(
            "author_id", sa.Integer(), sa.ForeignKey("admin_users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("review_by", sa.Date(), nullable=True),
        sa.Column("pair_with", sa.JSON(), nullable=False),
        sa.Column("pair_reason", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.Column("submitted_at", UTC(), nullable=True),
        sa.Column("published_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_id", "language", "version", name="uq_question_versions"),
    )
    op.create_index("ix_question_versions_question_id", "question_versions", ["question_id"])
    op.create_index("ix_question_versions_status", "question_versions", ["status"])
    op.create_table(
        "question_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("question_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "reviewer_id", sa.Integer(), sa.ForeignKey("admin_users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("reviewer", sa.String(length=254), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("counts", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_question_reviews_version_id", "question_reviews", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_question_reviews_version_id", table_name="question_reviews")
    op.drop_table("question_reviews")
    op.drop_index("ix_question_versions_status", table_name="question_versions")
    op.drop_index("ix_question_versions_question_id", table_name="question_versions")
    op.drop_table("question_versions")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("approvals")
    with op.batch_alter_table("admin_users") as batch:
        batch.drop_column("capabilities")
