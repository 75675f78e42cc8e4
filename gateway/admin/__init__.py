"""The admins' side: the /admin console (server-rendered, light, usable without JavaScript)
and the /api/v1 JSON API. `create_app` registers `console` and `api`.
"""

# The page modules are imported for what they do: attach their routes to `console`.
from flask.blueprints import BlueprintSetupState

from gateway.admin import (  # noqa: F401
    authoring_pages,
    broadcast_pages,
    cleaning,
    clicks,
    content_pages,
    cost_api,
    cost_pages,
    errors,
    impact_api,
    impact_pages,
    item_api,
    item_pages,
    opportunity_api,
    opportunity_pages,
    pages,
    program_api,
    program_authoring_pages,
    program_pages,
    question_api,
    simulator_page,
    student_pages,
)
from gateway.admin.api import api
from gateway.admin.web import console


@console.record_once
def _error_pages(state: BlueprintSetupState) -> None:
    errors.register(state.app)


# Everything an admin or a program sends is cleaned once, before any view reads it.
console.before_request(cleaning.clean_request)
api.before_request(cleaning.clean_request)

__all__ = ["api", "console"]
