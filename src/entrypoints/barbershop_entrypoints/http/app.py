"""The Litestar app: ``create_app`` is what ``barbershop serve`` runs (uvicorn, ``factory=True``).

Nothing is built at import time. ``create_app`` reads the settings (or takes the container
a test passes in) for the token key its JWT auth signs with, one use per router (see
:mod:`barbershop_entrypoints.http.jwt_auth`). The lifespan builds the container from those
settings (or takes the test's), starts the broker, runs the in-process sweep on the embedded
default, and at shutdown stops what it started and closes what it built.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.types import Message, Scope

from barbershop_core.model import Manager
from barbershop_entrypoints.bootstrap import TOKEN_KEY_PURPOSE, Container, build_container
from barbershop_entrypoints.http.auth import LOGIN_THROTTLE, MANAGER_API, PARTNER
from barbershop_entrypoints.http.body_dto import BodySchemaPlugin, JsonBody
from barbershop_entrypoints.http.client_auth import CLIENT_API
from barbershop_entrypoints.http.controllers import (
    audit,
    auth,
    clients,
    health,
    metrics,
    notifications,
    persons,
    reference,
    registrations,
)
from barbershop_entrypoints.http.controllers.client_account import client_routers
from barbershop_entrypoints.http.controllers.health import BROKER_STARTED
from barbershop_entrypoints.http.controllers.partner import partner_router
from barbershop_entrypoints.http.controllers.webhooks import webhooks_router
from barbershop_entrypoints.http.deps import CONTAINER, DEPENDENCIES
from barbershop_entrypoints.http.json_depth import limit_json_depth
from barbershop_entrypoints.http.jwt_auth import SESSIONS, SessionAuth, bearer_auth, cookie_auth
from barbershop_entrypoints.http.openapi import MANAGER_SECURITY, openapi_config
from barbershop_entrypoints.http.problems import MAX_BODY_BYTES, handle_exception, unsupported_media_type
from barbershop_entrypoints.http.request_id import echo_request_id, request_id_in_logs
from barbershop_entrypoints.http.throttle import LoginThrottle
from barbershop_entrypoints.http.web import template_config, web_router
from barbershop_entrypoints.http.web.account_pages import CLIENT_PAGES, client_web_router
from barbershop_entrypoints.http.web.security import MANAGER_PAGES
from barbershop_entrypoints.metrics import PARTNER_REGISTRATIONS, partner_outcome
from barbershop_entrypoints.settings import Settings
from barbershop_entrypoints.startup_objects import startup_objects_frozen
from barbershop_entrypoints.sweeper import running_in_background

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def require_json(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of the JSON API: a body in another format is 415, not a guess."""
    if request.method not in _BODY_METHODS:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None:  # no declared type: the body is parsed as JSON, and malformed JSON is 400
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise unsupported_media_type(media_type)
    await limit_json_depth(request)


def _manager_router(session: SessionAuth[Manager]) -> Router:
    return Router(
        "/",
        route_handlers=[
            auth.change_password,
            auth.logout,
            persons.check_person_phone,
            persons.list_persons,
            persons.create_person_alone,
            clients.create_client_of_person,
            clients.list_clients,
            clients.client_card,
            clients.update_client_card,
            clients.client_timeline_steps,
            registrations.register,
            notifications.create_notification,
            notifications.notification_alerts,
            notifications.notification_status,
            notifications.resend,
            reference.channels,
            reference.notification_templates,
            audit.audit_trail,
        ],
        middleware=[session.middleware],
        guards=session.guards,
        security=MANAGER_SECURITY,
        before_request=require_json,
    )


def _public_router() -> Router:
    return Router(
        "/",
        route_handlers=[auth.login, notifications.delivery_callback, health.live, health.ready, metrics.metrics],
        before_request=require_json,
    )


