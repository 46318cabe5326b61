"""The client's own pages, in Russian: ``/client/login`` → the forced change (``/client/password``)
→ «Мой профиль» (``/client``: name, phone, consents with switches), and sign-out.

Their session is a cookie of its own (:data:`CLIENT_PAGES`: a JWT of the ``client-page`` use of
Litestar's JWT auth, ``Path=/client``), with its own CSRF token: a manager's page session never opens a client's
page, nor the other way round, and neither is an API bearer token.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect, Template

from barbershop_core.errors import (
    InvalidCredentials,
    TemporaryPasswordExpired,
    TemporaryPasswordVoided,
)
from barbershop_core.model import CONSENT_TYPES
from barbershop_core.use_cases.accounts import MAX_PASSWORD_LENGTH
from barbershop_core.use_cases.client_accounts import (
    ChangeClientPassword,
    ClientAccount,
    ClientAccountDeps,
    EndClientSessions,
    GetClientProfile,
    SetClientConsents,
    SignIn,
    authenticate_client,
    change_client_password,
    end_client_sessions,
    get_client_profile,
    set_client_consents,
)
from barbershop_core.values import Login
from barbershop_entrypoints.http.auth import ALLOW_TEMPORARY_PASSWORD, throttled
from barbershop_entrypoints.http.client_auth import (
    CLIENT_LOGIN_SCOPE,
    CLIENT_PASSWORD_SCOPE,
    client_context,
    provide_client_account,
    throttle_login,
)
from barbershop_entrypoints.http.jwt_auth import CLIENTS, Audience, SessionAuth, session_auth
from barbershop_entrypoints.http.problems import TooManyAttempts
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.http.web.errors import problem_page
from barbershop_entrypoints.http.web.forms import read_form
from barbershop_entrypoints.http.web.password_form import submit_password_change
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.security import (
    LoginRequired,
    PasswordChangeNeeded,
    SessionScheme,
    csrf_middleware,
    end_session,
    session_of,
    start_scheme_session,
)
from barbershop_entrypoints.metrics import counted_login

CLIENT_PAGE: Final = Audience[ClientAccount](
    name="client-page",
    subjects=CLIENTS,
    refuse=lambda _: LoginRequired(),
    temporary_password=PasswordChangeNeeded,
)
"""The client page's session cookie."""
CLIENT_PAGES: Final = SessionScheme(
    session_cookie="barbershop_client_session",
    csrf_cookie="barbershop_client_csrf",
    audience=CLIENT_PAGE,
    path="/client",
    csrf_label="client-web-csrf",
)
_BAD_CREDENTIALS: Final = "Неверный телефон или пароль"


def _page(request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any) -> Template:
    account = request.scope.get("user")
    return render(
        request,
        template,
        status_code=status_code,
        scheme=CLIENT_PAGES,
        account=account if isinstance(account, ClientAccount) else None,
        **context,
    )


def _password_page(
    request: Request[Any, Any, Any], account: ClientAccount, errors: dict[str, str], *, status_code: int = 200
) -> Template:
    return _page(
        request,
        "password.html",
        status_code=status_code,
        forced=account.must_change_password,
        forced_notice=(
            "Вы вошли с временным паролем из сообщения. Задайте свой пароль — "
            "временный после этого больше не действует."
        ),
        form_action="/client/password",
        errors=errors,
        title="Смена пароля",
    )


def _start(request: Request[Any, Any, Any], account: ClientAccount) -> list[Any]:
    return start_scheme_session(request, CLIENT_PAGES, account.client.id, account.person.session_version)


@get("/client/login")
async def client_login_page(request: Request[Any, Any, Any]) -> Response[Any]:
    if await session_auth(request.app.state, CLIENT_PAGE).signed_in(request) is not None:
        return Redirect("/client", status_code=303)
    return _page(request, "client_login.html", login="", error=None, title="Вход в личный кабинет")


