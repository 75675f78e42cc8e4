"""Every table Rounds has, gathered from each model module (for migrations and tests)."""

import store.admin  # noqa: F401 - registers admin tables
import store.mentoring  # noqa: F401 - registers mentoring tables
import store.opportunities  # noqa: F401 - registers opportunity tables
import store.retention  # noqa: F401 - registers the prune's tables
from store.models import Base

metadata = Base.metadata
