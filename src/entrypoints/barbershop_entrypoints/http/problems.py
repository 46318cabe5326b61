"""RFC 9457 problem details: every error of the HTTP API, mapped to HTTP in this one place.

A problem document is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail`` and ``instance``, plus a stable machine ``code``, the ``request_id`` and, where
the error carries them, extension members (``errors`` per field, ``client_id`` and
``links`` for A1, ``active_channels`` for A7…). ``title`` and ``detail`` are Russian and
fit to show a manager; nothing internal (a stack trace, a driver's message) ever leaves.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

import attrs
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    DomainError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidCredentials,
    InvalidPhone,
    InvalidTransition,
    LoginTaken,
    NotFound,
    NotificationInProgress,
    PasswordChangeRequired,
    PersonExists,
    TemplateMissing,
    TemporaryError,
    ValidationError,
)
from barbershop_core.ports import StorageUnavailable, UniqueViolation
from barbershop_entrypoints.http.parameter_errors import refused_parameters
from barbershop_entrypoints.http.request_id import request_id_of
from barbershop_entrypoints.http.schemas import Link, client_links
from barbershop_entrypoints.logging_setup import mask_phones, mask_url

log = logging.getLogger("barbershop.http")

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:barbershop:problem:"
"""``type`` is a URN per code: stable, and not a link that could go stale."""

MAX_BODY_BYTES: Final = 64 * 1024
"""The request body limit of the whole API (the largest legitimate body is a few hundred bytes)."""

RETRY_AFTER_TEMPORARY: Final = 2
"""Seconds a client should wait after ``temporary_error`` before retrying."""


@attrs.frozen(kw_only=True)
class FieldError:
    """One rejected input: where it came from, its name, and why (in Russian)."""

    field: str
    message: str
    source: str = "body"
    """``body``, ``query``, ``path`` or ``header``."""


@attrs.frozen(kw_only=True)
class Problem:
    """The problem document every error answers with (the schema; responses are built as dicts)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    """The path of the request that failed."""
    code: str
    """Stable machine code: ``invalid_phone``, ``client_exists``, ``unauthorized``…"""
    request_id: str
    """Also in the ``X-Request-ID`` response header; quote it when reporting a problem."""
    errors: list[FieldError] | None = None
    """``validation_error``: every rejected field."""
    client_id: int | None = None
    person_id: int | None = None
    links: dict[str, Link] | None = None
    """``client_exists`` / ``person_exists``: the card (A1.1) and the update (A1.2) of that client."""
    channel: str | None = None
    template_code: str | None = None
    active_channels: list[str] | None = None
    """``channel_unavailable`` / ``template_missing`` (A7): the channels the manager may pick instead."""
    retry_after: int | None = None
    """``too_many_attempts`` / ``temporary_error``: seconds to wait (also the ``Retry-After`` header)."""
    checks: dict[str, str] | None = None
    """``not_ready``: the state of each dependency (``ok`` / ``unavailable``)."""


