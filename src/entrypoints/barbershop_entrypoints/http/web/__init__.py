"""The manager's web page (UC04 steps 1–2 and 9): server-rendered Russian pages over the use cases.

:func:`web_router` is mounted by :func:`barbershop_entrypoints.http.app.create_app` together with
:func:`template_config`. The page calls the use cases directly; its own script talks to two
small JSON endpoints under ``/web`` with the session cookie and a CSRF header, so the JSON
API stays bearer-only.
"""

from __future__ import annotations

from barbershop_entrypoints.http.web.rendering import template_config
from barbershop_entrypoints.http.web.routes import web_router

__all__ = ["template_config", "web_router"]
