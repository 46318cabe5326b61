"""Notifications: schedule (step 7), send attempts (step 8, A4), resend / release (A4, A7), reports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ConsentRequired,
    InvalidTransition,
    NotFound,
    NotificationInProgress,
    ValidationError,
)
from barbershop_core.model import (
    Actor,
    AttemptOutcome,
    AuditAction,
    Channel,
    ClientNotification,
    DeliveryAttempt,
    NotificationStatus,
    NotificationTemplate,
    TemplateKind,
)
from barbershop_core.ports import DeliveryFailed, OutgoingMessage, SendReceipt
from barbershop_core.use_cases.clients import UpdateClient, update_client
from barbershop_core.use_cases.delivery import AttemptDelivery, AttemptResult, attempt_delivery
from barbershop_core.use_cases.delivery_reports import DeliveryReport, apply_delivery_report
from barbershop_core.use_cases.notification_commands import (
    ResendNotification,
    ScheduleNotification,
    resend_notification,
    schedule_notification,
)
from barbershop_core.use_cases.notification_queries import (
    Alert,
    ExpireTemporarySecrets,
    GetNotification,
    ListAlerts,
    ListDueNotifications,
    due_notification_ids,
    expire_temporary_secrets,
    get_notification,
    list_alerts,
)
from barbershop_core.values import PhoneNumber
from tests.conftest import MANAGER, World
from tests.fakes import ScriptedChannel
from tests.unit.support import (
    PHONE,
    add_marketing_template,
    audit_actions,
    audit_events,
    register,
    rows,
    save_template,
)

PROVIDER = Context(Actor.provider("sms"))
TIMEOUT = DeliveryFailed("timeout", retryable=True)
ACTIVE = {"local", "sms", "telegram", "vk", "whatsapp"}


def stored(world: World, notification_id: int = 1) -> ClientNotification:
    notification: ClientNotification = world.db.tables["notifications"][notification_id]
    return notification


def sms(world: World, outcomes: list[DeliveryFailed | str] | None = None) -> ScriptedChannel:
    channel = ScriptedChannel(outcomes or [])
    world.channels.channels["sms"] = channel
    return channel


async def attempt(world: World, notification_id: int = 1) -> AttemptResult:
    return await attempt_delivery(AttemptDelivery(notification_id), world.delivery())


async def schedule(world: World, client_id: int = 1, **options: Any) -> ClientNotification:
    return await schedule_notification(
        ScheduleNotification(client_id=client_id, context=MANAGER, **options),
        world.notifications(),
    )


async def resend(world: World, notification_id: int = 1, channel: str = "sms") -> ClientNotification:
    return await resend_notification(ResendNotification(notification_id, channel, MANAGER), world.notifications())


async def report(
    world: World, status: str, notification_id: int = 1, **options: str
) -> tuple[bool, NotificationStatus]:
    outcome = await apply_delivery_report(
        DeliveryReport(notification_id, status, PROVIDER, **options),
        world.container.reports(),
    )
    return outcome.changed, outcome.notification.status


async def alerts_of(world: World, *, limit: int = 100) -> list[Alert]:
    return await list_alerts(ListAlerts(limit=limit), world.notification_queries())


async def deactivate(world: World, code: str) -> None:
    async with world.uow() as uow:
        channel = await uow.reference.get_channel(code)
        assert channel is not None
        await uow.reference.save_channel(attrs.evolve(channel, is_active=False))
        await uow.commit()


def alerted_channels(world: World) -> list[set[str]]:
    return [
        set(event.details["active_channels"].split(","))
        for event in audit_events(world)
        if event.action is AuditAction.MANAGER_ALERTED
    ]


# --- a successful attempt (step 8) --------------------------------------------------------


async def test_a_successful_attempt_marks_the_notification_sent_and_wipes_the_secret(world: World) -> None:
    channel = sms(world)
    await register(world)

    assert await attempt(world) is AttemptResult.SENT

    notification = stored(world)
    now = world.clock.now()
    assert notification.status is NotificationStatus.SENT
    assert notification.provider_message_id == "msg-1-1"
    assert (notification.secret, notification.secret_expires_at) == (None, None)
    assert (notification.next_attempt_at, notification.lease_until) == (None, None)
    assert notification.attempts == [DeliveryAttempt(1, "sms", now, AttemptOutcome.SENT, "msg-1-1")]
    assert [(h.status, h.at) for h in notification.history] == [
        (NotificationStatus.SCHEDULED, now),
        (NotificationStatus.SENT, now),
    ]
    assert len(channel.sent) == 1


async def test_the_sent_message_carries_the_rendered_welcome_with_login_and_temporary_password(world: World) -> None:
    channel = sms(world)
    await register(world, first_name="Иван")

    await attempt(world)

    [password] = world.passwords.issued
    assert channel.sent == [
        OutgoingMessage(
            notification_id=1,
            channel="sms",
            template_code="REG_WELCOME",
            phone=PhoneNumber(PHONE),
            account=None,
            text=(
                f"Иван, добро пожаловать в барбершоп! Логин: {PHONE}, временный пароль: {password}. "
                "Пароль действует до 25.11.2026 09:00 UTC, при первом входе его нужно сменить. "
                "Вход: http://127.0.0.1:8000/client/login"
            ),
            password=password,
        )
    ]


async def test_the_welcome_message_carries_the_configured_sign_in_address(world: World) -> None:
    channel = sms(world)
    await register(world)

    await attempt_delivery(
        AttemptDelivery(1), attrs.evolve(world.delivery(), sign_in_url="https://barber.example/client/login")
    )

    [message] = channel.sent
    assert message.text.endswith(" Вход: https://barber.example/client/login")


async def test_a_code_only_channel_carries_the_code_and_no_sign_in_address(world: World) -> None:
    telegram = ScriptedChannel(carries_only_code=True)
    world.channels.channels["telegram"] = telegram
    await register(world, channel="telegram")

    await attempt(world)

    [message] = telegram.sent
    assert message.text == world.passwords.issued[0]
    assert message.text.isdigit()


async def test_a_successful_attempt_is_audited_by_the_worker_without_an_alert(world: World) -> None:
    sms(world)
    await register(world)

    await attempt(world)

    [event] = [e for e in audit_events(world) if e.notification_id == 1 and e.actor == "system:worker"]
    assert (event.action, event.details, event.client_id) == (AuditAction.NOTIFICATION_SENT, {"channel": "sms"}, 1)
    assert AuditAction.MANAGER_ALERTED not in audit_actions(world)


async def test_a_message_for_an_account_channel_goes_to_the_linked_account(world: World) -> None:
    vk = ScriptedChannel()
    world.channels.channels["vk"] = vk
    await register(world, channel="vk", channel_accounts={"vk": "id42"})

    assert await attempt(world) is AttemptResult.SENT

    assert vk.sent[0].account == "id42"


async def test_a_template_without_the_password_is_sent_without_it(world: World) -> None:
    channel = sms(world)
    await save_template(world, NotificationTemplate("REG_HELLO", "sms", TemplateKind.SERVICE, "Привет, {first_name}!"))
    await register(world, template_code="REG_HELLO")

    assert await attempt(world) is AttemptResult.SENT

    assert channel.sent[0].text == "Привет, Иван!"


# --- A4: failures and retries --------------------------------------------------------------


async def test_a_retryable_failure_schedules_the_next_attempt_at_the_backoff_time(world: World) -> None:
    sms(world, [TIMEOUT])
    await register(world)
    start = world.clock.now()

    assert await attempt(world) is AttemptResult.RETRY_SCHEDULED

    notification = stored(world)
    assert notification.status is NotificationStatus.SCHEDULED
    assert notification.next_attempt_at == start + timedelta(seconds=30)
    assert notification.lease_until is None
    assert notification.last_error == "timeout"
    assert notification.secret is not None  # still needed for the retry
    assert notification.attempts == [
        DeliveryAttempt(1, "sms", start, AttemptOutcome.RETRYABLE_FAILURE, error="timeout")
    ]


async def test_retries_follow_the_backoff_and_the_fourth_failure_fails_the_notification(world: World) -> None:
    channel = sms(world, [TIMEOUT, TIMEOUT, TIMEOUT, DeliveryFailed("gateway 503", retryable=True)])
    await register(world)
    start = world.clock.now()
    expected_waits = [timedelta(seconds=30), timedelta(seconds=120), timedelta(seconds=480)]

    for wait in expected_waits:
        assert await attempt(world) is AttemptResult.RETRY_SCHEDULED
        assert stored(world).next_attempt_at == world.clock.now() + wait
        world.clock.advance(wait - timedelta(microseconds=1))
        assert await due_notification_ids(ListDueNotifications(), world.sweep()) == []
        assert await attempt(world) is AttemptResult.SKIPPED
        world.clock.advance(timedelta(microseconds=1))
        assert await due_notification_ids(ListDueNotifications(), world.sweep()) == [1]

    assert await attempt(world) is AttemptResult.FAILED

    notification = stored(world)
    assert world.clock.now() == start + sum(expected_waits, timedelta())
    assert notification.status is NotificationStatus.FAILED
    assert notification.last_error == "gateway 503"
    assert notification.history[-1].reason == "Попытки отправки исчерпаны"
    assert [a.outcome for a in notification.attempts] == [AttemptOutcome.RETRYABLE_FAILURE] * 4
    assert [a.number for a in notification.attempts] == [1, 2, 3, 4]
    assert (notification.secret, notification.next_attempt_at) == (None, None)
    assert len(channel.sent) == 4


async def test_after_the_last_retry_the_manager_is_alerted_with_the_active_channels(world: World) -> None:
    sms(world, [TIMEOUT] * 4)
    await register(world)
    for wait in (30, 120, 480):
        await attempt(world)
        world.clock.advance(timedelta(seconds=wait))

    await attempt(world)

    worker_actions = [e.action for e in audit_events(world) if e.actor == "system:worker"]
    assert worker_actions == [AuditAction.NOTIFICATION_ATTEMPT_FAILED] * 4 + [
        AuditAction.NOTIFICATION_FAILED,
        AuditAction.MANAGER_ALERTED,
    ]
    attempts = [e.details["attempt"] for e in audit_events(world) if e.details.get("attempt")]
    assert attempts == ["1", "2", "3", "4"]
    assert alerted_channels(world) == [ACTIVE]


async def test_a_success_after_a_retryable_failure_sends_the_notification(world: World) -> None:
    sms(world, [TIMEOUT, "provider-77"])
    await register(world)
    await attempt(world)
    world.clock.advance(timedelta(seconds=30))

    assert await attempt(world) is AttemptResult.SENT

    notification = stored(world)
    assert (notification.status, notification.provider_message_id, notification.last_error) == (
        NotificationStatus.SENT,
        "provider-77",
        None,
    )
    assert [a.outcome for a in notification.attempts] == [AttemptOutcome.RETRYABLE_FAILURE, AttemptOutcome.SENT]


async def test_a_permanent_failure_fails_the_notification_at_once_and_alerts(world: World) -> None:
    sms(world, [DeliveryFailed("invalid number", retryable=False)])
    await register(world)

    assert await attempt(world) is AttemptResult.FAILED

    notification = stored(world)
    assert (notification.status, notification.last_error, notification.secret) == (
        NotificationStatus.FAILED,
        "invalid number",
        None,
    )
    assert [a.outcome for a in notification.attempts] == [AttemptOutcome.PERMANENT_FAILURE]
    assert audit_actions(world)[-2:] == [AuditAction.NOTIFICATION_FAILED, AuditAction.MANAGER_ALERTED]
    assert AuditAction.NOTIFICATION_ATTEMPT_FAILED not in audit_actions(world)


# --- A7 at send time: held ------------------------------------------------------------------


async def test_an_attempt_through_an_inactive_channel_holds_the_notification_and_alerts(world: World) -> None:
    channel = sms(world)
    await register(world)
    await deactivate(world, "sms")

    assert await attempt(world) is AttemptResult.HELD

    notification = stored(world)
    assert notification.status is NotificationStatus.HELD
    assert notification.history[-1].reason == "Канал «sms» недоступен"
    assert notification.secret is not None  # kept for the release
    assert channel.sent == []
    assert audit_actions(world)[-2:] == [AuditAction.NOTIFICATION_HELD, AuditAction.MANAGER_ALERTED]
    assert alerted_channels(world) == [ACTIVE - {"sms"}]


async def test_an_attempt_through_a_channel_this_installation_has_no_adapter_for_is_held(world: World) -> None:
    await register(world, channel="telegram")

    assert await attempt(world) is AttemptResult.HELD

    assert stored(world).history[-1].reason == "Канал «telegram» недоступен"


async def test_an_attempt_whose_template_was_deactivated_is_held(world: World) -> None:
    channel = sms(world)
    await register(world)
    template = world.db.tables["templates"][("REG_WELCOME", "sms")]
    await save_template(world, attrs.evolve(template, is_active=False))

    assert await attempt(world) is AttemptResult.HELD

    assert stored(world).history[-1].reason == "Нет шаблона «REG_WELCOME» для канала «sms»"
    assert channel.sent == []


async def test_an_attempt_through_vk_after_the_account_was_unlinked_fails_permanently(world: World) -> None:
    world.channels.channels["vk"] = ScriptedChannel()
    await register(world, channel="vk", channel_accounts={"vk": "id42"})
    await update_client(UpdateClient(client_id=1, context=MANAGER, channel_accounts={}), world.clients())

    assert await attempt(world) is AttemptResult.FAILED

    assert stored(world).last_error == "У клиента нет аккаунта для канала «ВКонтакте»"


async def test_an_attempt_for_a_template_that_now_shows_a_password_the_message_lacks_fails(world: World) -> None:
    sms(world)
    await save_template(world, NotificationTemplate("REG_HELLO", "sms", TemplateKind.SERVICE, "Привет, {first_name}!"))
    await register(world, template_code="REG_HELLO")
    await save_template(world, NotificationTemplate("REG_HELLO", "sms", TemplateKind.SERVICE, "Пароль: {password}"))

    assert await attempt(world) is AttemptResult.FAILED

    assert stored(world).last_error == "Временный пароль для сообщения уже недоступен"


# --- skipped attempts -----------------------------------------------------------------------


async def test_an_attempt_on_an_unknown_notification_is_skipped(world: World) -> None:
    assert await attempt(world, 404) is AttemptResult.SKIPPED


async def test_an_attempt_on_a_sent_notification_is_skipped_and_sends_nothing(world: World) -> None:
    channel = sms(world)
    await register(world)
    await attempt(world)

    assert await attempt(world) is AttemptResult.SKIPPED

    assert len(channel.sent) == 1


async def test_an_attempt_on_a_held_notification_is_skipped(world: World) -> None:
    await register(world, postpone_notification=True)

    assert await attempt(world) is AttemptResult.SKIPPED


async def test_a_second_worker_skips_an_attempt_leased_by_the_first(world: World) -> None:
    inner: list[AttemptResult] = []

    class ConcurrentWorkerChannel:
        deduplicates = False
        carries_only_code = False

        async def send(self, message: OutgoingMessage) -> SendReceipt:
            assert stored(world).lease_until == world.clock.now() + world.retry.lease
            inner.append(await attempt(world, message.notification_id))
            return SendReceipt("p-1")

    world.channels.channels["sms"] = ConcurrentWorkerChannel()
    await register(world)

    assert await attempt(world) is AttemptResult.SENT

    assert inner == [AttemptResult.SKIPPED]
    assert len(stored(world).attempts) == 1


async def test_an_attempt_whose_worker_died_is_taken_over_when_the_lease_runs_out(world: World) -> None:
    channel = sms(world)
    await register(world)
    async with world.uow() as uow:
        notification = await uow.notifications.get_for_update(1)
        assert notification is not None
        notification.claim(world.clock.now(), world.clock.now() + world.retry.lease)
        await uow.notifications.save(notification)
        await uow.commit()

    assert await attempt(world) is AttemptResult.SKIPPED
    assert await due_notification_ids(ListDueNotifications(), world.sweep()) == []
    world.clock.advance(world.retry.lease)
    assert await due_notification_ids(ListDueNotifications(), world.sweep()) == [1]
    assert await attempt(world) is AttemptResult.SENT

    assert len(channel.sent) == 1


async def test_an_attempt_after_the_temporary_password_expired_fails_without_sending(world: World) -> None:
    channel = sms(world)
    await register(world)
    world.clock.advance(world.policy.temporary_password_ttl)

    assert await attempt(world) is AttemptResult.FAILED

    notification = stored(world)
    assert (notification.status, notification.last_error, notification.secret) == (
        NotificationStatus.FAILED,
        "Срок действия временного пароля истёк",
        None,
    )
    assert channel.sent == []
    assert audit_actions(world)[-2:] == [AuditAction.NOTIFICATION_FAILED, AuditAction.MANAGER_ALERTED]


# --- reports overtaking the attempt ---------------------------------------------------------


async def test_a_delivery_report_arriving_before_the_send_is_recorded_keeps_delivered(world: World) -> None:
    class FastProviderChannel:
        deduplicates = False
        carries_only_code = False

        async def send(self, message: OutgoingMessage) -> SendReceipt:
            await report(world, "delivered", message.notification_id)
            return SendReceipt("p-1")

    world.channels.channels["sms"] = FastProviderChannel()
    await register(world)

    assert await attempt(world) is AttemptResult.SENT

    notification = stored(world)
    assert (notification.status, notification.provider_message_id) == (NotificationStatus.DELIVERED, "p-1")
    assert [h.status for h in notification.history] == [NotificationStatus.SCHEDULED, NotificationStatus.DELIVERED]
    assert audit_actions(world).count(AuditAction.NOTIFICATION_DELIVERED) == 1


async def test_a_failure_report_overtaking_a_successful_send_keeps_its_error_and_alerts_once(world: World) -> None:
    class FastProviderChannel:
        deduplicates = False
        carries_only_code = False

        async def send(self, message: OutgoingMessage) -> SendReceipt:
            await report(world, "failed", message.notification_id, error="blocked")
            return SendReceipt("p-2")

    world.channels.channels["sms"] = FastProviderChannel()
    await register(world)

    assert await attempt(world) is AttemptResult.SENT

    notification = stored(world)
    assert (notification.status, notification.last_error) == (NotificationStatus.FAILED, "blocked")
    assert [a.provider_message_id for a in notification.attempts] == ["p-2"]
    assert audit_actions(world).count(AuditAction.NOTIFICATION_FAILED) == 1
    assert audit_actions(world).count(AuditAction.MANAGER_ALERTED) == 1


async def test_expiring_secrets_leaves_a_notification_whose_send_is_in_flight(world: World) -> None:
    await register(world)
    async with world.uow() as uow:
        notification = await uow.notifications.get(1)
        assert notification is not None
        notification.secret_expires_at = world.clock.now()
        notification.claim(world.clock.now(), world.clock.now() + world.retry.lease)
        await uow.notifications.save(notification)
        await uow.commit()

    assert await expire_temporary_secrets(ExpireTemporarySecrets(), world.sweep()) == 0
    assert stored(world).status is NotificationStatus.SCHEDULED


async def test_a_failure_report_overtaking_a_failed_attempt_is_not_recorded_twice(world: World) -> None:
    class FastProviderChannel:
        deduplicates = False
        carries_only_code = False

        async def send(self, message: OutgoingMessage) -> SendReceipt:
            await report(world, "failed", message.notification_id, error="blocked")
            raise TIMEOUT

    world.channels.channels["sms"] = FastProviderChannel()
    await register(world)

    assert await attempt(world) is AttemptResult.SKIPPED

    notification = stored(world)
    assert (notification.status, notification.last_error, notification.attempts) == (
        NotificationStatus.FAILED,
        "blocked",
        [],
    )


# --- schedule (step 7) -----------------------------------------------------------------------


async def test_scheduling_a_welcome_issues_a_fresh_temporary_password_and_queues(world: World) -> None:
    await register(world)

    notification = await schedule(world, 1)

    first, second = world.passwords.issued
    [person] = rows(world, "persons")
    assert notification.id == 2
    assert notification.status is NotificationStatus.SCHEDULED
    assert notification.secret == world.secret_box.seal(second)
    assert person.password_hash == await world.hasher.hash(second)
    assert person.must_change_password is True
    assert world.queue.enqueued == [1, 2]
    assert audit_actions(world)[-2:] == [AuditAction.CREDENTIALS_ISSUED, AuditAction.NOTIFICATION_SCHEDULED]
    assert first != second


async def test_scheduling_a_template_without_password_keeps_the_current_password(world: World) -> None:
    await save_template(world, NotificationTemplate("REMINDER", "sms", TemplateKind.SERVICE, "{first_name}, ждём вас"))
    await register(world)
    [before] = rows(world, "persons")

    notification = await schedule(world, 1, template_code="REMINDER")

    [after] = rows(world, "persons")
    assert notification.secret is None
    assert after.password_hash == before.password_hash
    assert AuditAction.CREDENTIALS_ISSUED not in [e.action for e in audit_events(world) if e.notification_id == 2]
    assert audit_actions(world).count(AuditAction.CREDENTIALS_ISSUED) == 1


async def test_scheduling_postponed_holds_the_notification_and_does_not_queue(world: World) -> None:
    await register(world, postpone_notification=True)

    notification = await schedule(world, 1, postpone=True)

    assert notification.status is NotificationStatus.HELD
    assert world.queue.enqueued == []


async def test_scheduling_for_an_unknown_client_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await schedule(world, 9)

    assert rows(world, "notifications") == []


async def test_scheduling_a_marketing_message_needs_the_latest_consent_to_be_granted(world: World) -> None:
    await add_marketing_template(world)
    await register(world, consents={"marketing": True})
    await update_client(UpdateClient(client_id=1, context=MANAGER, consents={"marketing": False}), world.clients())

    with pytest.raises(ConsentRequired):
        await schedule(world, 1, template_code="PROMO_AUTUMN")

    await update_client(UpdateClient(client_id=1, context=MANAGER, consents={"marketing": True}), world.clients())
    notification = await schedule(world, 1, template_code="PROMO_AUTUMN")
    assert notification.kind is TemplateKind.MARKETING


async def _withdraw_marketing_consent(world: World) -> None:
    await update_client(UpdateClient(client_id=1, context=MANAGER, consents={"marketing": False}), world.clients())


async def test_releasing_a_held_marketing_message_after_consent_was_withdrawn_is_refused(world: World) -> None:
    await add_marketing_template(world)
    await register(world, template_code="PROMO_AUTUMN", consents={"marketing": True}, postpone_notification=True)
    await _withdraw_marketing_consent(world)

    with pytest.raises(ConsentRequired):
        await resend(world, 1, "sms")

    assert stored(world).status is NotificationStatus.HELD


async def test_a_marketing_message_is_not_sent_once_the_client_withdrew_consent(world: World) -> None:
    channel = sms(world)
    await add_marketing_template(world)
    await register(world, template_code="PROMO_AUTUMN", consents={"marketing": True})
    await _withdraw_marketing_consent(world)

    assert await attempt(world) is AttemptResult.FAILED

    assert channel.sent == []
    assert stored(world).last_error == "Нет согласия клиента на рекламные сообщения"


async def test_getting_a_notification_answers_it_or_not_found(world: World) -> None:
    await register(world)

    assert (
        await get_notification(GetNotification(1), world.notification_queries())
    ).status is NotificationStatus.SCHEDULED
    with pytest.raises(NotFound) as error:
        await get_notification(GetNotification(2), world.notification_queries())
    assert error.value.message == "Уведомление 2 не найдено"


# --- resend / release (A4, A7) -------------------------------------------------------------


async def test_resending_a_held_notification_releases_it_through_the_new_channel(world: World) -> None:
    whatsapp = ScriptedChannel()
    world.channels.channels["whatsapp"] = whatsapp
    await register(world, postpone_notification=True)

    released = await resend(world, 1, "whatsapp")

    assert (released.id, released.status, released.channel) == (1, NotificationStatus.SCHEDULED, "whatsapp")
    assert [(h.status, h.reason) for h in stored(world).history] == [
        (NotificationStatus.HELD, "Отложено менеджером"),
        (NotificationStatus.SCHEDULED, "Канал: whatsapp"),
    ]
    assert world.queue.enqueued == [1]
    [event] = [e for e in audit_events(world) if e.action is AuditAction.NOTIFICATION_RELEASED]
    assert event.details == {"channel": "whatsapp"}
    assert await attempt(world) is AttemptResult.SENT
    assert whatsapp.sent[0].text.endswith(
        "при первом входе его нужно сменить. Вход: http://127.0.0.1:8000/client/login"
    )
    assert world.passwords.issued == [world.passwords.issued[0]]
    assert world.passwords.issued[0] in whatsapp.sent[0].text


async def test_a_welcome_by_telegram_carries_only_a_numeric_code_as_the_temporary_password(world: World) -> None:
    telegram = ScriptedChannel(carries_only_code=True)
    world.channels.channels["telegram"] = telegram
    await register(world, channel="telegram")

    assert await attempt(world) is AttemptResult.SENT

    [code] = world.passwords.issued
    assert code.isdigit()
    assert len(code) == 8
    assert telegram.sent[0].text == code
    [person] = rows(world, "persons")
    assert person.password_hash == await world.hasher.hash(code)


async def test_releasing_a_held_text_welcome_into_telegram_issues_a_numeric_code_instead(world: World) -> None:
    telegram = ScriptedChannel(carries_only_code=True)
    world.channels.channels["telegram"] = telegram
    await register(world, postpone_notification=True)

    await resend(world, 1, "telegram")
    assert await attempt(world) is AttemptResult.SENT

    text_password, code = world.passwords.issued
    assert not text_password.isdigit()
    assert code.isdigit()
    assert telegram.sent[0].text == code
    [person] = rows(world, "persons")
    assert person.password_hash == await world.hasher.hash(code)
    assert AuditAction.CREDENTIALS_ISSUED in [e.action for e in audit_events(world) if e.notification_id is None][1:]


async def test_the_password_takes_the_shape_the_channel_adapter_declares_not_the_one_its_name_suggests(
    world: World,
) -> None:
    world.channels.channels["sms"] = ScriptedChannel(carries_only_code=True)
    world.channels.channels["telegram"] = ScriptedChannel(carries_only_code=False)

    await register(world, channel="sms")
    await register(world, "+79217654321", "Пётр", channel="telegram")

    code, text_password = world.passwords.issued
    assert code.isdigit()
    assert not text_password.isdigit()


async def test_a_channel_without_an_adapter_gets_the_password_shape_of_the_shipped_channel(world: World) -> None:
    assert world.channels.get("telegram") is None

    await register(world, channel="telegram")

    [code] = world.passwords.issued
    assert code.isdigit()
    assert stored(world).status is NotificationStatus.SCHEDULED


async def test_a_held_code_released_into_a_text_channel_gets_a_text_password(world: World) -> None:
    world.channels.channels["telegram"] = ScriptedChannel(carries_only_code=True)
    whatsapp = ScriptedChannel()
    world.channels.channels["whatsapp"] = whatsapp
    await register(world, channel="telegram", postpone_notification=True)

    await resend(world, 1, "whatsapp")
    assert await attempt(world) is AttemptResult.SENT

    code, text_password = world.passwords.issued
    assert code.isdigit()
    assert not text_password.isdigit()
    assert text_password in whatsapp.sent[0].text


async def test_releasing_a_held_notification_into_an_inactive_channel_answers_channel_unavailable(
    world: World,
) -> None:
    await register(world, postpone_notification=True)
    await deactivate(world, "whatsapp")

    with pytest.raises(ChannelUnavailable):
        await resend(world, 1, "whatsapp")

    assert stored(world).status is NotificationStatus.HELD
    assert world.queue.enqueued == []


async def test_a_notification_held_by_the_worker_is_released_after_the_channel_comes_back(world: World) -> None:
    sms(world)
    await register(world)
    await deactivate(world, "sms")
    await attempt(world)
    async with world.uow() as uow:
        await uow.reference.save_channel(Channel("sms", "SMS"))
        await uow.commit()

    await resend(world, 1, "sms")

    assert await attempt(world) is AttemptResult.SENT
    assert await alerts_of(world) == []


async def test_resending_a_failed_notification_creates_a_new_one_with_a_new_password(world: World) -> None:
    sms(world, [DeliveryFailed("blocked", retryable=False)])
    await register(world)
    await attempt(world)

    replacement = await resend(world, 1, "whatsapp")

    first, second = world.passwords.issued
    original = stored(world)
    assert (replacement.id, replacement.resend_of, replacement.channel) == (2, 1, "whatsapp")
    assert replacement.status is NotificationStatus.SCHEDULED
    assert replacement.secret == world.secret_box.seal(second)
    assert (original.superseded_by, original.status) == (2, NotificationStatus.FAILED)
    [person] = rows(world, "persons")
    assert person.password_hash == await world.hasher.hash(second)
    assert first != second
    assert world.queue.enqueued == [1, 2]


async def test_a_superseded_failure_no_longer_needs_the_managers_attention(world: World) -> None:
    sms(world, [DeliveryFailed("blocked", retryable=False)])
    await register(world)
    await attempt(world)
    [alert] = await alerts_of(world)
    assert alert.notification.id == 1

    await resend(world, 1, "telegram")

    assert await alerts_of(world) == []


async def test_resending_a_scheduled_notification_answers_notification_in_progress(world: World) -> None:
    await register(world)

    with pytest.raises(NotificationInProgress) as error:
        await resend(world, 1, "telegram")

    assert (error.value.code, error.value.message) == ("notification_in_progress", "Уведомление ещё отправляется")
    assert len(rows(world, "notifications")) == 1


async def test_resending_an_already_resent_failure_refuses_a_second_replacement(world: World) -> None:
    sms(world, [DeliveryFailed("blocked", retryable=False)])
    await register(world)
    await attempt(world)
    await resend(world, 1, "whatsapp")

    with pytest.raises(InvalidTransition) as error:
        await resend(world, 1, "whatsapp")

    assert error.value.message == "Уведомление уже отправлено заново: №2"
    assert len(rows(world, "notifications")) == 2


async def test_a_secret_that_no_longer_opens_fails_the_notification_without_sending(world: World) -> None:
    await register(world)
    async with world.uow() as uow:
        notification = await uow.notifications.get(1)
        assert notification is not None
        notification.secret = b"sealed with an old key"
        await uow.notifications.save(notification)
        await uow.commit()

    assert await attempt(world) is AttemptResult.FAILED

    failed = stored(world)
    assert failed.status is NotificationStatus.FAILED
    assert failed.secret is None
    assert failed.last_error == "Временный пароль не расшифровывается (сменился ключ?)"
    assert world.channels.channels["sms"].sent == []


async def _abandon_first_attempt(world: World) -> None:
    """A worker claimed the attempt and died: the lease runs out with no outcome recorded."""
    await register(world)
    async with world.uow() as uow:
        notification = await uow.notifications.get(1)
        assert notification is not None
        notification.claim(world.clock.now(), world.clock.now() + world.retry.lease)
        await uow.notifications.save(notification)
        await uow.commit()
    world.clock.advance(world.retry.lease)


async def test_an_abandoned_attempt_on_a_channel_that_may_duplicate_fails_instead_of_sending_again(
    world: World,
) -> None:
    channel = ScriptedChannel(deduplicates=False)
    world.channels.channels["sms"] = channel
    await _abandon_first_attempt(world)

    assert await attempt(world) is AttemptResult.FAILED

    failed = stored(world)
    assert channel.sent == []
    assert failed.status is NotificationStatus.FAILED
    assert failed.last_error == (
        "Прошлая попытка прервалась, сообщение могло уйти: проверьте у клиента или отправьте заново"
    )
    assert [alert.notification.id for alert in await alerts_of(world)] == [1]


async def test_an_abandoned_attempt_on_a_deduplicating_channel_is_simply_sent_again(world: World) -> None:
    channel = ScriptedChannel(deduplicates=True)
    world.channels.channels["sms"] = channel
    await _abandon_first_attempt(world)

    assert await attempt(world) is AttemptResult.SENT

    assert [message.notification_id for message in channel.sent] == [1]
    assert stored(world).status is NotificationStatus.SENT


async def test_resending_an_unknown_notification_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await resend(world, 12, "sms")


async def test_an_idempotent_registration_replay_still_reports_the_original_welcome(world: World) -> None:
    sms(world, [DeliveryFailed("blocked", retryable=False)])
    first = await register(world)
    await attempt(world)
    await resend(world, 1, "telegram")

    again = await register(world)

    assert (again.notification_id, again.notification_status) == (first.notification_id, NotificationStatus.FAILED)


# --- delivery reports -----------------------------------------------------------------------


async def _sent(world: World) -> None:
    sms(world)
    await register(world)
    await attempt(world)


async def test_a_delivered_report_after_sending_marks_the_notification_delivered(world: World) -> None:
    await _sent(world)

    assert await report(world, "delivered", provider_message_id="msg-1-1") == (True, NotificationStatus.DELIVERED)

    [event] = [e for e in audit_events(world) if e.actor == "provider:sms"]
    assert (event.action, event.notification_id) == (AuditAction.NOTIFICATION_DELIVERED, 1)


async def test_a_repeated_delivered_report_changes_nothing(world: World) -> None:
    await _sent(world)
    await report(world, "delivered")
    commits, events = world.db.commits, len(audit_events(world))

    assert await report(world, "delivered") == (False, NotificationStatus.DELIVERED)

    assert (world.db.commits, len(audit_events(world))) == (commits, events)
    assert len(stored(world).history) == 3


async def test_a_failed_report_after_delivered_never_moves_the_status_backwards(world: World) -> None:
    await _sent(world)
    await report(world, "delivered")

    assert await report(world, "failed", error="late failure") == (False, NotificationStatus.DELIVERED)

    assert stored(world).last_error is None


async def test_a_failed_report_after_sending_fails_the_notification_and_alerts(world: World) -> None:
    await _sent(world)

    assert await report(world, "failed", error="Абонент недоступен") == (True, NotificationStatus.FAILED)

    assert stored(world).last_error == "Абонент недоступен"
    assert audit_actions(world)[-2:] == [AuditAction.NOTIFICATION_FAILED, AuditAction.MANAGER_ALERTED]


async def test_a_failed_report_without_a_reason_records_a_default_one(world: World) -> None:
    await _sent(world)

    await report(world, "failed")

    assert stored(world).last_error == "Провайдер сообщил о недоставке"


async def test_a_report_on_a_held_notification_changes_nothing(world: World) -> None:
    await register(world, postpone_notification=True)

    assert await report(world, "delivered") == (False, NotificationStatus.HELD)


@pytest.mark.parametrize("status", ["sent", "scheduled", "held", "DELIVERED", "bogus", ""])
async def test_a_report_with_a_status_other_than_delivered_or_failed_answers_validation_error(
    world: World, status: str
) -> None:
    await _sent(world)

    with pytest.raises(ValidationError) as error:
        await report(world, status)

    assert (error.value.message, error.value.field) == ("Статус доставки: delivered или failed", "status")
    assert stored(world).status is NotificationStatus.SENT


async def test_a_report_on_an_unknown_notification_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await report(world, "delivered", 77)


async def test_a_report_for_another_provider_message_answers_validation_error(world: World) -> None:
    await _sent(world)

    with pytest.raises(ValidationError) as error:
        await report(world, "delivered", provider_message_id="someone-else")

    assert (error.value.message, error.value.field) == ("Отчёт относится к другому сообщению", "provider_message_id")
    assert stored(world).status is NotificationStatus.SENT


# --- alerts, sweep, expiry ------------------------------------------------------------------


async def test_alerts_list_failed_and_held_notifications_with_the_other_active_channels(world: World) -> None:
    sms(world, [DeliveryFailed("blocked", retryable=False)])
    await register(world)
    await attempt(world)
    await register(world, "+79217654321", "Пётр", channel="telegram", postpone_notification=True)
    await register(world, "+79031112233", "Олег")

    alerts = await alerts_of(world)

    assert [(a.notification.id, a.notification.status) for a in alerts] == [
        (1, NotificationStatus.FAILED),
        (2, NotificationStatus.HELD),
    ]
    assert set(alerts[0].active_channels) == ACTIVE - {"sms"}
    assert set(alerts[1].active_channels) == ACTIVE - {"telegram"}
    assert [a.notification.id for a in await alerts_of(world, limit=1)] == [1]


async def test_due_notification_ids_list_scheduled_work_oldest_first_up_to_the_limit(world: World) -> None:
    await register(world)
    world.clock.advance(timedelta(seconds=1))
    await register(world, "+79217654321", "Пётр")
    await register(world, "+79031112233", "Олег", postpone_notification=True)

    assert await due_notification_ids(ListDueNotifications(), world.sweep()) == [1, 2]
    assert await due_notification_ids(ListDueNotifications(limit=1), world.sweep()) == [1]


async def test_expiring_secrets_fails_waiting_notifications_and_leaves_fresh_ones(world: World) -> None:
    await register(world)
    await register(world, "+79217654321", "Пётр", postpone_notification=True)
    world.clock.advance(timedelta(hours=1))
    await register(world, "+79031112233", "Олег")
    world.clock.advance(world.policy.temporary_password_ttl - timedelta(hours=1))

    expired = await expire_temporary_secrets(ExpireTemporarySecrets(), world.sweep())

    assert expired == 2
    assert [
        (stored(world, i).status, stored(world, i).last_error, stored(world, i).secret is None) for i in (1, 2)
    ] == [
        (NotificationStatus.FAILED, "Срок действия временного пароля истёк", True),
        (NotificationStatus.FAILED, "Срок действия временного пароля истёк", True),
    ]
    assert stored(world, 3).status is NotificationStatus.SCHEDULED
    assert stored(world, 3).secret is not None
    assert [a.notification.id for a in await alerts_of(world)] == [1, 2]


async def test_expiring_secrets_with_nothing_expired_changes_nothing(world: World) -> None:
    await register(world)

    assert await expire_temporary_secrets(ExpireTemporarySecrets(), world.sweep()) == 0

    assert stored(world).secret is not None
