"""The client's own account: ``POST /api/client/auth/login``, ``POST /api/client/auth/change-password``,
``GET /api/client/me`` and ``PUT /api/client/me/consents``.

Client tokens are a separate audience from managers' (see :mod:`barbershop_entrypoints.http.client_auth`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request, Router, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import Body

from barbershop_core.errors import (
    InvalidCredentials,
    PasswordChangeRequired,
    TemporaryPasswordExpired,
    TemporaryPasswordVoided,
    ValidationError,
)
from barbershop_core.ports import Clock
from barbershop_core.use_cases.client_accounts import (
    ChangeClientPassword,
    ClientAccount,
    ClientAccountDeps,
    GetClientProfile,
    SetClientConsents,
    SignIn,
    authenticate_client,
    change_client_password,
    get_client_profile,
    set_client_consents,
)
from barbershop_entrypoints.http.auth import ALLOW_TEMPORARY_PASSWORD, throttled
from barbershop_entrypoints.http.client_auth import (
    CLIENT_API,
    CLIENT_LOGIN_SCOPE,
    CLIENT_PASSWORD_SCOPE,
    client_context,
    provide_client_account,
    throttle_login,
)
from barbershop_entrypoints.http.client_schemas import (
    CONSENTS_DESCRIPTION,
    ClientChangePasswordRequest,
    ClientLoginRequest,
    ClientMeOut,
    ClientTokenOut,
    brief_body,
    me_body,
)
from barbershop_entrypoints.http.jwt_auth import SessionAuth, session_auth
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, CLIENT_SECURITY, example, ok, problems
from barbershop_entrypoints.http.problems import example_document, too_many_attempts, unauthorized
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.metrics import counted_login

_LOGIN: Final = "/api/client/auth/login"
_CHANGE: Final = "/api/client/auth/change-password"
_ME: Final = "/api/client/me"
_CONSENTS: Final = "/api/client/me/consents"

_TOKEN_EXAMPLE: Final = {
    "access_token": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3NjM4NjMyMDAsInN1YiI6IjQyIiwiaWF0IjoxNzYzODIwMDAwLCJhdWQiOiJ"
        "jbGllbnQtYXBpIiwiZXh0cmFzIjp7fSwidmVyIjowfQ.0yuQsTE4vi48ATilcYo1lXfOUVXpbxyWG1ZYGuGf5Jg"
    ),
    "token_type": "bearer",
    "expires_at": "2025-11-23T02:00:00Z",
    "expires_in": 43200,
    "must_change_password": True,
    "client": {"id": 42, "first_name": "Иван", "phone": "+79111234567"},
}
_ME_EXAMPLE: Final = {
    "id": 42,
    "first_name": "Иван",
    "phone": "+79111234567",
    "login": "+79111234567",
    "registered_at": "2025-11-22T10:15:00Z",
    "first_signed_in_at": "2025-11-22T10:20:00Z",
    "must_change_password": False,
    "consents": [
        {
            "code": "personal_data",
            "title": "Обработка персональных данных",
            "granted": True,
            "recorded_at": "2025-11-22T10:15:00Z",
            "recorded_by": "manager:1",
        },
        {
            "code": "marketing",
            "title": "Рекламные и маркетинговые сообщения",
            "granted": False,
            "recorded_at": "2025-11-22T10:21:00Z",
            "recorded_by": "client:42",
        },
    ],
}
_CLIENT_401: Final = (
    "Нет входа, токен клиента неверен, истёк или завершён сменой пароля (`unauthorized`); токен менеджера здесь "
    "не действует"
)
_CLIENT_403: Final = "Вход по временному паролю: сначала смените пароль (`password_change_required`)"


def _token_body(request: Request[Any, Any, Any], account: ClientAccount, clock: Clock) -> ClientTokenOut:
    issued = session_auth(request.app.state, CLIENT_API).issue(
        account.client.id, account.person.session_version, clock.now()
    )
    return ClientTokenOut(
        access_token=issued.token,
        token_type="bearer",  # noqa: S106 -- the OAuth token type, not a secret
        expires_at=issued.expires_at,
        expires_in=issued.expires_in,
        must_change_password=account.must_change_password,
        client=brief_body(account),
    )


@post(
    _LOGIN,
    status_code=200,
    tags=["client"],
    summary="Вход клиента",
    description=(
        "Логин — телефон из приветственного сообщения в любом привычном виде, пароль — временный из сообщения "
        "или свой. Неизвестный логин и неверный пароль отвечают одинаково (401 `invalid_credentials`). "
        "Верный, но истёкший временный пароль — 401 `temporary_password_expired`; после 5 неверных паролей "
        "временный пароль аннулируется — 401 `temporary_password_voided` (администратор салона отправит новый). "
        "С временным паролем токен открывает только смену пароля. Не больше 5 неудачных попыток на логин с "
        "одного адреса и 20 с адреса за 15 минут — дальше 429."
    ),
    responses={
        **ok(ClientTokenOut, "Токен клиента выдан", [example("token", _TOKEN_EXAMPLE)]),
        **problems(
            _LOGIN,
            (*BODY_PROBLEMS, 401, 429, 500, 503),
            examples={
                401: [
                    example("invalid_credentials", example_document(InvalidCredentials(), _LOGIN)),
                    example("temporary_password_expired", example_document(TemporaryPasswordExpired(), _LOGIN)),
                    example("temporary_password_voided", example_document(TemporaryPasswordVoided(), _LOGIN)),
                ],
                429: [example("too_many_attempts", example_document(too_many_attempts(840), _LOGIN))],
            },
            descriptions={
                401: (
                    "Неверный логин или пароль (`invalid_credentials`); временный пароль истёк "
                    "(`temporary_password_expired`) или аннулирован после 5 неверных попыток "
                    "(`temporary_password_voided`)"
                )
            },
        ),
    },
)
async def client_login(
    data: Annotated[
        ClientLoginRequest,
        Body(examples=[example("login", {"login": "8 911 123-45-67", "password": "Kq7wXe4mPt9a"})]),
    ],
    request: Request[Any, Any, Any],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> ClientTokenOut:
    sign_in = SignIn(data.login, data.password, request_id_of(request.scope))
    account = await throttled(
        request,
        throttle_login(data.login, client_accounts),
        lambda: counted_login("client", authenticate_client(sign_in, client_accounts)),
        scope=CLIENT_LOGIN_SCOPE,
    )
    return _token_body(request, account, client_accounts.clock)


@post(
    _CHANGE,
    status_code=200,
    tags=["client"],
    summary="Смена пароля клиента",
    description=(
        "Проверяет текущий (временный или свой) пароль и задаёт новый, не короче 10 символов. Временный "
        "пароль больше никогда не действует; все остальные сеансы клиента завершаются, в ответе — новый токен."
    ),
    opt={ALLOW_TEMPORARY_PASSWORD: True},
    responses={
        **ok(
            ClientTokenOut,
            "Пароль изменён, новый токен",
            [example("changed", _TOKEN_EXAMPLE | {"must_change_password": False})],
        ),
        **problems(
            _CHANGE,
            (*BODY_PROBLEMS, 401, 429, 500, 503),
            examples={
                401: [
                    example("unauthorized", example_document(unauthorized(), _CHANGE)),
                    example(
                        "invalid_credentials", example_document(InvalidCredentials("Текущий пароль неверен"), _CHANGE)
                    ),
                    example("temporary_password_expired", example_document(TemporaryPasswordExpired(), _CHANGE)),
                ],
                422: [
                    example(
                        "too_short",
                        example_document(
                            ValidationError("Пароль должен быть не короче 10 символов", field="password"), _CHANGE
                        ),
                    )
                ],
                429: [example("too_many_attempts", example_document(too_many_attempts(840), _CHANGE))],
            },
            descriptions={401: _CLIENT_401 + "; текущий пароль неверен (`invalid_credentials`)"},
        ),
    },
)
async def client_change_password(
    data: Annotated[
        ClientChangePasswordRequest,
        Body(examples=[example("change", {"current_password": "Kq7wXe4mPt9a", "new_password": "мой новый пароль"})]),
    ],
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> ClientTokenOut:
    command = ChangeClientPassword(
        account.client.id, data.current_password, data.new_password, client_context(request, account)
    )
    changed = await throttled(
        request,
        str(account.client.id),
        lambda: change_client_password(command, client_accounts),
        scope=CLIENT_PASSWORD_SCOPE,
    )
    return _token_body(request, changed, client_accounts.clock)


_GUARDED_PROBLEMS: Final = {
    401: [example("unauthorized", example_document(unauthorized(), _ME))],
    403: [example("password_change_required", example_document(PasswordChangeRequired(), _ME))],
}


@get(
    _ME,
    tags=["client"],
    summary="Мои данные",
    description=(
        "Имя, телефон, логин, когда зарегистрирован и впервые вошёл, и каждое согласие — кто и когда его записал."
    ),
    responses={
        **ok(ClientMeOut, "Данные клиента", [example("me", _ME_EXAMPLE)]),
        **problems(
            _ME, (401, 403, 500, 503), examples=_GUARDED_PROBLEMS, descriptions={401: _CLIENT_401, 403: _CLIENT_403}
        ),
    },
)
async def client_me(
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> ClientMeOut:
    profile = await get_client_profile(
        GetClientProfile(account.client.id, client_context(request, account)), client_accounts
    )
    return me_body(profile)


@put(
    _CONSENTS,
    tags=["client"],
    summary="Дать или отозвать согласия",
    description=(
        "Меняет только названные типы (`personal_data`, `marketing`); каждое изменение — новая запись, история "
        "хранится. Отзыв согласия на рекламу действует сразу: ждущие рекламные сообщения отменяются, новые не "
        "отправляются. Неизвестный тип — 422."
    ),
    responses={
        **ok(ClientMeOut, "Согласия сохранены", [example("me", _ME_EXAMPLE)]),
        **problems(
            _CONSENTS,
            (*BODY_PROBLEMS, 401, 403, 500, 503),
            examples={
                **_GUARDED_PROBLEMS,
                422: [
                    example(
                        "unknown_consent",
                        example_document(
                            ValidationError("Неизвестный тип согласия: telepathy", field="consents"), _CONSENTS
                        ),
                    )
                ],
            },
            descriptions={401: _CLIENT_401, 403: _CLIENT_403},
        ),
    },
)
async def client_consents(
    data: Annotated[
        dict[str, bool],
        Body(
            description=CONSENTS_DESCRIPTION,
            examples=[example("withdraw_marketing", {"marketing": False})],
        ),
    ],
    request: Request[Any, Any, Any],
    account: NamedDependency[ClientAccount],
    client_accounts: NamedDependency[ClientAccountDeps],
) -> ClientMeOut:
    profile = await set_client_consents(
        SetClientConsents(account.client.id, data, client_context(request, account)), client_accounts
    )
    return me_body(profile)


def client_routers(before_request: Any, session: SessionAuth[ClientAccount]) -> list[Router]:
    """The public login and the routes behind a client token (``session``: the client API's
    configured JWT auth), each with the API's JSON check."""
    public = Router("/", route_handlers=[client_login], before_request=before_request)
    guarded = Router(
        "/",
        route_handlers=[client_change_password, client_me, client_consents],
        middleware=[session.middleware],
        guards=session.guards,
        dependencies={"account": Provide(provide_client_account, sync_to_thread=False)},
        security=CLIENT_SECURITY,
        before_request=before_request,
    )
    return [public, guarded]
