"""admin_users.session_generation (sign-out ends sessions), messages.simulated_by, failures by address

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("simulated_by", sa.String(length=254), nullable=True))
    op.create_index("ix_admin_login_failures_ip_at", "admin_login_failures", ["ip", "at"])


def downgrade() -> None:
    op.drop_index("ix_admin_login_failures_ip_at", table_name="admin_login_failures")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("simulated_by")
    with op.batch_alter_table("admin_users") as batch_op:
        batch_op.drop_column("session_generation")
