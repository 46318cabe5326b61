"""Log in, log out, and change the password (forced while it is a temporary one)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from barbershop_core.errors import InvalidCredentials
from barbershop_core.model import Manager
from barbershop_core.use_cases.accounts import (
    MAX_PASSWORD_LENGTH,
    AuthenticateManager,
    ChangeManagerPassword,
    EndManagerSessions,
    ManagerDeps,
    authenticate_manager,
    change_manager_password,
    end_manager_sessions,
)
from barbershop_core.values import Login
from barbershop_entrypoints.http.auth import (
    ALLOW_TEMPORARY_PASSWORD,
    PASSWORD_CHANGE,
    throttled,
)
from barbershop_entrypoints.http.jwt_auth import session_auth
from barbershop_entrypoints.http.problems import TooManyAttempts
from barbershop_entrypoints.http.web.forms import read_form
from barbershop_entrypoints.http.web.password_form import submit_password_change
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.security import MANAGER_PAGE, end_session, safe_next, start_session
from barbershop_entrypoints.metrics import counted_login

_BAD_CREDENTIALS: Final = InvalidCredentials().message


@get("/login", name="web:login")
async def login_page(request: Request[Any, Any, Any]) -> Response[Any]:
    next_path = safe_next(request.query_params.get("next"))
    if await session_auth(request.app.state, MANAGER_PAGE).signed_in(request) is not None:
        return Redirect(next_path, status_code=303)
    return render(request, "login.html", login="", next_path=next_path, error=None, title="Вход")


@post("/login", status_code=303)
async def login_submit(request: Request[Any, Any, Any], managers: NamedDependency[ManagerDeps]) -> Response[Any]:
    form = await read_form(request)
    login, password = form.text("login"), form.secret("password")
    next_path = safe_next(form.text("next"))

    def refuse(message: str, status_code: int) -> Template:
        return render(
            request,
            "login.html",
            status_code=status_code,
            login=login[: Login.MAX_LENGTH],
            next_path=next_path,
            error=message,
            title="Вход",
        )

    if not login or not password:
        return refuse("Введите логин и пароль", 422)
    if len(login) > Login.MAX_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        return refuse(_BAD_CREDENTIALS, 401)
    try:
        manager = await throttled(
            request,
            login,
            lambda: counted_login("manager", authenticate_manager(AuthenticateManager(login, password), managers)),
        )
    except TooManyAttempts as spent:
        return refuse(spent.detail, 429)
    except InvalidCredentials:
        return refuse(_BAD_CREDENTIALS, 401)
    target = "/password" if manager.must_change_password else next_path
    return Redirect(target, status_code=303, cookies=start_session(request, manager))


@post("/logout", status_code=303, opt={ALLOW_TEMPORARY_PASSWORD: True})
async def logout(
    request: Request[Any, Any, Any], manager: NamedDependency[Manager], managers: NamedDependency[ManagerDeps]
) -> Redirect:
    """Ends every session of the manager (this browser's, others', and API tokens)."""
    await end_manager_sessions(EndManagerSessions(manager.id), managers)
    return Redirect("/login", query_params={"flash": "logged_out"}, status_code=303, cookies=end_session(request))


@get("/password", opt={ALLOW_TEMPORARY_PASSWORD: True})
async def password_page(request: Request[Any, Any, Any], manager: NamedDependency[Manager]) -> Template:
    return render(request, "password.html", forced=manager.must_change_password, errors={}, title="Смена пароля")


@post("/password", status_code=303, opt={ALLOW_TEMPORARY_PASSWORD: True})
async def password_submit(
    request: Request[Any, Any, Any], manager: NamedDependency[Manager], managers: NamedDependency[ManagerDeps]
) -> Response[Any]:
    changed, errors = await submit_password_change(
        request,
        key=str(manager.id),
        scope=PASSWORD_CHANGE,
        change=lambda current, new: change_manager_password(ChangeManagerPassword(manager.id, current, new), managers),
    )
    if changed is not None:
        # A new session (and CSRF token) after the change: nothing issued before it is reused.
        return Redirect(
            "/", query_params={"flash": "password_changed"}, status_code=303, cookies=start_session(request, changed)
        )
    return render(
        request,
        "password.html",
        status_code=422,
        forced=manager.must_change_password,
        errors=errors,
        title="Смена пароля",
    )
