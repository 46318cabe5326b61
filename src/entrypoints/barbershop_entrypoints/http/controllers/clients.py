"""Clients: make a person a client (step 6), find by phone, the card (A1.1), update (A1.2)."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import Body

from barbershop_core.context import Context
from barbershop_core.errors import ClientExists, InvalidPhone, NotFound, PersonExists, ValidationError
from barbershop_core.use_cases.clients import (
    ClientDeps,
    CreateClient,
    FindByPhone,
    GetClientCard,
    UpdateClient,
    create_client,
    find_clients_by_phone,
    get_client_card,
    update_client,
)
from barbershop_core.use_cases.timeline import GetClientTimeline, client_timeline
from barbershop_entrypoints.http import examples
from barbershop_entrypoints.http.controllers.persons import PhoneQuery
from barbershop_entrypoints.http.convert import card_body, cards_body, timeline_step_body, to_body
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, MANAGER_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.params import ClientId
from barbershop_entrypoints.http.problems import example_document
from barbershop_entrypoints.http.schemas import (
    ClientCardOut,
    ClientCreateRequest,
    ClientOut,
    ClientUpdateRequest,
    TimelineStepOut,
    client_links,
)

_CLIENTS = "/api/clients"
_CLIENT = "/api/clients/{client_id:int}"
_EXAMPLE_CLIENT = "/api/clients/42"


@post(
    _CLIENTS,
    status_code=201,
    tags=["clients"],
    summary="Сделать персону клиентом (шаг 6)",
    responses={
        **ok(
            ClientOut,
            "Клиент создан",
            [
                example(
                    "created",
                    {
                        "id": 42,
                        "person_id": 41,
                        "registered_at": "2025-11-22T10:15:00Z",
                        "registered_by": "manager:1",
                        "source": "manager",
                        "channel_accounts": {},
                        "links": examples.CLIENT_LINKS,
                    },
                )
            ],
            status=201,
        ),
        **problems(
            _CLIENTS,
            (*BODY_PROBLEMS, 404, 409, *MANAGER_PROBLEMS),
            examples={
                404: [example("not_found", example_document(NotFound("Персона 41 не найдена"), _CLIENTS))],
                409: [example("client_exists", example_document(ClientExists(client_id=42, person_id=41), _CLIENTS))],
            },
        ),
    },
)
async def create_client_of_person(
    data: Annotated[
        ClientCreateRequest,
        Body(examples=[example("client", {"person_id": 41, "consents": {"personal_data": True}})]),
    ],
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
) -> Response[ClientOut]:
    client = await create_client(
        CreateClient(
            person_id=data.person_id,
            context=context,
            consents=data.consents,
            channel_accounts=data.channel_accounts,
        ),
        clients,
    )
    body = to_body(ClientOut, client, links=client_links(client.id))
    return Response(body, status_code=201, headers={"Location": f"{_CLIENTS}/{client.id}"})


@get(
    _CLIENTS,
    tags=["clients"],
    summary="Найти клиента по телефону",
    description="Список из нуля или одной карточки клиента.",
    responses={
        **ok(list[ClientCardOut], "Найденные клиенты", [example("found", [examples.CARD]), example("none", [])]),
        **problems(
            _CLIENTS,
            (400, 422, *MANAGER_PROBLEMS),
            examples={422: [example("invalid_phone", example_document(InvalidPhone(), _CLIENTS))]},
        ),
    },
)
async def list_clients(phone: PhoneQuery, clients: NamedDependency[ClientDeps]) -> list[ClientCardOut]:
    cards = await find_clients_by_phone(FindByPhone(phone), clients)
    return cards_body(cards)


@get(
    _CLIENT,
    tags=["clients"],
    summary="Карточка клиента (A1.1)",
    responses={
        **ok(ClientCardOut, "Карточка", [example("card", examples.CARD)]),
        **problems(
            _EXAMPLE_CLIENT,
            (400, 404, 422, *MANAGER_PROBLEMS),
            examples={404: [example("not_found", example_document(NotFound("Клиент 42 не найден"), _EXAMPLE_CLIENT))]},
        ),
    },
)
async def client_card(client_id: ClientId, clients: NamedDependency[ClientDeps]) -> ClientCardOut:
    card = await get_client_card(GetClientCard(client_id), clients)
    return card_body(card)


@patch(
    _CLIENT,
    tags=["clients"],
    summary="Изменить клиента (A1.2)",
    description=(
        "Меняет только переданные поля. Новый телефон проверяется на уникальность (409 `person_exists`). "
        "`consents` добавляет записи согласий (история сохраняется)."
    ),
    responses={
        **ok(ClientCardOut, "Карточка после изменения", [example("card", examples.CARD)]),
        **problems(
            _EXAMPLE_CLIENT,
            (*BODY_PROBLEMS, 404, 409, *MANAGER_PROBLEMS),
            examples={
                404: [example("not_found", example_document(NotFound("Клиент 42 не найден"), _EXAMPLE_CLIENT))],
                409: [
                    example(
                        "person_exists",
                        example_document(PersonExists(person_id=51, client_id=52), _EXAMPLE_CLIENT),
                    )
                ],
                422: [
                    example("invalid_phone", example_document(InvalidPhone(), _EXAMPLE_CLIENT)),
                    example(
                        "invalid_email",
                        example_document(ValidationError("Некорректный email", field="email"), _EXAMPLE_CLIENT),
                    ),
                ],
            },
        ),
    },
)
async def update_client_card(
    client_id: ClientId,
    data: Annotated[
        ClientUpdateRequest,
        Body(examples=[example("update", {"first_name": "Пётр", "consents": {"marketing": True}})]),
    ],
    context: NamedDependency[Context],
    clients: NamedDependency[ClientDeps],
) -> ClientCardOut:
    card = await update_client(
        UpdateClient(
            client_id=client_id,
            context=context,
            first_name=data.first_name,
            phone=data.phone,
            email=data.email,
            consents=data.consents,
            channel_accounts=data.channel_accounts,
        ),
        clients,
    )
    return card_body(card)


_TIMELINE_EXAMPLE = [
    {
        "at": "2026-11-22T09:00:00Z",
        "notification_id": 43,
        "channel": "telegram",
        "kind": "created",
        "state": "scheduled",
        "detail": None,
        "provider_message_id": None,
        "replaces": None,
    },
    {
        "at": "2026-11-22T09:00:01Z",
        "notification_id": 43,
        "channel": "telegram",
        "kind": "attempt",
        "state": "permanent_failure",
        "detail": "Telegram: номер не зарегистрирован в Telegram (код PHONE_NUMBER_NOT_FOUND)",
        "provider_message_id": None,
        "replaces": None,
    },
    {
        "at": "2026-11-22T09:00:01Z",
        "notification_id": 43,
        "channel": "telegram",
        "kind": "status",
        "state": "failed",
        "detail": "Telegram: номер не зарегистрирован в Telegram (код PHONE_NUMBER_NOT_FOUND)",
        "provider_message_id": None,
        "replaces": None,
    },
    {
        "at": "2026-11-22T09:00:02Z",
        "notification_id": 44,
        "channel": "whatsapp",
        "kind": "created",
        "state": "scheduled",
        "detail": "Резервный канал: №43 не доставлено через «telegram»",
        "provider_message_id": None,
        "replaces": 43,
    },
    {
        "at": "2026-11-22T09:00:03Z",
        "notification_id": 44,
        "channel": "whatsapp",
        "kind": "attempt",
        "state": "sent",
        "detail": None,
        "provider_message_id": "wamid.HBgLNzkxMTEyMzQ1Njc",
        "replaces": None,
    },
    {
        "at": "2026-11-22T09:00:40Z",
        "notification_id": 44,
        "channel": "whatsapp",
        "kind": "status",
        "state": "delivered",
        "detail": "Отчёт провайдера: доставлено (WhatsApp read)",
        "provider_message_id": None,
        "replaces": None,
    },
]


@get(
    f"{_CLIENT}/timeline",
    tags=["clients"],
    summary="Ход доставки уведомлений клиента",
    description=(
        "Все уведомления клиента по порядку: создание (и чем оно заменило прежнее — резервный канал или повтор), "
        "каждая попытка с ответом провайдера, каждая смена статуса с отчётом провайдера, со временем."
    ),
    responses={
        **ok(list[TimelineStepOut], "Шаги по времени", [example("fallback", _TIMELINE_EXAMPLE)]),
        **problems(
            f"{_EXAMPLE_CLIENT}/timeline",
            (400, 404, 422, *MANAGER_PROBLEMS),
            examples={
                404: [
                    example(
                        "not_found", example_document(NotFound("Клиент 42 не найден"), f"{_EXAMPLE_CLIENT}/timeline")
                    )
                ]
            },
        ),
    },
)
async def client_timeline_steps(client_id: ClientId, clients: NamedDependency[ClientDeps]) -> list[TimelineStepOut]:
    steps = await client_timeline(GetClientTimeline(client_id), clients)
    return [timeline_step_body(step) for step in steps]
