"""Every table Rounds has, gathered from each model module (for migrations and tests)."""

import store.admin  # noqa: F401 - registers admin tables
import store.authoring  # noqa: F401 - registers question versions and reviews
import store.corrections  # noqa: F401 - registers corrections and the texts they owe
import store.costs  # noqa: F401 - registers synced prices
import store.impact  # noqa: F401 - registers the impact rollups
import store.links  # noqa: F401 - registers short-link tables
import store.mentoring  # noqa: F401 - registers mentoring tables
import store.opportunities  # noqa: F401 - registers opportunity tables
import store.program_authoring  # noqa: F401 - registers program versions and reviews
import store.programs  # noqa: F401 - registers program tables
import store.reports  # noqa: F401 - registers students' reports on questions
import store.retention  # noqa: F401 - registers the prune's tables
import store.translations  # noqa: F401 - registers question translations
import store.weekly  # noqa: F401 - registers the weekly progress switch and the attempts' date index
from store.models import Base

metadata = Base.metadata
