"""``POST /api/registrations``: the whole of UC04 in one call and one transaction."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.params import Body

from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    InvalidPhone,
    PersonExists,
    TemplateMissing,
    TemporaryError,
)
from barbershop_core.use_cases.registration import RegisterClient, register_client
from barbershop_entrypoints.http import examples
from barbershop_entrypoints.http.convert import to_body
from barbershop_entrypoints.http.deps import container_of, provide_context
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, MANAGER_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.problems import example_document
from barbershop_entrypoints.http.schemas import Link, RegistrationOut, RegistrationRequest, client_links
from barbershop_entrypoints.metrics import counted_registration

_PATH = "/api/registrations"
_ACTIVE = ("sms", "telegram", "whatsapp", "local")


@post(
    _PATH,
    status_code=201,
    tags=["registration"],
    summary="Зарегистрировать клиента (UC04)",
    description=(
        "Телефон нормализуется и проверяется (A2), создаются персона, клиент, согласия (A5), приветственное "
        "уведомление и аудит в одной транзакции; после неё уведомление уходит в очередь. "
        "Тот же телефон в течение 5 минут — 200 с `idempotent: true` и теми же id (A6); раньше — "
        "409 `client_exists` со ссылками на карточку и изменение (A1). Недоступный канал или нет шаблона — "
        "422 с `active_channels` (A7), или 201 с отложенным уведомлением при `postpone_notification: true`. "
        "Сбой базы — 503 `temporary_error`, ничего не сохранено (A3)."
    ),
    responses={
        **ok(
            RegistrationOut,
            "Клиент зарегистрирован",
            [
                example("created", examples.REGISTRATION, "Новый клиент"),
                example(
                    "postponed",
                    examples.REGISTRATION | {"notification_status": "held"},
                    "Уведомление отложено (A7)",
                ),
            ],
            status=201,
        ),
        **ok(
            RegistrationOut,
            "A6: тот же телефон в течение 5 минут — те же person_id и client_id, ничего не создано",
            [example("idempotent", examples.REGISTRATION | {"idempotent": True}, "Повтор (A6)")],
        ),
        **problems(
            _PATH,
            (*BODY_PROBLEMS, 409, *MANAGER_PROBLEMS),
            examples={
                409: [
                    example(
                        "client_exists",
                        example_document(ClientExists(client_id=42, person_id=41), _PATH),
                        "Клиент уже существует (A1)",
                    ),
                    example(
                        "person_exists",
                        example_document(PersonExists(person_id=41), _PATH),
                        "Телефон принадлежит персоне, которая ещё не клиент",
                    ),
                ],
                422: [
                    example("invalid_phone", example_document(InvalidPhone(), _PATH), "Проверьте номер (A2)"),
                    example(
                        "channel_unavailable",
                        example_document(ChannelUnavailable("vk", _ACTIVE), _PATH),
                        "Канал недоступен (A7)",
                    ),
                    example(
                        "template_missing",
                        example_document(TemplateMissing("REG_WELCOME", "telegram", _ACTIVE), _PATH),
                        "Нет шаблона (A7)",
                    ),
                    example("consent_required", example_document(ConsentRequired(), _PATH), "Нет согласия (A5)"),
                ],
                503: [example("temporary_error", example_document(TemporaryError(), _PATH), "Временная ошибка (A3)")],
            },
            descriptions={
                409: "A1: клиент уже существует (`client_exists`) — с `client_id` и ссылками "
                "`links.card`, `links.update`",
                422: "A2 `invalid_phone`, A7 `channel_unavailable` / `template_missing` с `active_channels`, "
                "A5 `consent_required`, `validation_error`",
                503: "A3: временная ошибка (`temporary_error`), ничего не сохранено; см. Retry-After",
            },
        ),
    },
)
async def register(
    data: Annotated[
        RegistrationRequest,
        Body(
            examples=[
                example("minimal", {"phone": "8 911 123-45-67", "first_name": "Иван"}, "Телефон и имя"),
                example(
                    "full",
                    {
                        "phone": "+79111234567",
                        "first_name": "Иван",
                        "channel": "sms",
                        "template_code": "REG_WELCOME",
                        "consents": {"personal_data": True, "marketing": False},
                        "postpone_notification": False,
                    },
                    "С каналом и согласиями",
                ),
            ]
        ),
    ],
    request: Request[Any, Any, Any],
) -> Response[RegistrationOut]:
    # The context and the ports read here rather than as two ``Provide`` dependencies:
    # Litestar resolves sibling dependencies in an anyio task group, ~60–70 µs of the loop's
    # CPU per registration for two dictionary reads (``docs/performance.md``).
    context, registration = provide_context(request), container_of(request.app.state).registration()
    result = await counted_registration(
        register_client(
            RegisterClient(
                phone=data.phone,
                first_name=data.first_name,
                context=context,
                channel=data.channel,
                template_code=data.template_code,
                consents=data.consents,
                channel_accounts=data.channel_accounts,
                postpone_notification=data.postpone_notification,
            ),
            registration,
        ),
        idempotent=lambda done: done.idempotent,
    )
    links = client_links(result.client_id)
    if result.notification_id is not None:
        links["notification"] = Link(href=f"/api/notifications/{result.notification_id}")
    body = to_body(RegistrationOut, result, links=links)
    return Response(
        body,
        status_code=200 if result.idempotent else 201,
        headers={"Location": links["card"].href},
    )
