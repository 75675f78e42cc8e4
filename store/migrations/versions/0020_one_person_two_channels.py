"""people: one person on SMS and WhatsApp (last WhatsApp text, SMS preferred, each channel's
opt-out), and rows that were one number on two channels merged

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.identity import merge_duplicates

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite, with foreign keys on, dropping the old
    # `people` table would fire every ON DELETE (answers and cards cascade away).
    op.add_column("people", sa.Column("whatsapp_inbound_at", sa.DateTime(), nullable=True))
    for name in ("prefers_sms", "sms_blocked", "whatsapp_blocked"):
        op.add_column(
            "people", sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
    # Until now a person's channel was where they last wrote from: that text opened the window.
    op.execute("UPDATE people SET whatsapp_inbound_at = last_inbound_at WHERE channel = 'whatsapp'")
    op.execute("UPDATE people SET sms_blocked = true, whatsapp_blocked = true WHERE status = 'opted_out'")
    # The tables as they are at this revision (not as the models may describe them later).
    bind = op.get_bind()
    metadata = sa.MetaData()
    metadata.reflect(bind)
    merge_duplicates(bind, metadata)


def downgrade() -> None:
    with op.batch_alter_table("people") as batch_op:
        for name in ("whatsapp_blocked", "sms_blocked", "prefers_sms", "whatsapp_inbound_at"):
            batch_op.drop_column(name)
