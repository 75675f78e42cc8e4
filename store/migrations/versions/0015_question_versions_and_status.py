"""questions carry a published version and a status; attempts remember the version they asked

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="published", nullable=False)
        )
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("question_version", sa.Integer(), nullable=True))
    # Every attempt so far asked the first (and only) version of its question.
    op.execute("UPDATE attempts SET question_version = 1")


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("question_version")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("status")
        batch.drop_column("version")
