"""Alerts (A4 failed, A7 held) and «отправить через другой канал»."""

from __future__ import annotations

from typing import Any, Final

import attrs
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ConsentRequired,
    DomainError,
    InvalidTransition,
    NotificationInProgress,
    TemplateMissing,
    ValidationError,
)
from barbershop_core.use_cases.clients import ClientDeps, GetClientCard, get_client_card
from barbershop_core.use_cases.notification_commands import NotificationDeps, ResendNotification, resend_notification
from barbershop_core.use_cases.notification_queries import ListAlerts, NotificationQueryDeps, list_alerts
from barbershop_core.use_cases.reference_data import ListChannels, ReferenceDeps, list_channels
from barbershop_entrypoints.http.params import NotificationId
from barbershop_entrypoints.http.web.forms import read_form
from barbershop_entrypoints.http.web.rendering import render
from barbershop_entrypoints.http.web.views import (
    ChannelOption,
    NotificationView,
    channel_options,
    channel_titles,
    notification_view,
)

ALERT_LIMIT: Final = 100


@attrs.frozen(kw_only=True)
class AlertView:
    notification: NotificationView
    client_id: int
    client_name: str
    phone: str
    channels: list[ChannelOption]
    """The active channels to send it through."""


@get("/alerts")
async def alerts_page(
    request: Request[Any, Any, Any],
    notification_queries: NamedDependency[NotificationQueryDeps],
    reference: NamedDependency[ReferenceDeps],
    clients: NamedDependency[ClientDeps],
) -> Template:
    channels = await list_channels(ListChannels(), reference)
    titles = channel_titles(channels)
    # Every active channel is offered, the alert's own included: a message the manager held
    # (A7, «отложить») may well go out through the channel first picked for it.
    options = channel_options(channels)
    alerts = await list_alerts(ListAlerts(limit=ALERT_LIMIT), notification_queries)
    people: dict[int, tuple[str, str]] = {}
    for alert in alerts:
        client_id = alert.notification.client_id
        if client_id not in people:
            card = await get_client_card(GetClientCard(client_id), clients)
            people[client_id] = (str(card.person.first_name), card.person.phone.e164)
    views = [
        AlertView(
            notification=notification_view(alert.notification, titles),
            client_id=alert.notification.client_id,
            client_name=people[alert.notification.client_id][0],
            phone=people[alert.notification.client_id][1],
            channels=options,
        )
        for alert in alerts
    ]
    return render(request, "alerts.html", alerts=views, limit=ALERT_LIMIT, title="Оповещения", nav="alerts")


def _back_to(back: str, client_id: int, notification_id: int) -> Redirect:
    if back == "result":
        return Redirect(
            f"/registrations/{client_id}", query_params={"notification": str(notification_id)}, status_code=303
        )
    if back == "client":
        return Redirect(f"/clients/{client_id}", query_params={"flash": "resent"}, status_code=303)
    return Redirect("/alerts", query_params={"flash": "resent"}, status_code=303)


@post("/notifications/{notification_id:int}/resend", status_code=303)
async def resend_from_page(
    request: Request[Any, Any, Any],
    notification_id: NotificationId,
    context: NamedDependency[Context],
    notification_deps: NamedDependency[NotificationDeps],
) -> Response[Any]:
    form = await read_form(request)
    channel, back, client = form.text("channel"), form.text("back"), form.text("client_id")
    back_url = f"/clients/{client}" if back != "alerts" and client.isdigit() else "/alerts"

    def refused(error: DomainError, status_code: int) -> Template:
        return render(
            request,
            "error.html",
            status_code=status_code,
            title="Не удалось отправить уведомление",
            detail=error.message,
            request_id=None,
            back_url=back_url,
        )

    if not channel:
        return refused(ValidationError("Выберите канал", field="channel"), 422)
    try:
        sent = await resend_notification(
            ResendNotification(notification_id=notification_id, channel=channel, context=context), notification_deps
        )
    except (NotificationInProgress, InvalidTransition) as conflict:
        return refused(conflict, 409)
    except (ChannelUnavailable, TemplateMissing, ConsentRequired, ValidationError) as invalid:
        return refused(invalid, 422)
    return _back_to(back, sent.client_id, sent.id)
