"""messages: body_flags records that an inbound text was cleaned or cut before it was kept

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("body_flags", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "body_flags")
