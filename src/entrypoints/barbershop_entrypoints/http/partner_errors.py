"""Every error of the partner API (seed 002), in the contract's own shape: ``{"error": "<Russian>"}``.

The partner contract is not the manager API's: no RFC 9457 problem documents, one
``error`` string fit to show a retailer's support staff. The statuses are the contract's
(400, 401, 500) plus the two of ``Idempotency-Key`` (IETF draft: 409 while the first
request is in flight, 422 for the same key with another body). Anything outside them is
folded into the nearest one the contract knows (a body too large is a 400, a store that
is down is a 500 with ``Retry-After``), so a partner's client meets no undocumented status.

:func:`handle_partner_exception` is the exception handler of the partner router; it also
leaves the audit trace of every refused request (:mod:`barbershop_entrypoints.http.partner_trace`).
"""

from __future__ import annotations

import traceback
from typing import Any, Final

from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from barbershop_core.errors import (
    DomainError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidCredentials,
    TemporaryError,
    ValidationError,
)
from barbershop_core.model import Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import RefusedPartnerRequest, record_partner_refusal
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.auth import API_KEY_HEADER, PARTNER
from barbershop_entrypoints.http.deps import CONTAINER
from barbershop_entrypoints.http.partner_trace import MASKED_PHONE, log, mask_personal_data, trace_refusal
from barbershop_entrypoints.http.problems import ApiProblem
from barbershop_entrypoints.http.request_id import request_id_of

RETRY_AFTER_SECONDS: Final = 2

NO_KEY: Final = "Не передан ключ партнёра: укажите его в заголовке X-API-Key или Authorization: Bearer <ключ>"
WRONG_KEY: Final = "Неверный или отозванный ключ партнёра"
INTERNAL: Final = "Внутренняя ошибка сервера. Повторите запрос позже"
TEMPORARY: Final = "Сервер временно недоступен. Повторите запрос позже"
BAD_IDEMPOTENCY_KEY: Final = "Некорректный заголовок Idempotency-Key"
KEY_REUSED: Final = IdempotencyKeyReused.title
IN_FLIGHT: Final = IdempotencyInFlight.title


class PartnerRefusal(Exception):
    """An answer of the partner API other than 200: its status and its one Russian message."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = headers or {}
        super().__init__(f"{status}: {message}")


def bad_request(message: str) -> PartnerRefusal:
    return PartnerRefusal(400, message)


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


def item_error(exc: DomainError | StorageUnavailable) -> dict[str, str]:
    """One participant's result in a bulk answer, for an error that sinks only that participant."""
    return error_body(refusal_for(exc).message)


def refusal_for(exc: BaseException, request: Request[Any, Any, Any] | None = None) -> PartnerRefusal:  # noqa: PLR0911 -- one answer per kind of error, read top to bottom
    """The one mapping of every error a partner request can meet to the answer it gets."""
    if isinstance(exc, PartnerRefusal):
        return exc
    if (isinstance(exc, ApiProblem) and exc.status == 401) or isinstance(exc, InvalidCredentials):
        presented = request is not None and _presents_a_key(request)
        return PartnerRefusal(401, WRONG_KEY if presented else NO_KEY, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, IdempotencyKeyReused):
        return PartnerRefusal(422, KEY_REUSED)
    if isinstance(exc, IdempotencyInFlight):
        return PartnerRefusal(409, IN_FLIGHT, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, ValidationError):
        return bad_request(exc.message)
    if isinstance(exc, TemporaryError | StorageUnavailable):
        return PartnerRefusal(500, TEMPORARY, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, RequestEntityTooLarge):
        return bad_request("Тело запроса слишком большое")
    if isinstance(exc, ValidationException):
        # The only input Litestar itself checks on these routes is the Idempotency-Key header.
        return bad_request(BAD_IDEMPOTENCY_KEY)
    if isinstance(exc, DomainError):
        return bad_request(exc.message)
    if isinstance(exc, ApiProblem | HTTPException) and 400 <= _status(exc) < 500:
        return PartnerRefusal(_status(exc), "Некорректный запрос")
    return PartnerRefusal(500, INTERNAL)


def _status(exc: ApiProblem | HTTPException) -> int:
    return exc.status if isinstance(exc, ApiProblem) else exc.status_code


def _presents_a_key(request: Request[Any, Any, Any]) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(credentials.strip())
    return bearer or bool(request.headers.get(API_KEY_HEADER.lower(), "").strip())


def refusal_response(refusal: PartnerRefusal) -> Response[dict[str, str]]:
    return Response(
        error_body(refusal.message),
        status_code=refusal.status,
        media_type="application/json",
        headers=refusal.headers,
    )


def handle_partner_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """The partner router's exception handler (registered for ``Exception``).

    The refusal is audited after the answer has gone (a background task): the handler
    cannot wait for the database, and the partner need not either.
    """
    refusal = refusal_for(exc, request)
    request_id = request_id_of(request.scope)
    if refusal.status >= 500:
        _log_server_error(request, exc, request_id)
    trace_refusal(request, refusal.status, refusal.message)
    response = refusal_response(refusal)
    container = request.app.state.get(CONTAINER)
    partner = request.state.get(PARTNER)
    # Without a valid key only the log line above records it: anyone may send such
    # requests, and they must not be able to make the database write.
    if isinstance(container, Container) and isinstance(partner, Partner):
        response.background = BackgroundTask(
            record_partner_refusal,
            RefusedPartnerRequest(
                partner_id=partner.id,
                status=refusal.status,
                reason=refusal.message,
                request_id=request_id,
                masked_phone=request.state.get(MASKED_PHONE),
            ),
            container.promo(),
        )
    return response


def _log_server_error(request: Request[Any, Any, Any], exc: Exception, request_id: str) -> None:
    if isinstance(exc, TemporaryError | StorageUnavailable):
        log.warning("temporary_error request_id=%s %s %s: %s", request_id, request.method, request.url.path, exc)
        return
    # The traceback is formatted here so that the mask covers it too: an exception's text
    # may quote the body it choked on.
    details = mask_personal_data("".join(traceback.format_exception(exc)))
    log.error("internal_error request_id=%s %s %s\n%s", request_id, request.method, request.url.path, details)
