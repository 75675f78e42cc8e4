"""people: a partial index on the mentors, so finding a free mentor reads the mentors alone

Before it, every MENTOR text and every waiting student at every tick read all of `people`
(a sequential scan: 1.8 ms at 17,000 learners in the soak, growing with the population).

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MENTORS = sa.text("role = 'mentor'")


def upgrade() -> None:
    op.create_index("ix_people_mentors", "people", ["id"], postgresql_where=MENTORS, sqlite_where=MENTORS)


def downgrade() -> None:
    op.drop_index("ix_people_mentors", table_name="people")
