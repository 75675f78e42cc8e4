"""people and messages: addresses that are WhatsApp business-scoped user ids (BSUIDs); the BSUID,
the phone number and the username kept apart

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch_op:
        batch_op.alter_column("phone", existing_type=sa.String(32), type_=sa.String(160))
        batch_op.add_column(sa.Column("bsuid", sa.String(160), nullable=True))
        batch_op.add_column(sa.Column("phone_number", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("username", sa.String(64), nullable=True))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.alter_column("phone", existing_type=sa.String(32), type_=sa.String(160))
    # Everyone so far was keyed by their E.164 number.
    op.execute("UPDATE people SET phone_number = phone WHERE phone LIKE '+%'")


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.alter_column("phone", existing_type=sa.String(160), type_=sa.String(32))
    with op.batch_alter_table("people") as batch_op:
        batch_op.drop_column("username")
        batch_op.drop_column("phone_number")
        batch_op.drop_column("bsuid")
        batch_op.alter_column("phone", existing_type=sa.String(160), type_=sa.String(32))
