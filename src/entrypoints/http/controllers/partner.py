"""Seed 002: partners register promo participants — ``POST /api/register-client`` and its bulk twin.

The contract is the seed's OpenAPI document, answer for answer: ``200 {"client_id": N}``,
``400 {"error": "<one Russian message>"}``, ``401`` without a valid key, ``500`` that
leaks nothing (see :mod:`entrypoints.http.partner_errors`). The body is read raw and
decoded by :mod:`entrypoints.http.partner_json` (``Decimal`` for every JSON number with a fraction);
the rules and their messages are the core's (:func:`parse_promo_registration`).

Unknown fields are ignored, at the top level and in a purchase: a tolerant reader, so a
partner that starts sending more (a loyalty card number, say) breaks nothing.

``POST /api/register-clients`` takes a JSON array of up to 1000 of the same participants
and answers ``200 {"results": [...]}``, one ``{"client_id": N}`` or ``{"error": "…"}``
per participant, in order. Participants run concurrently (bounded), except that those
sharing a phone run one after another, in order, so a repeated participant is a replay
of the first and not a race. With an ``Idempotency-Key`` header each participant gets
the key ``<key>/<index>``: a retried bulk request replays, participant by participant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any, Final

from litestar import Request, Response, Router, post
from litestar.di import NamedDependency, Provide
from litestar.params import HeaderParameter

from barbershop_core.errors import DomainError, ValidationError
from barbershop_core.model import Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    IDEMPOTENCY_KEY_MAX,
    PromoDeps,
    PromoRegistration,
    RegisterPromoParticipant,
    parse_promo_registration,
    register_promo_participant,
)
from entrypoints.bootstrap import Container
from entrypoints.http.auth import provide_partner, require_partner
from entrypoints.http.partner_errors import BAD_IDEMPOTENCY_KEY, bad_request, handle_partner_exception, item_error
from entrypoints.http.partner_json import decode_json
from entrypoints.http.partner_openapi import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_BULK,
    NO_PARTICIPANTS,
    NOT_AN_ARRAY,
    NOT_JSON,
    PARTNER_SECURITY,
    REGISTER_CLIENT_RESPONSES,
    REGISTER_CLIENTS_RESPONSES,
    TOO_MANY_PARTICIPANTS,
    RegisterClientOperation,
    RegisterClientsOperation,
)
from entrypoints.http.partner_trace import MASKED_PHONE, trace_accepted, trace_bulk

SINGLE_MAX_BODY: Final = 64 * 1024
"""A participant with ten purchases is under 4 KiB even with every character \\u-escaped."""
BULK_MAX_BODY: Final = 4 * 1024 * 1024
"""1000 such participants."""
BULK_CONCURRENCY: Final = 8
"""Participants of one bulk request in flight at once on PostgreSQL (each holds one pooled
connection at a time). SQLite has one writer: there they run one at a time."""
_BULK_SUFFIX: Final = len(f"/{MAX_BULK - 1}")
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
        max_length=IDEMPOTENCY_KEY_MAX - _BULK_SUFFIX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "Необязательный ключ идемпотентности (до 251 символа): участник №i получает ключ `<ключ>/<i>`, "
            "так что повтор запроса возвращает те же результаты и ничего не добавляет."
        ),
    ),
]


async def _json_body(request: Request[Any, Any, Any]) -> object:
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media_type = content_type.partition(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise bad_request(NOT_JSON)
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
    request: Request[Any, Any, Any],
    partner: NamedDependency[Partner],
    promo: NamedDependency[PromoDeps],
    request_id: NamedDependency[str],
    idempotency_key: IdempotencyKey = None,
) -> Response[dict[str, int]]:
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
    request_max_body_size=BULK_MAX_BODY,
)
async def register_clients(
    request: Request[Any, Any, Any],
    partner: NamedDependency[Partner],
    promo: NamedDependency[PromoDeps],
    container: NamedDependency[Container],
    request_id: NamedDependency[str],
    idempotency_key: BulkIdempotencyKey = None,
) -> Response[dict[str, list[dict[str, Any]]]]:
    payload = await _json_body(request)
    if not isinstance(payload, list):
        raise bad_request(NOT_AN_ARRAY)
    if not payload:
        raise bad_request(NO_PARTICIPANTS)
    if len(payload) > MAX_BULK:
        raise bad_request(TOO_MANY_PARTICIPANTS)
    key = _bulk_key(idempotency_key)
    bulk = _Bulk(partner, promo, request_id, key, len(payload))
    for index, item in enumerate(payload):
        bulk.parse(index, item)
    await bulk.run(concurrency=1 if container.engine.dialect.name == "sqlite" else BULK_CONCURRENCY)
    trace_bulk(request, registered=bulk.registered, replayed=bulk.replayed, refused=bulk.refused)
    return Response({"results": bulk.results()})


def _bulk_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX - _BULK_SUFFIX or not key.isprintable():
        raise bad_request(BAD_IDEMPOTENCY_KEY)
    return key


class _Bulk:
    """The participants of one bulk request and their results, by index."""

    def __init__(self, partner: Partner, promo: PromoDeps, request_id: str, key: str | None, size: int) -> None:
        self._partner = partner
        self._promo = promo
        self._request_id = request_id
        self._key = key
        self._results: list[dict[str, Any] | None] = [None] * size
        self._by_phone: dict[str, list[tuple[int, PromoRegistration]]] = {}
        self.registered = self.replayed = self.refused = 0

    def parse(self, index: int, item: object) -> None:
        try:
            registration = parse_promo_registration(item, self._promo.policy)
        except ValidationError as exc:
            self._refuse(index, exc)
            return
        self._by_phone.setdefault(registration.phone.e164, []).append((index, registration))

    async def run(self, *, concurrency: int) -> None:
        chains = iter(self._by_phone.values())
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(self._by_phone))):
                group.create_task(self._work(chains))

    async def _work(self, chains: Iterator[list[tuple[int, PromoRegistration]]]) -> None:
        # One shared iterator: each worker takes the next phone's participants until none are left.
        for chain in chains:
            for index, registration in chain:
                await self._register(index, registration)

    async def _register(self, index: int, registration: PromoRegistration) -> None:
        key = None if self._key is None else f"{self._key}/{index}"
        command = RegisterPromoParticipant(registration, self._partner, key, self._request_id)
        try:
            result = await register_promo_participant(command, self._promo)
        except (DomainError, StorageUnavailable) as exc:
            self._refuse(index, exc)
            return
        self._results[index] = {"client_id": result.client_id}
        if result.replayed:
            self.replayed += 1
        else:
            self.registered += 1

    def _refuse(self, index: int, exc: DomainError | StorageUnavailable) -> None:
        self._results[index] = item_error(exc)
        self.refused += 1

    def results(self) -> list[dict[str, Any]]:
        assert all(result is not None for result in self._results)  # every index is parsed, then run or refused
        return [result for result in self._results if result is not None]


def partner_router() -> Router:
    """The partner API: its own key guard, its own error shape, no manager token."""
    return Router(
        "/",
        route_handlers=[register_client, register_clients],
        guards=[require_partner],
        dependencies={"partner": Provide(provide_partner, sync_to_thread=False)},
        exception_handlers={Exception: handle_partner_exception},
        security=PARTNER_SECURITY,
        tags=["partner"],
    )
