"""Who may call what: managers (bearer token), partners (API key), providers (signed callbacks).

The manager API's router carries the :data:`MANAGER_API` use of Litestar's JWT auth (its
middleware and :meth:`~barbershop_entrypoints.http.jwt_auth.Audience.permanent_password_guard`,
see :mod:`barbershop_entrypoints.http.jwt_auth`); the partner endpoint takes
:func:`require_partner` and reads the partner it let in with :func:`guarded_partner`; the delivery callback
takes :func:`require_provider_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from barbershop_core.errors import InvalidCredentials, NotFound, PasswordChangeRequired
from barbershop_core.model import Manager, Partner
from barbershop_core.use_cases.accounts import AuthenticatePartner, authenticate_partner
from barbershop_core.use_cases.notification_queries import GetNotification, get_notification
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.jwt_auth import ALLOW_TEMPORARY_PASSWORD, MANAGERS, Audience, Refusal, bearer_token
from barbershop_entrypoints.http.params import MAX_ID
from barbershop_entrypoints.http.problems import ApiProblem, too_many_attempts, unauthorized
from barbershop_entrypoints.http.throttle import LOGIN_SCOPE, LoginThrottle

__all__ = ["ALLOW_TEMPORARY_PASSWORD", "MANAGER_API", "bearer_token"]

LOGIN_THROTTLE: Final = "login_throttle"
PARTNER: Final = "barbershop_partner"
PROVIDER_CHANNEL: Final = "barbershop_provider_channel"

SIGNATURE_HEADER: Final = "X-Signature"
API_KEY_HEADER: Final = "X-API-Key"

Connection = ASGIConnection[Any, Any, Any, Any]


def throttle_of(state: State) -> LoginThrottle:
    throttle = state.get(LOGIN_THROTTLE)
    if not isinstance(throttle, LoginThrottle):
        raise RuntimeError("create_app has not set up the login throttle")  # noqa: TRY004 -- a wiring bug
    return throttle


PASSWORD_CHANGE: Final = "password"  # noqa: S105 -- a throttle scope, not a secret
"""Throttle scope of change-password attempts (keyed by manager id and address)."""


def client_address(connection: Connection) -> str:
    return connection.client.host if connection.client else "unknown"


T = TypeVar("T")


async def throttled(
    connection: Connection, key: str, attempt: Callable[[], Awaitable[T]], *, scope: str = LOGIN_SCOPE
) -> T:
    """``attempt`` (a sign-in or a password change) under the brute-force limits of ``key`` from
    this address: :class:`~barbershop_entrypoints.http.problems.TooManyAttempts` (429) while they
    are spent, without trying; a success forgives the pair's failures."""
    throttle, address = throttle_of(connection.app.state), client_address(connection)
    wait = await throttle.begin(key, address, scope=scope)
    if wait is not None:
        raise too_many_attempts(wait)
    result = await attempt()
    await throttle.succeeded(key, address, scope=scope)
    return result


_MANAGER_API_REFUSALS: Final = {
    Refusal.NO_TOKEN: "Войдите в систему, чтобы продолжить",
    Refusal.INVALID: "Сессия истекла или токен неверен — войдите снова",
    Refusal.UNAVAILABLE: "Учётная запись недоступна — войдите снова",
    Refusal.ENDED: "Сессия завершена (выход или смена пароля) — войдите снова",
}

MANAGER_API: Final = Audience[Manager](
    name="manager-api",
    subjects=MANAGERS,
    refuse=lambda refusal: unauthorized(_MANAGER_API_REFUSALS[refusal]),
    temporary_password=lambda: PasswordChangeRequired("Смените временный пароль: POST /api/auth/change-password"),
)
"""The manager API's bearer tokens (``POST /api/auth/login``)."""


def _partner_key(connection: Connection) -> str | None:
    return bearer_token(connection) or connection.headers.get(API_KEY_HEADER.lower()) or None


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


def guarded_partner(request: Request[Any, Any, Any]) -> Partner:
    """The partner :func:`require_partner` let in (usable as a ``Provide`` dependency too)."""
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
