"""What the pages show: domain objects turned into plain, template-ready records.

Nothing here reaches a temporary password: a person's password hash and a notification's
sealed secret are never copied into a view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from barbershop_core.model import AddressKind, Channel, ClientNotification, NotificationStatus
from barbershop_core.use_cases.clients import ClientCard
from barbershop_entrypoints.http.web.rendering import STATUS_LABELS

LIVE_STATUSES = frozenset({NotificationStatus.SCHEDULED, NotificationStatus.SENT})
"""Statuses that still change by themselves (a worker, a provider's report): the page polls them."""


@attrs.frozen
class ChannelOption:
    code: str
    title: str
    needs_account: bool


def channel_options(channels: Sequence[Channel]) -> list[ChannelOption]:
    """The channels a manager may pick: the active ones only (A7, variant 1)."""
    return [
        ChannelOption(channel.code, channel.title, channel.address_kind is AddressKind.ACCOUNT)
        for channel in channels
        if channel.is_active
    ]


def channel_titles(channels: Sequence[Channel]) -> dict[str, str]:
    return {channel.code: channel.title for channel in channels}


@attrs.frozen(kw_only=True)
class NotificationView:
    id: int
    client_id: int
    channel: str
    channel_title: str
    template_code: str
    status: str
    status_label: str
    detail: str
    needs_attention: bool
    live: bool
    superseded_by: int | None
    resend_of: int | None
    attempt_count: int
    created_at: datetime
    updated_at: datetime


def _detail(notification: ClientNotification, channel_title: str) -> str:
    status = notification.status
    reason = notification.history[-1].reason if notification.history else None
    if status is NotificationStatus.HELD:
        return reason or "Уведомление отложено: выберите канал и отправьте"
    if status is NotificationStatus.FAILED:
        return notification.last_error or reason or "Сообщение не доставлено"
    if status is NotificationStatus.SENT:
        return f"Передано в канал «{channel_title}», ждём отчёт о доставке"
    if status is NotificationStatus.DELIVERED:
        return "Клиент получил сообщение"
    if notification.last_error:
        return f"Попытка не удалась ({notification.last_error}), будет повтор"
    return f"Сообщение ждёт отправки через канал «{channel_title}»"


def notification_view(notification: ClientNotification, titles: Mapping[str, str]) -> NotificationView:
    title = titles.get(notification.channel, notification.channel)
    history = notification.history
    return NotificationView(
        id=notification.id,
        client_id=notification.client_id,
        channel=notification.channel,
        channel_title=title,
        template_code=notification.template_code,
        status=str(notification.status),
        status_label=STATUS_LABELS[notification.status],
        detail=_detail(notification, title),
        needs_attention=notification.needs_attention,
        live=notification.status in LIVE_STATUSES and notification.superseded_by is None,
        superseded_by=notification.superseded_by,
        resend_of=notification.resend_of,
        attempt_count=notification.attempt_count,
        created_at=notification.created_at,
        updated_at=history[-1].at if history else notification.created_at,
    )


@attrs.frozen(kw_only=True)
class ClientView:
    id: int
    person_id: int
    first_name: str
    phone: str
    login: str
    email: str | None
    full_name: str | None
    source: str
    registered_at: datetime
    registered_by: str
    must_change_password: bool
    temporary_password_expires_at: datetime | None
    temporary_password_voided_at: datetime | None
    """Wrong guesses voided the temporary password: the card offers to send a new one."""
    first_signed_in_at: datetime | None
    consents: Mapping[str, bool]
    channel_accounts: Mapping[str, str]
    notifications: list[NotificationView]
    """Newest first."""
    purchases: list[tuple[str, str, datetime]]
    """Name, price in roubles, when."""


def source_label(source: str) -> str:
    if source == "manager":
        return "Менеджер"
    if source.startswith("partner:"):
        return f"Партнёр «{source.removeprefix('partner:')}»"
    return source


def client_view(card: ClientCard, titles: Mapping[str, str]) -> ClientView:
    client, person = card.client, card.person
    return ClientView(
        id=client.id,
        person_id=person.id,
        first_name=str(person.first_name),
        phone=person.phone.e164,
        login=str(person.login),
        email=str(client.email) if client.email else None,
        full_name=str(client.full_name) if client.full_name else None,
        source=source_label(client.source),
        registered_at=client.registered_at,
        registered_by=client.registered_by,
        must_change_password=person.must_change_password,
        temporary_password_expires_at=person.temporary_password_expires_at,
        temporary_password_voided_at=person.temporary_password_voided_at,
        first_signed_in_at=person.first_signed_in_at,
        consents=dict(card.consents),
        channel_accounts=dict(client.channel_accounts),
        notifications=[
            notification_view(notification, titles)
            for notification in sorted(card.notifications, key=lambda n: n.id, reverse=True)
        ],
        purchases=[(purchase.name, str(purchase.price), purchase.registered_at) for purchase in card.purchases],
    )
