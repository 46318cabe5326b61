"""Notifications: schedule (step 7), status, alerts (A4 / A7), resend, the provider's callback."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import Body, Parameter

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ConsentRequired,
    NotFound,
    NotificationInProgress,
    TemplateMissing,
    ValidationError,
)
from barbershop_core.model import Actor
from barbershop_core.use_cases.delivery_reports import DeliveryReport, ReportDeps, apply_delivery_report
from barbershop_core.use_cases.notification_commands import (
    NotificationDeps,
    ResendNotification,
    ScheduleNotification,
    resend_notification,
    schedule_notification,
)
from barbershop_core.use_cases.notification_queries import (
    GetNotification,
    ListAlerts,
    NotificationQueryDeps,
    get_notification,
    list_alerts,
)
from barbershop_entrypoints.http import examples
from barbershop_entrypoints.http.auth import provide_provider_channel, require_provider_signature
from barbershop_entrypoints.http.convert import alert_body, notification_body
from barbershop_entrypoints.http.openapi import BODY_PROBLEMS, MANAGER_PROBLEMS, SIGNATURE, example, ok, problems
from barbershop_entrypoints.http.params import NotificationId
from barbershop_entrypoints.http.problems import ApiProblem, example_document
from barbershop_entrypoints.http.schemas import (
    AlertOut,
    DeliveryCallbackOut,
    DeliveryCallbackRequest,
    NotificationCreateRequest,
    NotificationOut,
    ResendRequest,
)
from barbershop_entrypoints.metrics import count_delivery_report

_NOTIFICATIONS = "/api/notifications"
_ONE = "/api/notifications/{notification_id:int}"
_EXAMPLE_ONE = "/api/notifications/43"
_ACTIVE = ("sms", "telegram", "whatsapp", "local")

_A7_EXAMPLES = [
    example("channel_unavailable", example_document(ChannelUnavailable("vk", _ACTIVE), _NOTIFICATIONS)),
    example("template_missing", example_document(TemplateMissing("REG_WELCOME", "telegram", _ACTIVE), _NOTIFICATIONS)),
    example("consent_required", example_document(ConsentRequired(), _NOTIFICATIONS)),
]


@post(
    _NOTIFICATIONS,
    status_code=201,
    tags=["notifications"],
    summary="Запланировать уведомление клиенту (шаг 7)",
    description=(
        "Сообщение с паролем получает новый временный пароль. `postpone: true` откладывает уведомление (A7) "
        "до выбора канала через `resend`."
    ),
    responses={
        **ok(
            NotificationOut,
            "Уведомление создано (scheduled или held)",
            [
                example(
                    "scheduled",
                    examples.NOTIFICATION
                    | {
                        "status": "scheduled",
                        "attempt_count": 0,
                        "attempts": [],
                        "history": examples.NOTIFICATION["history"][:1],
                    },
                ),
                example("held", examples.HELD_NOTIFICATION),
            ],
            status=201,
        ),
        **problems(
            _NOTIFICATIONS,
            (*BODY_PROBLEMS, 404, *MANAGER_PROBLEMS),
            examples={
                404: [example("not_found", example_document(NotFound("Клиент 42 не найден"), _NOTIFICATIONS))],
                422: _A7_EXAMPLES,
            },
        ),
    },
)
async def create_notification(
    data: Annotated[
        NotificationCreateRequest,
        Body(examples=[example("welcome", {"client_id": 42, "channel": "sms", "template_code": "REG_WELCOME"})]),
    ],
    context: NamedDependency[Context],
    notification_deps: NamedDependency[NotificationDeps],
) -> Response[NotificationOut]:
    notification = await schedule_notification(
        ScheduleNotification(
            client_id=data.client_id,
            context=context,
            template_code=data.template_code,
            channel=data.channel,
            postpone=data.postpone,
        ),
        notification_deps,
    )
    return Response(
        notification_body(notification),
        status_code=201,
        headers={"Location": f"{_NOTIFICATIONS}/{notification.id}"},
    )


@get(
    f"{_NOTIFICATIONS}/alerts",
    tags=["notifications"],
    summary="Уведомления, требующие внимания (A4, A7)",
    description=(
        "Не доставленные после всех попыток (`failed`) и отложенные (`held`) уведомления, которым ещё не "
        "отправлена замена, с активными каналами, через которые их можно отправить (`resend`)."
    ),
    responses={
        **ok(
            list[AlertOut],
            "Оповещения",
            [
                example(
                    "alerts",
                    [
                        {
                            "notification": examples.FAILED_NOTIFICATION,
                            "active_channels": ["telegram", "whatsapp", "local"],
                            "resend": {"href": "/api/notifications/43/resend", "method": "POST"},
                        }
                    ],
                )
            ],
        ),
        **problems(f"{_NOTIFICATIONS}/alerts", (400, 422, *MANAGER_PROBLEMS)),
    },
)
async def notification_alerts(
    notification_queries: NamedDependency[NotificationQueryDeps],
    limit: Annotated[int, Parameter(ge=1, le=500, description="Сколько оповещений показать")] = 100,
) -> list[AlertOut]:
    alerts = await list_alerts(ListAlerts(limit=limit), notification_queries)
    return [alert_body(alert) for alert in alerts]


@get(
    _ONE,
    tags=["notifications"],
    summary="Статус уведомления, попытки и история",
    responses={
        **ok(
            NotificationOut,
            "Уведомление",
            [example("sent", examples.NOTIFICATION), example("failed", examples.FAILED_NOTIFICATION)],
        ),
        **problems(
            _EXAMPLE_ONE,
            (400, 404, 422, *MANAGER_PROBLEMS),
            examples={
                404: [example("not_found", example_document(NotFound("Уведомление 43 не найдено"), _EXAMPLE_ONE))]
            },
        ),
    },
)
async def notification_status(
    notification_id: NotificationId, notification_queries: NamedDependency[NotificationQueryDeps]
) -> NotificationOut:
    notification = await get_notification(GetNotification(notification_id), notification_queries)
    return notification_body(notification)


@post(
    f"{_ONE}/resend",
    status_code=201,
    tags=["notifications"],
    summary="Отправить снова или через другой канал (A4, A7)",
    description=(
        "Отложенное (`held`) уведомление отправляется через выбранный канал — 200, то же уведомление. "
        "Завершённое (`sent`, `delivered`, `failed`) — создаётся новое с новым временным паролем — 201. "
        "Ещё отправляемое (`scheduled`) — 409 `notification_in_progress`."
    ),
    responses={
        **ok(
            NotificationOut,
            "Создано новое уведомление, заменяющее прежнее",
            [example("new", examples.NOTIFICATION | {"id": 44, "resend_of": 43})],
            status=201,
        ),
        **ok(
            NotificationOut,
            "Отложенное уведомление отправлено через выбранный канал",
            [example("released", examples.NOTIFICATION | {"status": "scheduled"})],
        ),
        **problems(
            f"{_EXAMPLE_ONE}/resend",
            (*BODY_PROBLEMS, 404, 409, *MANAGER_PROBLEMS),
            examples={
                404: [example("not_found", example_document(NotFound("Уведомление 43 не найдено"), _EXAMPLE_ONE))],
                409: [example("in_progress", example_document(NotificationInProgress(), f"{_EXAMPLE_ONE}/resend"))],
                422: _A7_EXAMPLES,
            },
        ),
    },
)
async def resend(
    notification_id: NotificationId,
    data: Annotated[ResendRequest, Body(examples=[example("telegram", {"channel": "telegram"})])],
    context: NamedDependency[Context],
    notification_deps: NamedDependency[NotificationDeps],
) -> Response[NotificationOut]:
    notification = await resend_notification(
        ResendNotification(notification_id=notification_id, channel=data.channel, context=context),
        notification_deps,
    )
    if notification.id == notification_id:
        return Response(notification_body(notification), status_code=200)
    return Response(
        notification_body(notification),
        status_code=201,
        headers={"Location": f"{_NOTIFICATIONS}/{notification.id}"},
    )


_CALLBACK = f"{_ONE}/delivery-callback"
_EXAMPLE_CALLBACK = f"{_EXAMPLE_ONE}/delivery-callback"


@post(
    _CALLBACK,
    status_code=200,
    tags=["notifications"],
    summary="Отчёт провайдера о доставке",
    description=(
        "Заголовок `X-Signature: sha256=<hex HMAC-SHA256 строки «<id уведомления>.» и сырого тела запроса "
        "с секретом канала уведомления>`. "
        "Повторный или устаревший отчёт ничего не меняет (`changed: false`): статусы не откатываются."
    ),
    guards=[require_provider_signature],
    security=[{SIGNATURE: []}],
    dependencies={"provider_channel": Provide(provide_provider_channel, sync_to_thread=False)},
    responses={
        **ok(
            DeliveryCallbackOut,
            "Отчёт принят",
            [
                example("delivered", {"notification_id": 43, "status": "delivered", "changed": True}),
                example("repeated", {"notification_id": 43, "status": "delivered", "changed": False}),
            ],
        ),
        **problems(
            _EXAMPLE_CALLBACK,
            (*BODY_PROBLEMS, 401, 404, 500, 503),
            examples={
                401: [
                    example(
                        "invalid_signature",
                        example_document(
                            ApiProblem(
                                401, "invalid_signature", "Неверная подпись", "Подпись не совпадает с телом запроса"
                            ),
                            _EXAMPLE_CALLBACK,
                        ),
                    )
                ],
                404: [example("not_found", example_document(NotFound("Уведомление 43 не найдено"), _EXAMPLE_CALLBACK))],
                422: [
                    example(
                        "other_message",
                        example_document(
                            ValidationError("Отчёт относится к другому сообщению", field="provider_message_id"),
                            _EXAMPLE_CALLBACK,
                        ),
                    )
                ],
            },
            descriptions={401: "Нет подписи или она неверна (`invalid_signature`)"},
        ),
    },
)
async def delivery_callback(
    notification_id: NotificationId,
    data: Annotated[
        DeliveryCallbackRequest,
        Body(examples=[example("delivered", {"status": "delivered", "provider_message_id": "sms-7f3a"})]),
    ],
    provider_channel: NamedDependency[str],
    request_id: NamedDependency[str],
    report_deps: NamedDependency[ReportDeps],
) -> DeliveryCallbackOut:
    outcome = await apply_delivery_report(
        DeliveryReport(
            notification_id=notification_id,
            status=data.status,
            context=Context(Actor.provider(provider_channel), request_id),
            provider_message_id=data.provider_message_id,
            error=data.error,
        ),
        report_deps,
    )
    count_delivery_report(provider_channel, data.status, "applied" if outcome.changed else "unchanged")
    return DeliveryCallbackOut(
        notification_id=outcome.notification.id, status=outcome.notification.status, changed=outcome.changed
    )
