"""Notifications: schedule (step 7), send (step 8, A4), resend / release (A4, A7), delivery reports."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import attrs

from barbershop_core.errors import ConsentRequired, InvalidTransition, NotFound, NotificationInProgress, ValidationError
from barbershop_core.model import (
    Actor,
    AddressKind,
    AuditAction,
    Client,
    ClientNotification,
    NotificationStatus,
    Person,
    TemplateKind,
)
from barbershop_core.policies import RetryPolicy
from barbershop_core.ports import (
    ChannelDirectory,
    Clock,
    DeliveryFailed,
    NotificationChannel,
    OutgoingMessage,
    SecretBox,
    SecretUnreadable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.templates import needs_password, render
from barbershop_core.use_cases._shared import (
    Context,
    TemporaryPassword,
    Trail,
    active_channel_codes,
    has_marketing_consent,
    log,
    new_temporary_password,
    require_client,
    resolve_delivery,
)
from barbershop_core.use_cases.clients import current_consents
from barbershop_core.use_cases.registration import RegistrationDeps

DEFAULT_SIGN_IN_URL: Final = "http://127.0.0.1:8000/client/login"
"""The embedded default's sign-in page (``barbershop serve`` on its default port)."""

NotificationDeps = RegistrationDeps
"""Scheduling a message takes the ports registration takes: credentials, store, queue."""


@attrs.frozen
class ScheduleNotification:
    client_id: int
    context: Context
    template_code: str | None = None
    channel: str | None = None
    postpone: bool = False


async def get_notification(notification_id: int, *, uow_factory: UnitOfWorkFactory) -> ClientNotification:
    async with uow_factory() as uow:
        notification = await uow.notifications.get(notification_id)
    if notification is None:
        raise NotFound(f"Уведомление {notification_id} не найдено")
    return notification


