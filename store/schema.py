"""Every table Rounds has, gathered from each model module (for migrations and tests)."""

import store.admin  # noqa: F401 - registers admin tables
import store.costs  # noqa: F401 - registers synced prices
import store.impact  # noqa: F401 - registers the impact rollups
import store.links  # noqa: F401 - registers short-link tables
import store.mentoring  # noqa: F401 - registers mentoring tables
import store.opportunities  # noqa: F401 - registers opportunity tables
import store.programs  # noqa: F401 - registers program tables
import store.retention  # noqa: F401 - registers the prune's tables
import store.weekly  # noqa: F401 - registers the weekly progress switch and the attempts' date index
from store.models import Base

metadata = Base.metadata
