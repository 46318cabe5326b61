"""Who may call the client's own API: a client bearer token (``POST /api/client/auth/login``).

Client tokens are their own use of Litestar's JWT auth (:data:`CLIENT_API`, see
:mod:`barbershop_entrypoints.http.jwt_auth`; the page's cookie is another, ``client-page``): a
manager's token never opens the client API, and a client's never opens the manager's. A token
carries the person's ``session_version``; a password change bumps it. Until a temporary
password is changed only routes with the ``allow_temporary_password`` option answer.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone, PasswordChangeRequired
from barbershop_core.model import Actor
from barbershop_core.use_cases.client_accounts import ClientAccount, ClientAccountDeps
from barbershop_core.values import PhoneNumber
from barbershop_entrypoints.http.jwt_auth import CLIENTS, Audience, Refusal
from barbershop_entrypoints.http.problems import unauthorized
from barbershop_entrypoints.http.request_id import request_id_of

CLIENT_LOGIN_SCOPE: Final = "client_login"
CLIENT_PASSWORD_SCOPE: Final = "client_password"  # noqa: S105 -- a throttle scope, not a secret

CLIENT_API: Final = Audience[ClientAccount](
    name="client-api",
    subjects=CLIENTS,
    refuse=lambda refusal: unauthorized(
        "Войдите в личный кабинет: POST /api/client/auth/login"
        if refusal is Refusal.NO_TOKEN
        else "Сессия истекла, завершена сменой пароля или токен неверен — войдите снова"
    ),
    temporary_password=lambda: PasswordChangeRequired(
        "Смените временный пароль: POST /api/client/auth/change-password"
    ),
)
"""The client API's bearer tokens."""


def throttle_login(login: str, deps: ClientAccountDeps) -> str:
    """The login as the throttle counts it: a phone in any form counts as its E.164 form."""
    try:
        return PhoneNumber.parse(login, deps.policy.default_region).e164
    except InvalidPhone:
        return login


def provide_client_account(request: Request[Any, Any, Any]) -> ClientAccount:
    """The client the route's JWT auth (API token or page session) authenticated."""
    account = request.scope.get("user")
    if not isinstance(account, ClientAccount):
        raise RuntimeError("route needs a client JWT auth")  # noqa: TRY004 -- a wiring bug, not input
    return account


def client_context(request: Request[Any, Any, Any], account: ClientAccount) -> Context:
    """The client as the actor of the use cases' audit, with the request id."""
    return Context(Actor.client(account.client.id), request_id_of(request.scope))
