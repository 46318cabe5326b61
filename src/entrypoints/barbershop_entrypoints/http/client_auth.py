"""Who may call the client's own API: a client bearer token (``POST /api/client/auth/login``).

Client tokens are :class:`~entrypoints.http.tokens.TokenSigner` tokens signed for the purpose
``client`` (the page's cookie for ``client-session``): a manager's token (``bearer`` /
``session``) never opens the client API, and a client's never opens the manager's. A token
carries the person's ``session_version``; a password change bumps it. Until a temporary
password is changed only routes with the ``allow_temporary_password`` option answer.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone, NotFound, PasswordChangeRequired
from barbershop_core.model import Actor
from barbershop_core.use_cases.client_accounts import (
    ClientAccount,
    ClientAccountDeps,
    GetClientAccount,
    get_client_account,
)
from barbershop_core.values import PhoneNumber
from barbershop_entrypoints.http.auth import ALLOW_TEMPORARY_PASSWORD, Connection, bearer_token
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.problems import unauthorized
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.http.tokens import InvalidToken, TokenClaims, TokenSigner

CLIENT_PURPOSE: Final = "client"
CLIENT_ACCOUNT: Final = "barbershop_client_account"
"""Where :func:`require_client` leaves the authenticated client."""
CLIENT_LOGIN_SCOPE: Final = "client_login"
CLIENT_PASSWORD_SCOPE: Final = "client_password"  # noqa: S105 -- a throttle scope, not a secret
_SIGNERS: Final = "client_token_signers"


def client_signer(state: State, purpose: str = CLIENT_PURPOSE) -> TokenSigner:
    """The signer of client tokens for ``purpose``, built once from the container's token key."""
    signers: dict[str, TokenSigner] = state.setdefault(_SIGNERS, {})
    if purpose not in signers:
        container = container_of(state)
        signers[purpose] = TokenSigner(container.token_key, container.settings.token_ttl, container.clock, purpose)
    return signers[purpose]


def throttle_login(login: str, deps: ClientAccountDeps) -> str:
    """The login as the throttle counts it: a phone in any form counts as its E.164 form."""
    try:
        return PhoneNumber.parse(login, deps.policy.default_region).e164
    except InvalidPhone:
        return login


async def account_of_token(token: str, signer: TokenSigner, deps: ClientAccountDeps) -> ClientAccount | None:
    """The client a token names, while its session version is current; None otherwise."""
    try:
        claims: TokenClaims = signer.verify(token)
        account = await get_client_account(GetClientAccount(claims.subject_id), deps)
    except (InvalidToken, NotFound):
        return None
    return account if account.person.session_version == claims.session_version else None


async def require_client(connection: Connection, handler: BaseRouteHandler) -> None:
    """Guard: a valid client token; 403 until a temporary password is changed."""
    token = bearer_token(connection)
    if token is None:
        raise unauthorized("Войдите в личный кабинет: POST /api/client/auth/login")
    container = container_of(connection.app.state)
    account = await account_of_token(token, client_signer(connection.app.state), container.client_accounts())
    if account is None:
        raise unauthorized("Сессия истекла, завершена сменой пароля или токен неверен — войдите снова")
    if account.must_change_password and not handler.opt.get(ALLOW_TEMPORARY_PASSWORD):
        raise PasswordChangeRequired("Смените временный пароль: POST /api/client/auth/change-password")
    connection.state[CLIENT_ACCOUNT] = account


def provide_client_account(request: Request[Any, Any, Any]) -> ClientAccount:
    account = request.state.get(CLIENT_ACCOUNT)
    if not isinstance(account, ClientAccount):
        raise RuntimeError("route needs the require_client guard")  # noqa: TRY004 -- a wiring bug, not input
    return account


def client_context(request: Request[Any, Any, Any], account: ClientAccount) -> Context:
    """The client as the actor of the use cases' audit, with the request id."""
    return Context(Actor.client(account.client.id), request_id_of(request.scope))
