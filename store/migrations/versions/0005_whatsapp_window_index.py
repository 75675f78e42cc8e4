"""people: a partial index on last_inbound_at for WhatsApp students (the tick's nudge query)

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHATSAPP = sa.text("channel = 'whatsapp'")


def upgrade() -> None:
    op.create_index(
        "ix_people_whatsapp_last_inbound",
        "people",
        ["last_inbound_at"],
        postgresql_where=WHATSAPP,
        sqlite_where=WHATSAPP,
    )


def downgrade() -> None:
    op.drop_index("ix_people_whatsapp_last_inbound", table_name="people")
