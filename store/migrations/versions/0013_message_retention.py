"""message retention: daily counts of pruned messages, the prune's run log, reply_to_id without a foreign key

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.models

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite's foreign keys have no names; batch mode names them by this convention to drop one.
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _drop_reply_fk() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("messages_reply_to_id_fkey", "messages", type_="foreignkey")
        return
    with op.batch_alter_table("messages", naming_convention=SQLITE_NAMES) as batch_op:
        batch_op.drop_constraint("fk_messages_reply_to_id_messages", type_="foreignkey")


def upgrade() -> None:
    op.create_table(
        "message_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.Column("opt_outs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "direction", "kind", "status"),
    )
    op.create_table(
        "prune_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("started_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("cutoff", store.models.UTCDateTime(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("held_people", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("longest_batch_ms", sa.Float(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _drop_reply_fk()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key("messages_reply_to_id_fkey", "messages", "messages", ["reply_to_id"], ["id"])
    else:
        with op.batch_alter_table("messages", naming_convention=SQLITE_NAMES) as batch_op:
            batch_op.create_foreign_key(
                "fk_messages_reply_to_id_messages", "messages", ["reply_to_id"], ["id"]
            )
    op.drop_table("prune_runs")
    op.drop_table("message_days")