@post("/client/login", status_code=303)
async def client_login_submit(
    request: Request[Any, Any, Any], client_accounts: NamedDependency[ClientAccountDeps]
) -> Response[Any]:
    form = await read_form(request)
    login, password = form.text("login"), form.secret("password")

    def refuse(message: str, status_code: int) -> Template:
        return _page(
            request,
            "client_login.html",
            status_code=status_code,
            login=login[: Login.MAX_LENGTH],
            error=message,
            title="Вход в личный кабинет",
        )

    if not login or not password:
        return refuse("Введите телефон и пароль", 422)
    if len(login) > Login.MAX_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return refuse(_BAD_CREDENTIALS, 401)
    sign_in = SignIn(login, password, request_id_of(request.scope))
    try:
        account = await throttled(
            request,
            throttle_login(login, client_accounts),
            lambda: counted_login("client", authenticate_client(sign_in, client_accounts)),
            scope=CLIENT_LOGIN_SCOPE,
        )
    except TooManyAttempts as spent:
        return refuse(spent.detail, 429)
    except (TemporaryPasswordExpired, TemporaryPasswordVoided) as unusable:
        return refuse(unusable.message, 401)
    except InvalidCredentials:
        return refuse(_BAD_CREDENTIALS, 401)
    target = "/client/password" if account.must_change_password else "/client"
    return Redirect(target, status_code=303, cookies=_start(request, account))


@post("/client/logout", status_code=303, opt={ALLOW_TEMPORARY_PASSWORD: True})
async def client_logout(
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> Redirect:
    """Ends every session of the client (this browser's, others', and API tokens)."""
    await end_client_sessions(EndClientSessions(account.client.id, client_context(request, account)), client_accounts)
    return Redirect(
        "/client/login",
        query_params={"flash": "logged_out"},
        status_code=303,
        cookies=end_session(request, CLIENT_PAGES),
    )


@get("/client/password", opt={ALLOW_TEMPORARY_PASSWORD: True})
async def client_password_page(request: Request[Any, Any, Any], account: NamedDependency[ClientAccount]) -> Template:
    return _password_page(request, account, {})


@post("/client/password", status_code=303, opt={ALLOW_TEMPORARY_PASSWORD: True})
async def client_password_submit(
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> Response[Any]:
    changed, errors = await submit_password_change(
        request,
        key=str(account.client.id),
        scope=CLIENT_PASSWORD_SCOPE,
        change=lambda current, new: change_client_password(
            ChangeClientPassword(account.client.id, current, new, client_context(request, account)), client_accounts
        ),
    )
    if changed is not None:
        # A new session (and CSRF token) under the new session version: the others have ended.
        return Redirect(
            "/client", query_params={"flash": "password_changed"}, status_code=303, cookies=_start(request, changed)
        )
    return _password_page(request, account, errors, status_code=422)


@get("/client")
async def client_profile_page(
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> Template:
    profile = await get_client_profile(
        GetClientProfile(account.client.id, client_context(request, account)), client_accounts
    )
    return _page(request, "client_profile.html", profile=profile, consent_types=CONSENT_TYPES, title="Мой профиль")


@post("/client/consents", status_code=303)
async def client_consents_submit(
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> Redirect:
    """The switches as submitted; only the types whose state changed are recorded."""
    form = await read_form(request)
    wanted = {str(kind.code): form.checked(f"consent_{kind.code}") for kind in CONSENT_TYPES}
    await set_client_consents(
        SetClientConsents(account.client.id, wanted, client_context(request, account)),
        client_accounts,
    )
    return Redirect("/client", query_params={"flash": "consents_saved"}, status_code=303)


def client_page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Exception handler of the client's pages: to sign in, to the forced change, or a Russian page."""
    if isinstance(exc, LoginRequired):
        cookies = end_session(request, CLIENT_PAGES) if session_of(request, CLIENT_PAGES) else []
        return Redirect("/client/login", status_code=303, cookies=cookies)
    if isinstance(exc, PasswordChangeNeeded):
        return Redirect("/client/password", status_code=303)
    return problem_page(request, exc, _page)


def client_web_router(session: SessionAuth[ClientAccount]) -> Router:
    """The client's pages; ``session``: the client page's configured JWT auth."""
    public = Router("/", route_handlers=[client_login_page, client_login_submit])
    pages = Router(
        "/",
        route_handlers=[
            client_logout,
            client_password_page,
            client_password_submit,
            client_profile_page,
            client_consents_submit,
        ],
        middleware=[session.middleware],
        guards=session.guards,
        dependencies={"account": Provide(provide_client_account, sync_to_thread=False)},
    )
    return Router(
        "/",
        route_handlers=[public, pages],
        middleware=[csrf_middleware(CLIENT_PAGES)],
        exception_handlers={Exception: client_page_error},
        include_in_schema=False,
    )
