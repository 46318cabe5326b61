"""``POST /api/auth/login``, ``POST /api/auth/change-password`` and ``POST /api/auth/logout``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import Body

from barbershop_core.errors import InvalidCredentials, ValidationError
from barbershop_core.model import Manager
from barbershop_core.use_cases.accounts import (
    AuthenticateManager,
    ChangeManagerPassword,
    EndManagerSessions,
    ManagerDeps,
    authenticate_manager,
    change_manager_password,
    end_manager_sessions,
)
from barbershop_entrypoints.http.auth import (
    ALLOW_TEMPORARY_PASSWORD,
    MANAGER_API,
    PASSWORD_CHANGE,
    throttled,
)
from barbershop_entrypoints.http.convert import manager_body
from barbershop_entrypoints.http.jwt_auth import session_auth
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.problems import example_document, too_many_attempts
from barbershop_entrypoints.http.schemas import ChangePasswordRequest, LoginRequest, LoginResponse, ManagerOut
from barbershop_entrypoints.metrics import counted_login

_LOGIN = "/api/auth/login"
_CHANGE = "/api/auth/change-password"
_LOGOUT = "/api/auth/logout"

_MANAGER_EXAMPLE = {"id": 1, "login": "admin", "display_name": "Анна", "must_change_password": False}


@post(
    _LOGIN,
    status_code=200,
    tags=["auth"],
    summary="Вход менеджера",
    description=(
        "Проверяет логин и пароль и выдаёт bearer-токен с ограниченным сроком. Если `must_change_password`, "
        "все запросы, кроме смены пароля, отвечают 403 `password_change_required`. Не больше 5 неудачных "
        "попыток на логин с одного адреса и 20 с адреса за 15 минут — дальше 429 `too_many_attempts` с "
        "`Retry-After`; с других адресов вход открыт (подбором нельзя запереть чужую учётную запись)."
    ),
    responses={
        **ok(
            LoginResponse,
            "Токен выдан",
            [
                example(
                    "token",
                    {
                        "access_token": (
                            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NjM4NjMyMDAsInN1YiI6IjEiLCJpYXQiOjE3NjM4Mj"
                            "AwMDAsImF1ZCI6Im1hbmFnZXItYXBpIiwiZXh0cmFzIjp7fSwidmVyIjowfQ.t3V4Qsk1XDtkV3C-EhTefqpFcuLos"
                            "up7OV1nVn89kBE"
                        ),
                        "token_type": "bearer",
                        "expires_at": "2025-11-23T02:00:00Z",
                        "expires_in": 43200,
                        "must_change_password": False,
                        "manager": _MANAGER_EXAMPLE,
                    },
                )
            ],
        ),
        **problems(
            _LOGIN,
            (*BODY_PROBLEMS, 401, 429, 500, 503),
            examples={
                401: [example("invalid_credentials", example_document(InvalidCredentials(), _LOGIN))],
                429: [example("too_many_attempts", example_document(too_many_attempts(840), _LOGIN))],
            },
        ),
    },
)
async def login(
    data: Annotated[
        LoginRequest, Body(examples=[example("login", {"login": "admin", "password": "correct horse battery"})])
    ],
    request: Request[Any, Any, Any],
    managers: NamedDependency[ManagerDeps],
) -> LoginResponse:
    manager = await throttled(
        request,
        data.login,
        lambda: counted_login(
            "manager", authenticate_manager(AuthenticateManager(data.login, data.password), managers)
        ),
    )
    issued = session_auth(request.app.state, MANAGER_API).issue(
        manager.id, manager.session_version, managers.clock.now()
    )
    return LoginResponse(
        access_token=issued.token,
        token_type="bearer",  # noqa: S106 -- the OAuth token type, not a secret
        expires_at=issued.expires_at,
        expires_in=issued.expires_in,
        must_change_password=manager.must_change_password,
        manager=manager_body(manager),
    )


@post(
    _CHANGE,
    status_code=200,
    tags=["auth"],
    summary="Смена пароля менеджера",
    description=(
        "Задаёт новый пароль (не короче 10 символов) и снимает требование сменить временный. Все токены и "
        "сессии страницы этого менеджера, включая текущий, перестают действовать: войдите снова."
    ),
    opt={ALLOW_TEMPORARY_PASSWORD: True},
    responses={
        **ok(ManagerOut, "Пароль изменён", [example("changed", _MANAGER_EXAMPLE)]),
        **problems(
            _CHANGE,
            (*BODY_PROBLEMS, 401, 429, 500, 503),
            examples={
                401: [example("invalid_credentials", example_document(InvalidCredentials(), _CHANGE))],
                429: [example("too_many_attempts", example_document(too_many_attempts(840), _CHANGE))],
                422: [
                    example(
                        "too_short",
                        example_document(
                            ValidationError("Пароль должен быть не короче 10 символов", field="password"), _CHANGE
                        ),
                    )
                ],
            },
        ),
    },
)
async def change_password(
    data: Annotated[
        ChangePasswordRequest,
        Body(
            examples=[
                example("change", {"current_password": "Temporary-Pass-1", "new_password": "a much longer secret"})
            ]
        ),
    ],
    request: Request[Any, Any, Any],
    manager: NamedDependency[Manager],
    managers: NamedDependency[ManagerDeps],
) -> ManagerOut:
    changed = await throttled(
        request,
        str(manager.id),
        lambda: change_manager_password(
            ChangeManagerPassword(manager.id, data.current_password, data.new_password), managers
        ),
        scope=PASSWORD_CHANGE,
    )
    return manager_body(changed)


@post(
    _LOGOUT,
    status_code=204,
    tags=["auth"],
    summary="Выход менеджера",
    description="Завершает все сеансы менеджера сразу: все его bearer-токены и сессии страницы перестают действовать.",
    opt={ALLOW_TEMPORARY_PASSWORD: True},
    responses=problems(_LOGOUT, (401, 415, 500, 503)),
)
async def logout(manager: NamedDependency[Manager], managers: NamedDependency[ManagerDeps]) -> None:
    await end_manager_sessions(EndManagerSessions(manager.id), managers)
