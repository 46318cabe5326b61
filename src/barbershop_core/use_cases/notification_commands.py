"""A manager's notification commands: schedule one (step 7), resend or release one (A4, A7).

A new notification is issued through one path (:func:`issue_notification`), which the
fallback step (:mod:`~barbershop_core.use_cases.fallback`) takes too.
"""

from __future__ import annotations

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import InvalidTransition, NotFound, NotificationInProgress
from barbershop_core.model import AuditAction, ClientNotification, NotificationStatus
from barbershop_core.ports import UnitOfWork
from barbershop_core.use_cases._shared import (
    TemporaryPassword,
    Trail,
    carries_only_code,
    has_marketing_consent,
    new_temporary_password,
    require_client,
    resolve_delivery,
)
from barbershop_core.use_cases.clients import current_consents
from barbershop_core.use_cases.registration import RegistrationDeps

NotificationDeps = RegistrationDeps
"""Scheduling a message takes the ports registration takes: credentials, store, queue, channels."""


@attrs.frozen
class ScheduleNotification:
    client_id: int
    context: Context
    template_code: str | None = None
    channel: str | None = None
    postpone: bool = False


async def schedule_notification(command: ScheduleNotification, deps: NotificationDeps) -> ClientNotification:
    """Step 7 on its own. A message that shows a password issues a fresh temporary one."""
    return await issue_notification(
        deps,
        client_id=command.client_id,
        context=command.context,
        template_code=command.template_code or deps.policy.welcome_template,
        channel=command.channel or deps.policy.default_channel,
        postpone=command.postpone,
        replaces=None,
    )


@attrs.frozen
class ResendNotification:
    notification_id: int
    channel: str
    context: Context


async def resend_notification(command: ResendNotification, deps: NotificationDeps) -> ClientNotification:
    """A4 / A7: a held notification is released through ``channel``; a finished one is sent anew.

    A new message that carries a password carries a new one: the old one may have leaked
    or expired with the failed message.
    """
    async with deps.uow_factory() as uow:
        original = await uow.notifications.get(command.notification_id)
    if original is None:
        raise NotFound(f"Уведомление {command.notification_id} не найдено")
    if original.status is NotificationStatus.HELD:
        return await _release(original.id, command, await _password_for_switch(original, command, deps), deps)
    if original.status is NotificationStatus.SCHEDULED:
        raise NotificationInProgress()
    if original.superseded_by is not None:
        raise InvalidTransition(f"Уведомление уже отправлено заново: №{original.superseded_by}")
    return await issue_notification(
        deps,
        client_id=original.client_id,
        context=command.context,
        template_code=original.template_code,
        channel=command.channel,
        postpone=False,
        replaces=original.id,
    )


async def _password_for_switch(
    held: ClientNotification, command: ResendNotification, deps: NotificationDeps
) -> TemporaryPassword | None:
    """A held password fits its channel; moving between a text channel and a code-only one
    needs a password of the other shape."""
    was_code, becomes_code = (carries_only_code(code, deps.channels) for code in (held.channel, command.channel))
    if held.secret is None or was_code == becomes_code:
        return None
    return await _temporary_password(command.channel, deps)


async def _temporary_password(channel: str, deps: NotificationDeps) -> TemporaryPassword:
    """A fresh temporary password in the shape ``channel`` carries (digits for a code-only one)."""
    return await new_temporary_password(
        channel=channel,
        hasher=deps.hasher,
        passwords=deps.passwords,
        secret_box=deps.secret_box,
        clock=deps.clock,
        policy=deps.policy,
        channels=deps.channels,
    )


async def _release(
    notification_id: int,
    command: ResendNotification,
    temporary: TemporaryPassword | None,
    deps: NotificationDeps,
) -> ClientNotification:
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        assert notification is not None  # read a moment ago; notifications are never deleted
        await _release_locked(uow, notification, command, temporary, deps)
    return notification


async def _release_locked(
    uow: UnitOfWork,
    notification: ClientNotification,
    command: ResendNotification,
    temporary: TemporaryPassword | None,
    deps: NotificationDeps,
) -> None:
    client, person = await require_client(uow, notification.client_id)
    consents = current_consents(await uow.consents.list_for_client(client.id))
    await resolve_delivery(
        uow,
        channel_code=command.channel,
        template_code=notification.template_code,
        policy=deps.policy,
        postpone=False,
        client_accounts=client.channel_accounts,
        marketing_consent=has_marketing_consent(consents),
    )
    now = deps.clock.now()
    trail = Trail(command.context, now, person, client)
    notification.release(now, command.channel)
    if temporary is not None:
        person.set_temporary_password(temporary.password_hash, temporary.expires_at)
        notification.secret, notification.secret_expires_at = temporary.sealed, temporary.expires_at
        await uow.persons.save(person)
        uow.record(trail.event(AuditAction.CREDENTIALS_ISSUED))
    await uow.notifications.save(notification)
    uow.record(trail.event(AuditAction.NOTIFICATION_RELEASED, notification_id=notification.id, channel=command.channel))
    await uow.commit()


async def _lock_replaced(uow: UnitOfWork, replaces: int | None) -> ClientNotification | None:
    """Lock the notification a resend replaces and check, under the lock, that nobody else
    replaced it first: two clicks on «отправить заново» send one message."""
    if replaces is None:
        return None
    original = await uow.notifications.get_for_update(replaces)
    assert original is not None  # read a moment ago; notifications are never deleted
    if original.superseded_by is not None:
        raise InvalidTransition(f"Уведомление уже отправлено заново: №{original.superseded_by}")
    if not original.is_final and original.status is not NotificationStatus.SENT:
        raise NotificationInProgress()
    original.fallback_pending = False  # replaced: by the fallback step, or by a manager first
    return original


async def issue_notification(
    deps: NotificationDeps,
    *,
    client_id: int,
    context: Context,
    template_code: str,
    channel: str,
    postpone: bool,
    replaces: int | None,
    reason: str | None = None,
) -> ClientNotification:
    """A new notification (replacing ``replaces``, if given). ``reason`` marks a fallback step."""
    temporary = await _temporary_password(channel, deps)
    async with deps.uow_factory() as uow:
        original = await _lock_replaced(uow, replaces)
        client, person = await require_client(uow, client_id)
        consents = current_consents(await uow.consents.list_for_client(client.id))
        delivery = await resolve_delivery(
            uow,
            channel_code=channel,
            template_code=template_code,
            policy=deps.policy,
            postpone=postpone,
            client_accounts=client.channel_accounts,
            marketing_consent=has_marketing_consent(consents),
        )
        now = deps.clock.now()
        trail = Trail(context, now, person, client)
        secret = temporary.secret_for(delivery.body)
        if secret[0] is not None:
            person.set_temporary_password(temporary.password_hash, temporary.expires_at)
            await uow.persons.save(person)
            uow.record(trail.event(AuditAction.CREDENTIALS_ISSUED))
        notification = delivery.notification(client.id, now, secret, resend_of=replaces, reason=reason)
        await uow.notifications.add(notification)
        if original is not None:
            original.superseded_by = notification.id
            await uow.notifications.save(original)
            if reason is not None:
                uow.record(
                    trail.event(
                        AuditAction.NOTIFICATION_FELL_BACK,
                        notification_id=original.id,
                        channel=original.channel,
                        next_channel=delivery.channel,
                        next_notification=str(notification.id),
                    )
                )
        uow.record(delivery.scheduled(trail, notification))
        await uow.commit()
    return notification