class ApiProblem(Exception):
    """An error the HTTP layer itself raises (authentication, throttling, media type…)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail or title
        self.headers = dict(headers or {})
        self.extensions = extensions
        super().__init__(f"{status} {code}")


def unauthorized(detail: str = "Войдите в систему, чтобы продолжить") -> ApiProblem:
    return ApiProblem(401, "unauthorized", "Требуется вход", detail, headers={"WWW-Authenticate": "Bearer"})


class TooManyAttempts(ApiProblem):
    """429: the brute-force limits of a sign-in or a password change are spent for now."""


def too_many_attempts(retry_after: int) -> TooManyAttempts:
    minutes = max(1, -(-retry_after // 60))
    return TooManyAttempts(
        429,
        "too_many_attempts",
        "Слишком много попыток входа",
        f"Слишком много неудачных попыток. Попробуйте снова через {minutes} мин.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )


def unsupported_media_type(media_type: str) -> ApiProblem:
    return ApiProblem(
        415,
        "unsupported_media_type",
        "Неподдерживаемый формат запроса",
        f"Формат «{media_type[:100]}» не поддерживается: отправьте JSON (Content-Type: application/json)",
    )


def malformed_json() -> ApiProblem:
    return ApiProblem(400, "malformed_json", "Некорректный JSON", "Тело запроса не является корректным JSON")


def validation_problem(errors: Sequence[FieldError]) -> ApiProblem:
    """``validation_error``: every rejected field, each with its Russian message."""
    return ApiProblem(
        422, "validation_error", "Проверьте введённые данные", "Некоторые поля заполнены неверно", errors=list(errors)
    )


def json_too_deep(limit: int) -> ApiProblem:
    return ApiProblem(
        400,
        "malformed_json",
        "Некорректный JSON",
        f"Тело запроса вложено глубже {limit} уровней — такой JSON не принимается",
    )


# --- domain errors -----------------------------------------------------------------

_DOMAIN_STATUS: Final[Mapping[type[DomainError], int]] = {
    InvalidPhone: 422,  # A2
    ValidationError: 422,
    ChannelUnavailable: 422,  # A7
    TemplateMissing: 422,  # A7
    ConsentRequired: 422,  # A5
    IdempotencyKeyReused: 422,
    NotFound: 404,
    ClientExists: 409,  # A1
    PersonExists: 409,
    LoginTaken: 409,
    InvalidTransition: 409,
    NotificationInProgress: 409,
    IdempotencyInFlight: 409,
    InvalidCredentials: 401,
    PasswordChangeRequired: 403,
    TemporaryError: 503,  # A3
}


def domain_status(error: DomainError) -> int:
    """The HTTP status of a domain error: the API's problem document and the pages' forms answer the same."""
    for cls in type(error).__mro__:
        status = _DOMAIN_STATUS.get(cls)
        if status is not None:
            return status
    return 422


def _domain_extensions(error: DomainError) -> dict[str, Any]:
    """The extension members a domain error carries (per-field errors, ids and links, channels)."""
    extensions: dict[str, Any] = {}
    if isinstance(error, ValidationError):
        extensions["errors"] = [FieldError(field=error.field or "body", message=error.message)]
    elif isinstance(error, ClientExists | PersonExists):
        extensions["person_id"] = error.person_id
        if error.client_id is not None:
            extensions |= {"client_id": error.client_id, "links": client_links(error.client_id)}
    elif isinstance(error, ChannelUnavailable | TemplateMissing):
        extensions |= {"channel": error.channel, "active_channels": list(error.active_channels)}
        if isinstance(error, TemplateMissing):
            extensions["template_code"] = error.template_code
    elif isinstance(error, TemporaryError):
        extensions["retry_after"] = RETRY_AFTER_TEMPORARY
    return extensions


def _domain_problem(error: DomainError) -> ApiProblem:
    status = domain_status(error)
    extensions = _domain_extensions(error)
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_TEMPORARY)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return ApiProblem(status, error.code, error.title, error.message, headers=headers, **extensions)


# --- Litestar's own errors -----------------------------------------------------------
# JSON bodies never get here: ``http/bodies.py`` answers them from their declared constraints.
# What Litestar still validates itself — path, query and header parameters, the pages' forms —
# is worded from the parameters' declarations by ``http/parameter_errors.py``.


def _field_errors(exc: ValidationException, request: Request[Any, Any, Any] | None) -> list[FieldError]:
    refused = refused_parameters(exc, request)
    errors = [FieldError(field=item.field, message=item.message, source=item.source) for item in refused]
    return errors or [FieldError(field="body", message="Недопустимое значение")]


def _http_problem(  # noqa: PLR0911 -- one answer per kind of HTTP error
    exc: HTTPException, request: Request[Any, Any, Any] | None
) -> ApiProblem:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return validation_problem(_field_errors(exc, request))
    if isinstance(exc, NotFoundException):
        return ApiProblem(404, "not_found", "Не найдено", "Такого адреса нет")
    if isinstance(exc, MethodNotAllowedException):
        allow = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow")
        return ApiProblem(
            405,
            "method_not_allowed",
            "Метод не поддерживается",
            "Этот адрес не поддерживает такой метод запроса",
            headers={"Allow": allow} if allow else None,
        )
    if isinstance(exc, RequestEntityTooLarge):
        return ApiProblem(
            413,
            "request_too_large",
            "Слишком большой запрос",
            f"Тело запроса больше {MAX_BODY_BYTES // 1024} КБ",
        )
    if isinstance(exc.__cause__, SerializationException):
        return malformed_json()
    if status == 401:
        return unauthorized()
    if status == 403:
        return ApiProblem(403, "forbidden", "Доступ запрещён", "Недостаточно прав для этого действия")
    if status == 429:
        return ApiProblem(429, "too_many_requests", "Слишком много запросов", "Подождите немного и повторите")
    if 400 <= status < 500:
        return ApiProblem(status, "bad_request", "Некорректный запрос", "Запрос не удалось обработать")
    if status == 503:
        return _domain_problem(TemporaryError())
    return _internal_error()


def _internal_error() -> ApiProblem:
    return ApiProblem(
        500,
        "internal_error",
        "Внутренняя ошибка",
        "Что-то пошло не так. Повторите попытку; если ошибка повторится, сообщите администратору номер запроса",
    )


def problem_for(exc: BaseException, request: Request[Any, Any, Any] | None = None) -> ApiProblem:
    """The one mapping of every error the API can meet to the problem it answers with.

    ``request``: the request that failed, whose route declares the parameters a
    ``ValidationException`` names (without it, a refused parameter gets the generic message).
    """
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, DomainError):
        return _domain_problem(exc)
    if isinstance(exc, StorageUnavailable):  # A3 outside registration: the store failed, retry later
        return _domain_problem(TemporaryError())
    if isinstance(exc, UniqueViolation):  # a race that the use case did not resolve; a retry will
        return ApiProblem(
            409, "conflict", "Данные изменились одновременно", "Данные только что изменил другой запрос, повторите"
        )
    if isinstance(exc, HTTPException):
        return _http_problem(exc, request)
    return _internal_error()


def problem_document(problem: ApiProblem, *, instance: str, request_id: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
        "code": problem.code,
        "request_id": request_id,
    }
    for name, value in problem.extensions.items():
        if value is not None:
            document[name] = _plain(value)
    return document


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        return {k: _plain(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def problem_response(problem: ApiProblem, *, instance: str, request_id: str) -> Response[dict[str, Any]]:
    return Response(
        problem_document(problem, instance=instance, request_id=request_id),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Litestar's exception handler for every exception (registered for ``Exception``)."""
    request_id = request_id_of(request.scope)
    problem = problem_for(exc, request)
    if problem.status >= 500:
        _log_server_error(exc, problem, request, request_id)
    return problem_response(problem, instance=request.url.path, request_id=request_id)


