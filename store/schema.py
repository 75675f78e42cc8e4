"""Every table Rounds has, gathered from each model module (for migrations and tests)."""

import store.admin  # noqa: F401 - registers admin tables
import store.costs  # noqa: F401 - registers synced prices
import store.mentoring  # noqa: F401 - registers mentoring tables
import store.opportunities  # noqa: F401 - registers opportunity tables
from store.models import Base

metadata = Base.metadata
