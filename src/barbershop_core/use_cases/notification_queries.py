"""What managers and the sweep read about notifications, and the sweep's expiry of passwords."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from barbershop_core.errors import NotFound
from barbershop_core.model import ClientNotification
from barbershop_core.ports import Clock, UnitOfWorkFactory
from barbershop_core.use_cases._shared import active_channel_codes, require_client
from barbershop_core.use_cases.claim_rules import EXPIRED
from barbershop_core.use_cases.delivery import AttemptResult, finish


@attrs.frozen
class NotificationQueryDeps:
    uow_factory: UnitOfWorkFactory


@attrs.frozen
class SweepDeps:
    """What the sweep's notification jobs take: the store and the time."""

    uow_factory: UnitOfWorkFactory
    clock: Clock


@attrs.frozen
class GetNotification:
    notification_id: int


async def get_notification(query: GetNotification, deps: NotificationQueryDeps) -> ClientNotification:
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get(query.notification_id)
    if notification is None:
        raise NotFound(f"Уведомление {query.notification_id} не найдено")
    return notification


@attrs.frozen
class Alert:
    """A4 / A7: a notification a manager must act on, and the channels to pick from."""

    notification: ClientNotification
    active_channels: Sequence[str]


@attrs.frozen
class ListAlerts:
    limit: int = 100


async def list_alerts(query: ListAlerts, deps: NotificationQueryDeps) -> list[Alert]:
    async with deps.uow_factory() as uow:
        active = await active_channel_codes(uow)
        pending = await uow.notifications.list_needing_attention(query.limit)
    return [Alert(notification, tuple(c for c in active if c != notification.channel)) for notification in pending]


@attrs.frozen
class ListDueNotifications:
    limit: int = 500


async def due_notification_ids(query: ListDueNotifications, deps: SweepDeps) -> list[int]:
    """For the scheduler's sweep: committed work that no worker has taken (or finished)."""
    async with deps.uow_factory() as uow:
        return list(await uow.notifications.due_ids(deps.clock.now(), query.limit))


@attrs.frozen
class ExpireTemporarySecrets:
    limit: int = 500


async def expire_temporary_secrets(command: ExpireTemporarySecrets, deps: SweepDeps) -> int:
    """Wipe sealed passwords past their expiry; a message still waiting for one fails."""
    async with deps.uow_factory() as uow:
        now = deps.clock.now()
        expired = await uow.notifications.with_expired_secrets(now, command.limit)
        for notification in expired:
            # Only waiting notifications hold a secret: every way out of waiting wipes it.
            client, person = await require_client(uow, notification.client_id)
            notification.fail(now, EXPIRED)
            await finish(uow, notification, person, client, now, AttemptResult.FAILED)
        await uow.commit()
    return len(expired)