def _log_server_error(exc: Exception, problem: ApiProblem, request: Request[Any, Any, Any], request_id: str) -> None:
    if problem.code == "internal_error":
        # The traceback is formatted here so that the phone mask covers it too.
        details = mask_phones("".join(traceback.format_exception(exc)))
        log.error(
            "internal_error request_id=%s %s %s\n%s", request_id, request.method, mask_url(request.url.path), details
        )
    else:
        log.warning(
            "%s request_id=%s %s %s: %s",
            problem.code,
            request_id,
            request.method,
            mask_url(request.url.path),
            type(exc).__name__,
        )


# --- the problems in the OpenAPI document ------------------------------------------------


def example_document(exc: BaseException, instance: str) -> dict[str, Any]:
    """What the API answers to ``exc``, for OpenAPI examples: the same mapping as at run time."""
    return problem_document(problem_for(exc), instance=instance, request_id="3f2c9a61d0e84b6f")


def describe(status: int) -> str:
    return {
        400: "Тело запроса — не корректный JSON (`malformed_json`)",
        401: "Нет входа, токен неверен или истёк (`unauthorized`); неверный логин или пароль (`invalid_credentials`)",
        403: "Временный пароль ещё не сменён (`password_change_required`)",
        404: "Не найдено (`not_found`)",
        409: "Конфликт с уже сохранёнными данными",
        413: "Тело запроса слишком большое (`request_too_large`)",
        415: "Тело запроса не в JSON (`unsupported_media_type`)",
        422: "Данные не прошли проверку",
        429: "Слишком много попыток (`too_many_attempts`), см. Retry-After",
        500: "Внутренняя ошибка (`internal_error`), без подробностей",
        503: "Временная ошибка, повторите позже (`temporary_error`), см. Retry-After",
    }.get(status, HTTPStatus(status).phrase)


def default_example(status: int, instance: str) -> dict[str, Any]:
    samples: dict[int, BaseException] = {
        400: ClientException("JSON is malformed"),
        401: unauthorized(),
        403: PasswordChangeRequired(),
        404: NotFound("Клиент 42 не найден"),
        409: ClientExists(client_id=42, person_id=41),
        413: RequestEntityTooLarge(),
        415: unsupported_media_type("text/plain"),
        422: validation_problem([FieldError(field="phone", message="Обязательное поле")]),
        429: too_many_attempts(840),
        500: RuntimeError(),
        503: TemporaryError(),
    }
    sample = samples.get(status)
    if sample is None:
        return example_document(ApiProblem(status, "error", HTTPStatus(status).phrase), instance)
    return example_document(sample, instance)
