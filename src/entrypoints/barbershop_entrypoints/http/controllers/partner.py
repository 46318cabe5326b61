"""Seed 002: partners register promo participants — ``POST /api/register-client`` and its bulk twin.

The contract is the seed's OpenAPI document, answer for answer: ``200 {"client_id": N}``,
``400 {"error": "<one Russian message>"}``, ``401`` without a valid key, ``500`` that
leaks nothing (see :mod:`barbershop_entrypoints.http.partner_errors`). The body is read raw and
decoded by :mod:`barbershop_entrypoints.http.partner_json` (``Decimal`` for every JSON number with a fraction);
the rules and their messages are the core's (:func:`parse_promo_registration`).

Unknown fields are ignored, at the top level and in a purchase: a tolerant reader, so a
partner that starts sending more (a loyalty card number, say) breaks nothing.

``POST /api/register-clients`` takes a JSON array of up to 1000 of the same participants
and answers ``200 {"results": [...]}``, one ``{"client_id": N}`` or ``{"error": "…"}``
per participant, in order. The array is decoded element by element and refused past
1000 (:func:`decode_json_array`); the rules are the core's set-based
:func:`register_promo_participants` (one transaction per batch; with an ``Idempotency-Key``
participant ``i`` is the key ``<key>/<i>``, so a retried request replays its answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from litestar import Request, Response, Router, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import HeaderParameter

from barbershop_core.model import Partner
from barbershop_core.use_cases.promo import (
    BATCH_IDEMPOTENCY_KEY_MAX,
    IDEMPOTENCY_KEY_MAX,
    PromoDeps,
    PromoItemResult,
    RegisterPromoParticipant,
    RegisterPromoParticipants,
    parse_promo_registration,
    register_promo_participant,
    register_promo_participants,
)
from barbershop_entrypoints.http import partner_ndjson as ndjson
from barbershop_entrypoints.http.auth import guarded_partner, require_partner
from barbershop_entrypoints.http.deps import container_of
from barbershop_entrypoints.http.partner_errors import (
    BAD_IDEMPOTENCY_KEY,
    bad_request,
    handle_partner_exception,
    item_error,
)
from barbershop_entrypoints.http.partner_json import decode_json, decode_json_array
from barbershop_entrypoints.http.partner_openapi import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_BULK,
    NO_PARTICIPANTS,
    NOT_JSON,
    PARTNER_SECURITY,
    REGISTER_CLIENT_RESPONSES,
    REGISTER_CLIENTS_RESPONSES,
    RegisterClientOperation,
    RegisterClientsOperation,
)
from barbershop_entrypoints.http.partner_trace import MASKED_PHONE, trace_accepted, trace_bulk
from barbershop_entrypoints.http.request_id import request_id_of

SINGLE_MAX_BODY: Final = 64 * 1024
"""A participant with ten purchases is under 4 KiB even with every character \\u-escaped."""
BULK_MAX_BODY: Final = 4 * 1024 * 1024
"""1000 such participants."""
REPLAYED_HEADER: Final = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Необязательный ключ идемпотентности (до 255 символов): повтор с тем же ключом в течение 24 часов "
            "возвращает первый ответ; тот же ключ с другим телом — 422; пока первый запрос выполняется — 409."
        ),
    ),
]
BulkIdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=BATCH_IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Необязательный ключ идемпотентности (до 251 символа): участник №i получает ключ `<ключ>/<i>`, "
            "так что повтор запроса возвращает те же результаты и ничего не добавляет."
        ),
    ),
]


def _media_type(request: Request[Any, Any, Any]) -> str | None:
    content_type = request.headers.get("content-type")
    return None if content_type is None else content_type.partition(";")[0].strip().lower()


def _require_json(request: Request[Any, Any, Any]) -> None:
    media_type = _media_type(request)
    if media_type is not None and media_type != "application/json" and not media_type.endswith("+json"):
        raise bad_request(NOT_JSON)


def _caller(request: Request[Any, Any, Any]) -> tuple[Partner, PromoDeps, str]:
    """The partner the guard let in, the use case's ports and the request's id.

    Read here rather than as three ``Provide`` dependencies: Litestar resolves sibling
    dependencies concurrently in an anyio task group, ~5 % of the loop's Python per partner
    request (``docs/performance.md``) for three dictionary reads.
    """
    return guarded_partner(request), container_of(request.app.state).promo(), request_id_of(request.scope)


async def _json_body(request: Request[Any, Any, Any]) -> object:
    _require_json(request)
    return decode_json(await request.body())


_DESCRIPTION: Final = (
    "Регистрация участника акции партнёром (seed 002). Тот же телефон — тот же клиент (в том числе "
    "зарегистрированный менеджером): его покупки дополняются, источник `partner:<имя>` записывается. "
    "Каждая ошибка — 400 с одним сообщением на русском о конкретном поле; неизвестные поля игнорируются. "
    "Идемпотентность: заголовок Idempotency-Key (24 часа), а без него то же тело в течение 5 минут "
    "не добавляет покупок повторно."
)


@post(
    "/api/register-client",
    status_code=200,
    summary="Регистрация клиента акции",
    description=_DESCRIPTION,
    operation_id="registerPromoClient",
    operation_class=RegisterClientOperation,
    responses=REGISTER_CLIENT_RESPONSES,
    request_max_body_size=SINGLE_MAX_BODY,
)
async def register_client(
    request: Request[Any, Any, Any], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, int]]:
    partner, promo, request_id = _caller(request)
    registration = parse_promo_registration(await _json_body(request), promo.policy)
    masked_phone = registration.phone.masked
    request.state[MASKED_PHONE] = masked_phone
    result = await register_promo_participant(
        RegisterPromoParticipant(registration, partner, idempotency_key, request_id), promo
    )
    trace_accepted(request, client_id=result.client_id, replayed=result.replayed, masked_phone=masked_phone)
    headers = {REPLAYED_HEADER: "true"} if result.replayed else None
    return Response({"client_id": result.client_id}, headers=headers)


@post(
    "/api/register-clients",
    status_code=200,
    summary="Регистрация до 1000 клиентов акции одним запросом",
    description=(
        "Тело — JSON-массив участников в формате `POST /api/register-client`, от 1 до 1000. Каждый участник "
        "проверяется и регистрируется отдельно: ответ 200 с результатом по каждому в порядке запроса, ошибка "
        "одного не мешает остальным. Повторный участник (тот же телефон и то же тело в пределах 5 минут) "
        "получает тот же `client_id`, покупки не дублируются."
    ),
    operation_id="registerPromoClients",
    operation_class=RegisterClientsOperation,
    responses=REGISTER_CLIENTS_RESPONSES,
    request_max_body_size=ndjson.MAX_BODY,
)
async def register_clients(
    request: Request[Any, Any, Any], idempotency_key: BulkIdempotencyKey = None
) -> Response[Any]:
    partner, promo, request_id = _caller(request)
    if _media_type(request) == ndjson.MEDIA_TYPE:
        return _stream(request, partner, promo, request_id, idempotency_key)
    _require_json(request)
    payload = decode_json_array(await _bounded_body(request, BULK_MAX_BODY), MAX_BULK)
    if not payload:
        raise bad_request(NO_PARTICIPANTS)
    results = await register_promo_participants(
        RegisterPromoParticipants(payload, partner, idempotency_key, request_id), promo
    )
    answers = [_answer(result) for result in results]
    trace_bulk(
        request,
        registered=sum(1 for r in results if r.client_id is not None and not r.replayed),
        replayed=sum(1 for r in results if r.replayed),
        refused=sum(1 for r in results if r.error is not None),
    )
    return Response({"results": answers})


async def _bounded_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The body, refused once longer than ``limit`` (the route's own bound is the stream's)."""
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _stream(
    request: Request[Any, Any, Any], partner: Partner, promo: PromoDeps, request_id: str, raw_key: str | None
) -> ndjson.NdjsonStream:
    key = None if raw_key is None else raw_key.strip()
    if key is not None and (not key or len(key) > ndjson.KEY_MAX or not key.isprintable()):
        raise bad_request(BAD_IDEMPOTENCY_KEY)

    async def results() -> AsyncIterator[bytes]:
        counts = ndjson.StreamCounts()
        async for out in ndjson.register_stream(
            ndjson.lines(request.stream()), partner, promo, key, request_id, counts
        ):
            yield out
        trace_bulk(request, registered=counts.registered, replayed=counts.replayed, refused=counts.refused)

    return ndjson.NdjsonStream(results(), media_type=ndjson.MEDIA_TYPE)


def _answer(result: PromoItemResult) -> dict[str, Any]:
    if result.error is not None:
        return item_error(result.error)
    return {"client_id": result.client_id}


def partner_router() -> Router:
    """The partner API: its own key guard, its own error shape, no manager token."""
    return Router(
        "/",
        route_handlers=[register_client, register_clients],
        guards=[require_partner],
        exception_handlers={Exception: handle_partner_exception},
        security=PARTNER_SECURITY,
        tags=["partner"],
    )