async def schedule_notification(command: ScheduleNotification, deps: NotificationDeps) -> ClientNotification:
    """Step 7 on its own. A message that shows a password issues a fresh temporary one."""
    return await _create(
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
    return await _create(
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
    code_only = deps.policy.code_only_channels
    if held.secret is None or (held.channel in code_only) == (command.channel in code_only):
        return None
    return await new_temporary_password(
        channel=command.channel,
        hasher=deps.hasher,
        passwords=deps.passwords,
        secret_box=deps.secret_box,
        clock=deps.clock,
        policy=deps.policy,
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


async def _create(
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
    temporary = await new_temporary_password(
        channel=channel,
        hasher=deps.hasher,
        passwords=deps.passwords,
        secret_box=deps.secret_box,
        clock=deps.clock,
        policy=deps.policy,
    )
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
        secret, secret_expires_at = temporary.secret_for(delivery.body)
        if secret is not None:
            person.set_temporary_password(temporary.password_hash, temporary.expires_at)
            await uow.persons.save(person)
            uow.record(trail.event(AuditAction.CREDENTIALS_ISSUED))
        notification = ClientNotification.new(
            client_id=client.id,
            channel=delivery.channel,
            template_code=delivery.template_code,
            kind=delivery.kind,
            now=now,
            held=delivery.hold_reason is not None,
            hold_reason=delivery.hold_reason,
            secret=secret,
            secret_expires_at=secret_expires_at,
            resend_of=replaces,
            reason=reason,
        )
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
        action = AuditAction.NOTIFICATION_HELD if delivery.hold_reason else AuditAction.NOTIFICATION_SCHEDULED
        uow.record(
            trail.event(
                action, notification_id=notification.id, channel=delivery.channel, template=delivery.template_code
            )
        )
        await uow.commit()
    return notification


class AttemptResult(enum.StrEnum):
    SENT = "sent"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"
    """Not due, already leased by another worker, or already finished."""


@attrs.frozen
class DeliveryDeps:
    uow_factory: UnitOfWorkFactory
    channels: ChannelDirectory
    secret_box: SecretBox
    clock: Clock
    retry: RetryPolicy = RetryPolicy()
    fallback_chain: tuple[str, ...] = ()
    """A notification that fails for good awaits the fallback step instead of an alert."""
    sign_in_url: str = DEFAULT_SIGN_IN_URL
    """Where the client signs in: the ``{sign_in_url}`` of a message's template."""


WORKER = Context(Actor.system("worker"))

_EXPIRED = "Срок действия временного пароля истёк"
_ABANDONED = "Прошлая попытка прервалась, сообщение могло уйти: проверьте у клиента или отправьте заново"


@attrs.frozen
class _Prepared:
    message: OutgoingMessage
    channel: NotificationChannel


async def attempt_delivery(notification_id: int, deps: DeliveryDeps) -> AttemptResult:
    """Step 8: one send attempt, safe to run from many workers at once.

    The attempt is claimed with a lease in one transaction, the provider is called with
    no transaction open, and the outcome is recorded in another. A worker that dies in
    between leaves the lease to run out; the notification id doubles as the provider's
    idempotency key so that the retry does not reach the client twice.
    """
    prepared = await _claim(notification_id, deps)
    if isinstance(prepared, AttemptResult):
        return prepared
    try:
        receipt = await prepared.channel.send(prepared.message)
    except DeliveryFailed as failure:
        return await _record_failure(notification_id, failure, deps)
    return await _record_sent(notification_id, receipt.provider_message_id, deps)


async def _claim(notification_id: int, deps: DeliveryDeps) -> _Prepared | AttemptResult:  # noqa: PLR0911 -- one early answer per reason not to send
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        now = deps.clock.now()
        if notification is None or not notification.is_due(now):
            return AttemptResult.SKIPPED
        client, person = await require_client(uow, notification.client_id)
        if notification.secret_expired(now):
            notification.fail(now, _EXPIRED)
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED)
        if notification.kind is TemplateKind.MARKETING and not has_marketing_consent(
            current_consents(await uow.consents.list_for_client(client.id))
        ):
            # A5 holds until the message leaves: the client may withdraw consent while it waits.
            notification.fail(now, ConsentRequired.title)
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED)
        channel, template = await uow.reference.get_route(notification.channel, notification.template_code)
        adapter = deps.channels.get(notification.channel)
        if channel is None or not channel.is_active or adapter is None:
            notification.hold(now, f"Канал «{notification.channel}» недоступен")
            return await _finish(uow, notification, person, client, now, AttemptResult.HELD)
        if notification.lease_until is not None and not adapter.deduplicates:
            # The last claim ran out without an outcome: the worker died, perhaps after the
            # provider took the message. Sending again could reach the client twice.
            notification.record_permanent_failure(now, _ABANDONED)
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED)
        if template is None or not template.is_active:
            notification.hold(now, f"Нет шаблона «{notification.template_code}» для канала «{notification.channel}»")
            return await _finish(uow, notification, person, client, now, AttemptResult.HELD)
        account = client.channel_accounts.get(channel.code)
        if channel.address_kind is AddressKind.ACCOUNT and not account:
            notification.record_permanent_failure(now, f"У клиента нет аккаунта для канала «{channel.title}»")
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED, fallback=deps)
        values = {
            "first_name": str(person.first_name),
            "login": str(person.login),
            "expires_at": _format_expiry(notification),
            "sign_in_url": deps.sign_in_url,
        }
        if notification.secret is not None:
            try:
                values["password"] = deps.secret_box.open(notification.secret)
            except SecretUnreadable:
                notification.record_permanent_failure(now, "Временный пароль не расшифровывается (сменился ключ?)")
                return await _finish(uow, notification, person, client, now, AttemptResult.FAILED, fallback=deps)
        if "password" not in values and needs_password(template.body):
            notification.record_permanent_failure(now, "Временный пароль для сообщения уже недоступен")
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED, fallback=deps)
        notification.claim(now, now + deps.retry.lease)
        await uow.notifications.save(notification)
        await uow.commit()
    message = OutgoingMessage(
        notification_id=notification.id,
        channel=notification.channel,
        template_code=notification.template_code,
        phone=person.phone,
        account=account,
        text=render(template.body, values),
        password=values.get("password"),
    )
    return _Prepared(message, adapter)


