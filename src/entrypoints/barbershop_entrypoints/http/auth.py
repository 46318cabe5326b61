"""Who may call what: managers (bearer token), partners (API key), providers (signed callbacks).

Each is a Litestar guard, so a route cannot forget to check: the manager router carries
:func:`require_manager`; the partner endpoint (its own issue) takes :func:`require_partner`
and the :func:`provide_partner` dependency; the delivery callback takes
:func:`require_provider_signature`.

A manager's credentials are read by :data:`CREDENTIAL_READERS` in order; the web page's
session cookie (issue 7) slots in there as a second reader signed for its own purpose.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from barbershop_core.errors import InvalidCredentials, NotFound, PasswordChangeRequired
from barbershop_core.model import Partner
from barbershop_core.use_cases.accounts import AuthenticatePartner, GetManager, authenticate_partner, get_manager
from barbershop_core.use_cases.notification_queries import GetNotification, get_notification
from barbershop_entrypoints.http.deps import MANAGER, container_of
from barbershop_entrypoints.http.params import MAX_ID
from barbershop_entrypoints.http.problems import ApiProblem, unauthorized
from barbershop_entrypoints.http.throttle import LoginThrottle
from barbershop_entrypoints.http.tokens import InvalidToken, TokenSigner

TOKEN_SIGNER: Final = "token_signer"  # noqa: S105 -- the name of a state key, not a secret
LOGIN_THROTTLE: Final = "login_throttle"
PARTNER: Final = "barbershop_partner"
PROVIDER_CHANNEL: Final = "barbershop_provider_channel"

ALLOW_TEMPORARY_PASSWORD: Final = "allow_temporary_password"  # noqa: S105 -- a route option, not a secret
"""Route ``opt`` flag: reachable by a manager who has not changed the temporary password yet."""

SIGNATURE_HEADER: Final = "X-Signature"
API_KEY_HEADER: Final = "X-API-Key"

Connection = ASGIConnection[Any, Any, Any, Any]


def signer_of(state: State) -> TokenSigner:
    signer = state.get(TOKEN_SIGNER)
    if not isinstance(signer, TokenSigner):
        raise RuntimeError("the app's lifespan has not built the token signer")  # noqa: TRY004 -- a wiring bug
    return signer


def throttle_of(state: State) -> LoginThrottle:
    throttle = state.get(LOGIN_THROTTLE)
    if not isinstance(throttle, LoginThrottle):
        raise RuntimeError("create_app has not set up the login throttle")  # noqa: TRY004 -- a wiring bug
    return throttle


PASSWORD_CHANGE: Final = "password"  # noqa: S105 -- a throttle scope, not a secret
"""Throttle scope of change-password attempts (keyed by manager id and address)."""


def client_address(connection: Connection) -> str:
    return connection.client.host if connection.client else "unknown"


def _bearer(connection: Connection) -> str | None:
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


bearer_token = _bearer
"""The token of ``Authorization: Bearer <token>``, or None (the client API reads it too)."""

CREDENTIAL_READERS: Final[tuple[Callable[[Connection], str | None], ...]] = (_bearer,)


async def require_manager(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard: a valid token of an active manager; 403 until a temporary password is changed."""
    token = next((found for reader in CREDENTIAL_READERS if (found := reader(connection))), None)
    if token is None:
        raise unauthorized()
    try:
        claims = signer_of(connection.app.state).verify(token)
    except InvalidToken:
        raise unauthorized("Сессия истекла или токен неверен — войдите снова") from None
    container = container_of(connection.app.state)
    try:
        manager = await get_manager(GetManager(claims.manager_id), container.managers())
    except NotFound:
        raise unauthorized("Учётная запись недоступна — войдите снова") from None
    if claims.session_version != manager.session_version:
        raise unauthorized("Сессия завершена (выход или смена пароля) — войдите снова")
    if manager.must_change_password and not handler.opt.get(ALLOW_TEMPORARY_PASSWORD):
        raise PasswordChangeRequired("Смените временный пароль: POST /api/auth/change-password")
    connection.state[MANAGER] = manager


def _partner_key(connection: Connection) -> str | None:
    return _bearer(connection) or connection.headers.get(API_KEY_HEADER.lower()) or None


async def require_partner(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` of an active partner."""
    key = _partner_key(connection)
    if key is None:
        raise ApiProblem(401, "unauthorized", "Нужен ключ партнёра", "Передайте ключ в заголовке X-API-Key")
    container = container_of(connection.app.state)
    try:
        partner = await authenticate_partner(AuthenticatePartner(key.strip()), container.partners())
    except InvalidCredentials:
        raise ApiProblem(401, "unauthorized", "Неверный ключ партнёра", "Ключ партнёра неверен или отозван") from None
    connection.state[PARTNER] = partner


def provide_partner(request: Request[Any, Any, Any]) -> Partner:
    partner = request.state.get(PARTNER)
    if not isinstance(partner, Partner):
        raise RuntimeError("route needs the require_partner guard")  # noqa: TRY004 -- a wiring bug, not input
    return partner


def _bad_signature(detail: str) -> ApiProblem:
    return ApiProblem(401, "invalid_signature", "Неверная подпись", detail)


def expected_signature(secret: bytes, notification_id: int, body: bytes) -> str:
    """Over ``<notification id>.<raw body>``: a signed report cannot be replayed on another id."""
    return "sha256=" + hmac.new(secret, f"{notification_id}.".encode() + body, hashlib.sha256).hexdigest()


async def require_provider_signature(connection: Connection, _: BaseRouteHandler) -> None:
    """Guard: ``X-Signature: sha256=<hex HMAC-SHA256 of "<id>." + raw body>`` with the channel's secret."""
    presented = connection.headers.get(SIGNATURE_HEADER.lower())
    if not presented:
        raise _bad_signature("Нет заголовка X-Signature")
    if not isinstance(connection, Request):
        raise TypeError("the signature guard protects HTTP routes only")
    notification_id = connection.path_params.get("notification_id")
    if not isinstance(notification_id, int) or not 1 <= notification_id <= MAX_ID:  # the guard runs before validation
        raise _bad_signature("Неизвестное уведомление")
    container = container_of(connection.app.state)
    try:
        notification = await get_notification(GetNotification(notification_id), container.notification_queries())
    except NotFound:
        # The same answer as a bad signature: unsigned requests cannot probe which ids exist.
        raise _bad_signature("Подпись не совпадает с телом запроса") from None
    body = await connection.body()  # the body the handler decodes later is this same cached one
    expected = expected_signature(container.callback_secret(notification.channel), notification_id, body)
    if not hmac.compare_digest(presented.strip().lower().encode(), expected.encode()):
        raise _bad_signature("Подпись не совпадает с телом запроса")
    connection.state[PROVIDER_CHANNEL] = notification.channel


def provide_provider_channel(request: Request[Any, Any, Any]) -> str:
    channel = request.state.get(PROVIDER_CHANNEL)
    if not isinstance(channel, str):
        raise RuntimeError("route needs the require_provider_signature guard")  # noqa: TRY004 -- a wiring bug
    return channel
