"""The page's routes, in one router the app mounts next to the JSON API.

``/login`` is public; every other page needs the session (the ``manager-page`` use of
Litestar's JWT auth: a missing one redirects to ``/login``, a temporary password to
``/password``); ``/web/…`` are the JSON endpoints the page's script calls; ``/static/…`` its
CSS and JavaScript. Every state-changing request below this router needs the CSRF token.
None of it is in the OpenAPI document: the document describes the JSON API only.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.static_files import create_static_files_router

from barbershop_core.model import Manager
from barbershop_entrypoints.http.json_depth import limit_json_depth
from barbershop_entrypoints.http.jwt_auth import SessionAuth
from barbershop_entrypoints.http.problems import handle_exception
from barbershop_entrypoints.http.web import alert_pages, auth_pages, client_pages, fetch, registration_pages
from barbershop_entrypoints.http.web.errors import page_error
from barbershop_entrypoints.http.web.rendering import STATIC_DIR, STATIC_PATH
from barbershop_entrypoints.http.web.security import MANAGER_PAGES, csrf_middleware


async def _sane_static_path(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of ``/static``: a NUL in the path makes ``os.stat`` raise ValueError; no file has one."""
    if "\x00" in connection.scope["path"]:
        raise NotFoundException()


def web_router(session: SessionAuth[Manager]) -> Router:
    """The pages; ``session``: the manager page's configured JWT auth."""
    public = Router("/", route_handlers=[auth_pages.login_page, auth_pages.login_submit])
    pages = Router(
        "/",
        route_handlers=[
            auth_pages.logout,
            auth_pages.password_page,
            auth_pages.password_submit,
            registration_pages.new_client_form,
            registration_pages.new_client_form_with_phone,
            registration_pages.submit_registration,
            registration_pages.registration_result,
            client_pages.search_form,
            client_pages.search_clients,
            client_pages.client_card_page,
            client_pages.edit_client_page,
            client_pages.submit_client_edit,
            alert_pages.alerts_page,
            alert_pages.resend_from_page,
        ],
        middleware=[session.middleware],
        guards=session.guards,
    )
    scripts = Router(
        "/web",
        route_handlers=[fetch.phone_check, fetch.notification_state],
        middleware=[session.middleware],
        guards=session.guards,
        before_request=limit_json_depth,
        exception_handlers={Exception: handle_exception},
    )
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        # URLs carry a hash of the files (?v=…), so a browser may keep them for a day.
        cache_control=CacheControlHeader(max_age=86400),
        include_in_schema=False,
        guards=[_sane_static_path],
    )
    return Router(
        "/",
        route_handlers=[public, pages, scripts, static],
        middleware=[csrf_middleware(MANAGER_PAGES)],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