def _format_expiry(notification: ClientNotification) -> str:
    expires = notification.secret_expires_at
    return expires.strftime("%d.%m.%Y %H:%M UTC") if expires else ""


async def _record_sent(notification_id: int, provider_message_id: str, deps: DeliveryDeps) -> AttemptResult:
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        assert notification is not None  # notifications are never deleted
        client, person = await require_client(uow, notification.client_id)
        now = deps.clock.now()
        finished_meanwhile = notification.is_final
        notification.record_sent(now, provider_message_id)
        if finished_meanwhile:
            # Its final status was audited (and alerted) when it happened; keep the attempt only.
            await uow.notifications.save(notification)
            await uow.commit()
            return AttemptResult.SENT
        return await _finish(uow, notification, person, client, now, AttemptResult.SENT)


async def _record_failure(notification_id: int, failure: DeliveryFailed, deps: DeliveryDeps) -> AttemptResult:
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        assert notification is not None  # notifications are never deleted
        client, person = await require_client(uow, notification.client_id)
        now = deps.clock.now()
        if notification.is_final:
            # A provider's delivery report overtook our own record of the attempt.
            log.warning("notification %s finished while its attempt failed: %s", notification.id, failure.reason)
            return AttemptResult.SKIPPED
        if not failure.retryable:
            notification.record_permanent_failure(now, failure.reason)
            return await _finish(uow, notification, person, client, now, AttemptResult.FAILED, fallback=deps)
        retry_at = deps.retry.retry_at(notification.attempt_count + 1, now)
        notification.record_retryable_failure(now, failure.reason, retry_at)
        uow.record(
            Trail(WORKER, now, person, client).event(
                AuditAction.NOTIFICATION_ATTEMPT_FAILED,
                notification_id=notification.id,
                attempt=str(notification.attempt_count),
                error=failure.reason,
            )
        )
        outcome = AttemptResult.FAILED if retry_at is None else AttemptResult.RETRY_SCHEDULED
        return await _finish(uow, notification, person, client, now, outcome, fallback=deps)


_STATUS_ACTIONS = {
    NotificationStatus.SENT: AuditAction.NOTIFICATION_SENT,
    NotificationStatus.DELIVERED: AuditAction.NOTIFICATION_DELIVERED,
    NotificationStatus.FAILED: AuditAction.NOTIFICATION_FAILED,
    NotificationStatus.HELD: AuditAction.NOTIFICATION_HELD,
    NotificationStatus.SCHEDULED: AuditAction.NOTIFICATION_SCHEDULED,
}


async def _finish(
    uow: UnitOfWork,
    notification: ClientNotification,
    person: Person,
    client: Client,
    now: datetime,
    outcome: AttemptResult,
    context: Context = WORKER,
    *,
    fallback: DeliveryDeps | Sequence[str] = (),
) -> AttemptResult:
    """Save, audit the status the notification is in, alert a manager when it needs one.

    With a fallback chain (``fallback``: the deps or the chain itself), a notification that
    failed for good awaits its fallback step instead: the caller runs the step after this
    commit (the sweep runs it when the caller could not), and only an exhausted chain alerts.
    """
    chain = fallback.fallback_chain if isinstance(fallback, DeliveryDeps) else fallback
    if chain and notification.status is NotificationStatus.FAILED and notification.superseded_by is None:
        notification.await_fallback()
    await uow.notifications.save(notification)
    trail = Trail(context, now, person, client)
    if outcome is not AttemptResult.RETRY_SCHEDULED:
        uow.record(
            trail.event(
                _STATUS_ACTIONS[notification.status], notification_id=notification.id, channel=notification.channel
            )
        )
    if notification.needs_attention:
        active = ",".join(await active_channel_codes(uow))
        uow.record(trail.event(AuditAction.MANAGER_ALERTED, notification_id=notification.id, active_channels=active))
    await uow.commit()
    log.info("notification %s: %s", notification.id, outcome)
    return outcome