def _json_api(sessions: dict[str, SessionAuth[Any]]) -> Router:
    """The manager's and the client's JSON API: every ``data`` body decoded by :class:`JsonBody`."""
    return Router(
        "/",
        route_handlers=[
            _public_router(),
            _manager_router(sessions[MANAGER_API.name]),
            *client_routers(before_request=require_json, session=sessions[CLIENT_API.name]),
        ],
        dto=JsonBody,
        return_dto=None,
    )


_PARTNER_SINGLE_PATH = "/api/register-client"
_PARTNER_BULK_PATH = "/api/register-clients"


async def count_partner_registration(message: Message, scope: Scope) -> None:
    """``before_send`` hook: a partner's single registration, counted by partner and answer.

    Counted here, from the answer, so that the partner API's own module stays as it is.
    The partner is known only once its key was accepted; refused keys are not counted.
    A bulk request is counted here only when refused as a whole; the participants of an
    accepted one are counted by the controller, one by one (``count_partner_participants``).
    """
    if message["type"] != "http.response.start":
        return
    path = scope.get("path")
    if path != _PARTNER_SINGLE_PATH and not (path == _PARTNER_BULK_PATH and message["status"] >= 300):
        return
    partner = scope.get("state", {}).get(PARTNER)
    if partner is None:
        return
    replayed = any(name.lower() == b"idempotent-replayed" for name, _ in message.get("headers", ()))
    PARTNER_REGISTRATIONS.labels(partner.name, partner_outcome(message["status"], replayed=replayed)).inc()


def _package_version() -> str:
    try:
        return version("barbershop-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def _sessions(token_key: bytes, settings: Settings) -> dict[str, SessionAuth[Any]]:
    """The four uses of Litestar's JWT auth, by audience: manager API and page, client API and page."""
    ttl = settings.security.token_ttl
    uses: list[SessionAuth[Any]] = [
        bearer_auth(MANAGER_API, token_key, ttl),
        bearer_auth(CLIENT_API, token_key, ttl),
        *(
            cookie_auth(scheme.audience, token_key, ttl, cookie=scheme.session_cookie, path=scheme.path)
            for scheme in (MANAGER_PAGES, CLIENT_PAGES)
        ),
    ]
    return {use.audience.name: use for use in uses}


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> Litestar:
    """The ASGI app. ``container``: use this one (tests) instead of building one from ``settings``."""
    if container is None:
        settings = settings or Settings.from_env()
        token_key = settings.key_ring().key(TOKEN_KEY_PURPOSE)
    else:
        settings, token_key = container.settings, container.token_key
    sessions = _sessions(token_key, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = container is None
        built = container if container is not None else build_container(settings)
        try:
            app.state[CONTAINER] = built
            app.state[LOGIN_THROTTLE] = LoginThrottle(built.attempts, now=lambda: built.clock.now().timestamp())
            await built.broker.startup()
            app.state[BROKER_STARTED] = True
            async with contextlib.AsyncExitStack() as background:
                if built.settings.embedded:
                    # No separate scheduler on the embedded default: the sweep runs here.
                    await background.enter_async_context(running_in_background(built, sync_reference=True))
                with startup_objects_frozen():
                    yield
        finally:
            app.state[BROKER_STARTED] = False
            if owned:
                await built.aclose()

    return Litestar(
        route_handlers=[
            _json_api(sessions),
            partner_router(),
            webhooks_router(),
            web_router(sessions[MANAGER_PAGES.audience.name]),
            client_web_router(sessions[CLIENT_PAGES.audience.name]),
        ],
        state=State({SESSIONS: sessions}),
        dependencies=DEPENDENCIES,
        exception_handlers={Exception: handle_exception},
        before_send=[echo_request_id, count_partner_registration],
        middleware=[request_id_in_logs],
        lifespan=[lifespan],
        openapi_config=openapi_config(_package_version()),
        plugins=[BodySchemaPlugin()],
        template_config=template_config(),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,
        debug=False,
    )
