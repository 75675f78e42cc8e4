"""The admins' side: the /admin console (server-rendered, light, usable without JavaScript)
and the /api/v1 JSON API. `create_app` registers `console` and `api`.
"""

# The page modules are imported for what they do: attach their routes to `console`.
from gateway.admin import (  # noqa: F401
    broadcast_pages,
    content_pages,
    errors,
    pages,
    simulator_page,
    student_pages,
)
from gateway.admin.api import api
from gateway.admin.web import console


@console.record_once
def _error_pages(state) -> None:  # type: ignore[no-untyped-def]
    errors.register(state.app)


__all__ = ["api", "console"]