@attrs.frozen
class DeliveryReport:
    notification_id: int
    status: str
    context: Context
    provider_message_id: str | None = None
    error: str | None = None


@attrs.frozen
class ReportOutcome:
    notification: ClientNotification
    changed: bool


async def apply_delivery_report(
    report: DeliveryReport, *, uow_factory: UnitOfWorkFactory, clock: Clock, fallback_chain: Sequence[str] = ()
) -> ReportOutcome:
    """A provider's status report: idempotent, and never moves a status backwards.

    A ``failed`` report with a fallback chain leaves the notification awaiting its fallback
    step (:func:`barbershop_core.use_cases.fallback.fall_back`)."""
    try:
        status = NotificationStatus(report.status)
    except ValueError:
        status = None
    if status not in (NotificationStatus.DELIVERED, NotificationStatus.FAILED):
        raise ValidationError("Статус доставки: delivered или failed", field="status")
    async with uow_factory() as uow:
        notification = await uow.notifications.get_for_update(report.notification_id)
        if notification is None:
            raise NotFound(f"Уведомление {report.notification_id} не найдено")
        if (
            report.provider_message_id
            and notification.provider_message_id
            and report.provider_message_id != notification.provider_message_id
        ):
            raise ValidationError("Отчёт относится к другому сообщению", field="provider_message_id")
        now = clock.now()
        changed = await record_report(
            uow, notification, status, report.error, now=now, context=report.context, fallback_chain=fallback_chain
        )
    return ReportOutcome(notification, changed)


async def record_report(
    uow: UnitOfWork,
    notification: ClientNotification,
    status: NotificationStatus,
    error: str | None,
    *,
    now: datetime,
    context: Context,
    fallback_chain: Sequence[str],
    reason: str | None = None,
) -> bool:
    """Apply one final report to a locked notification and commit; False when it changed nothing."""
    changed = notification.apply_delivery_report(now, status, error, reason)
    if changed:
        client, person = await require_client(uow, notification.client_id)
        await _finish(uow, notification, person, client, now, AttemptResult.SKIPPED, context, fallback=fallback_chain)
    return changed


@attrs.frozen
class Alert:
    """A4 / A7: a notification a manager must act on, and the channels to pick from."""

    notification: ClientNotification
    active_channels: Sequence[str]


async def list_alerts(*, uow_factory: UnitOfWorkFactory, limit: int = 100) -> list[Alert]:
    async with uow_factory() as uow:
        active = await active_channel_codes(uow)
        pending = await uow.notifications.list_needing_attention(limit)
    return [Alert(notification, tuple(c for c in active if c != notification.channel)) for notification in pending]


async def due_notification_ids(*, uow_factory: UnitOfWorkFactory, clock: Clock, limit: int = 500) -> list[int]:
    """For the scheduler's sweep: committed work that no worker has taken (or finished)."""
    async with uow_factory() as uow:
        return list(await uow.notifications.due_ids(clock.now(), limit))


async def expire_temporary_secrets(*, uow_factory: UnitOfWorkFactory, clock: Clock, limit: int = 500) -> int:
    """Wipe sealed passwords past their expiry; a message still waiting for one fails."""
    async with uow_factory() as uow:
        now = clock.now()
        expired = await uow.notifications.with_expired_secrets(now, limit)
        for notification in expired:
            # Only waiting notifications hold a secret: every way out of waiting wipes it.
            client, person = await require_client(uow, notification.client_id)
            notification.fail(now, _EXPIRED)
            await _finish(uow, notification, person, client, now, AttemptResult.FAILED)
        await uow.commit()
    return len(expired)
