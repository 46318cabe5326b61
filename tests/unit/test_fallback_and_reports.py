"""The fallback chain, providers' own reports matched by message id, and the client's timeline."""

from __future__ import annotations

import attrs
import pytest

from barbershop_core.errors import NotFound
from barbershop_core.model import AuditAction, ClientNotification, NotificationStatus
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import DeliveryFailed
from barbershop_core.use_cases.delivery import AttemptDelivery, AttemptResult, DeliveryDeps
from barbershop_core.use_cases.delivery_reports import ReportDeps
from barbershop_core.use_cases.fallback import (
    FallbackDeps,
    ListPendingFallbacks,
    RunFallbackStep,
    WorkerDeps,
    deliver,
    fall_back,
    next_channels,
    pending_fallback_ids,
)
from barbershop_core.use_cases.notification_queries import Alert, ListAlerts, list_alerts
from barbershop_core.use_cases.provider_reports import (
    ApplyKeptReports,
    ProviderStatus,
    ReportOutcome,
    apply_kept_reports,
    apply_provider_report,
)
from barbershop_core.use_cases.timeline import GetClientTimeline, StepKind, client_timeline
from tests.conftest import World
from tests.fakes import ScriptedChannel
from tests.unit.support import audit_actions, audit_events, register, rows

CHAIN = ("telegram", "whatsapp", "sms")
REFUSED = DeliveryFailed("номер не в мессенджере", retryable=False)


@pytest.fixture
async def chained(world: World) -> World:
    """A world with the chain telegram → whatsapp → sms and an adapter for each."""
    world.policy = attrs.evolve(world.policy, fallback_channels=CHAIN)
    for code in CHAIN:
        world.channels.channels[code] = ScriptedChannel(carries_only_code=code == "telegram")
    return world


def channel(world: World, code: str) -> ScriptedChannel:
    adapter = world.channels.channels[code]
    assert isinstance(adapter, ScriptedChannel)
    return adapter


def script(world: World, code: str, outcomes: list[DeliveryFailed | str]) -> None:
    world.channels.channels[code] = ScriptedChannel(outcomes, carries_only_code=code == "telegram")


def fallback(world: World) -> FallbackDeps | None:
    """The installation's fallback step, as the container hands it to the worker."""
    return world.container.fallback()


def delivery(world: World) -> DeliveryDeps:
    return world.delivery()


def reports(world: World) -> ReportDeps:
    return world.container.reports()


def notifications(world: World) -> list[ClientNotification]:
    return rows(world, "notifications")


async def send(world: World, notification_id: int) -> AttemptResult:
    return await deliver(AttemptDelivery(notification_id), WorkerDeps(delivery(world), fallback(world)))


async def alerts_of(world: World) -> list[Alert]:
    return await list_alerts(ListAlerts(), world.notification_queries())


async def pending(world: World) -> list[int]:
    return await pending_fallback_ids(ListPendingFallbacks(), world.notification_queries())


def test_the_next_channels_follow_the_failed_one_in_the_chain_and_skip_those_tried() -> None:
    assert next_channels(CHAIN, "telegram", {"telegram"}) == ["whatsapp", "sms"]
    assert next_channels(CHAIN, "whatsapp", {"whatsapp", "telegram"}) == ["sms"]
    assert next_channels(CHAIN, "sms", {"sms"}) == []
    assert next_channels(CHAIN, "local", {"local", "whatsapp"}) == ["telegram", "sms"]


async def test_a_permanent_failure_goes_out_on_the_next_channel_with_a_new_password(chained: World) -> None:
    script(chained, "telegram", [REFUSED])
    registered = await register(chained, channel="telegram")
    first_hash = rows(chained, "persons")[0].password_hash

    assert await send(chained, registered.notification_id) is AttemptResult.FAILED

    failed, replacement = notifications(chained)
    assert failed.status is NotificationStatus.FAILED
    assert failed.superseded_by == replacement.id
    assert not failed.fallback_pending
    assert replacement.channel == "whatsapp"
    assert replacement.resend_of == failed.id
    assert replacement.status is NotificationStatus.SCHEDULED
    assert replacement.secret is not None, "a new temporary password waits for the new message"
    assert "Резервный канал" in (replacement.history[0].reason or "")
    assert rows(chained, "persons")[0].password_hash != first_hash, "the old password is voided"
    assert AuditAction.MANAGER_ALERTED not in audit_actions(chained)
    assert AuditAction.NOTIFICATION_FELL_BACK in audit_actions(chained)
    assert await alerts_of(chained) == []
    assert chained.queue.enqueued[-1] == replacement.id, "the replacement is handed to the queue by the commit"

    assert await send(chained, replacement.id) is AttemptResult.SENT
    whatsapp = channel(chained, "whatsapp").sent[0]
    assert whatsapp.text != channel(chained, "telegram").sent[0].text


async def test_retries_exhausted_fall_back_too(chained: World) -> None:
    timeout = DeliveryFailed("timeout", retryable=True)
    script(chained, "telegram", [timeout] * 4)
    registered = await register(chained, channel="telegram")
    outcomes = []
    for _ in range(4):
        chained.clock.advance(chained.retry.base_delay * 20)
        outcomes.append(await send(chained, registered.notification_id))
    assert outcomes[-1] is AttemptResult.FAILED
    assert [n.channel for n in notifications(chained)] == ["telegram", "whatsapp"]


async def test_an_exhausted_chain_alerts_a_manager_exactly_once(chained: World) -> None:
    for code in CHAIN:
        script(chained, code, [REFUSED])
    registered = await register(chained, channel="telegram")
    notification_id = registered.notification_id
    for _ in CHAIN:
        await send(chained, notification_id)
        notification_id = notifications(chained)[-1].id

    assert [n.channel for n in notifications(chained)] == list(CHAIN)
    assert audit_actions(chained).count(AuditAction.MANAGER_ALERTED) == 1
    alerts = await alerts_of(chained)
    assert [alert.notification.channel for alert in alerts] == ["sms"]
    # The step again (the sweep, a second process) alerts nobody twice.
    assert await fall_back(RunFallbackStep(alerts[0].notification.id), fallback(chained)) is None
    assert audit_actions(chained).count(AuditAction.MANAGER_ALERTED) == 1


async def test_a_channel_the_client_cannot_be_reached_on_is_skipped(chained: World) -> None:
    del chained.channels.channels["whatsapp"]  # no adapter on this installation
    script(chained, "telegram", [REFUSED])
    registered = await register(chained, channel="telegram")
    await send(chained, registered.notification_id)
    assert [n.channel for n in notifications(chained)] == ["telegram", "sms"]


async def test_without_a_chain_a_failure_alerts_at_once_as_before(world: World) -> None:
    world.channels.channels["sms"] = ScriptedChannel([REFUSED])
    registered = await register(world, channel="sms")
    assert (
        await deliver(AttemptDelivery(registered.notification_id), WorkerDeps(world.delivery())) is AttemptResult.FAILED
    )
    assert len(notifications(world)) == 1
    assert audit_actions(world).count(AuditAction.MANAGER_ALERTED) == 1


async def test_an_attempt_abandoned_on_a_channel_without_deduplication_goes_to_a_person(chained: World) -> None:
    channel(chained, "telegram").deduplicates = False
    registered = await register(chained, channel="telegram")
    notification = rows(chained, "notifications")[0]
    async with chained.uow() as uow:
        loaded = await uow.notifications.get_for_update(notification.id)
        assert loaded is not None
        loaded.claim(chained.clock.now(), chained.clock.now() + chained.retry.lease)
        await uow.notifications.save(loaded)
        await uow.commit()
    chained.clock.advance(chained.retry.lease * 2)  # the worker died; its lease ran out

    assert await send(chained, registered.notification_id) is AttemptResult.FAILED

    assert len(notifications(chained)) == 1, "never silently to the next channel"
    assert channel(chained, "telegram").sent == []
    assert audit_actions(chained).count(AuditAction.MANAGER_ALERTED) == 1


async def test_a_fallback_step_left_by_a_dead_process_is_found_by_the_sweep(chained: World) -> None:
    script(chained, "telegram", [REFUSED])
    registered = await register(chained, channel="telegram")
    assert (
        await deliver(AttemptDelivery(registered.notification_id), WorkerDeps(delivery(chained)))
        is AttemptResult.FAILED
    )  # no step run
    assert notifications(chained)[0].fallback_pending
    assert await alerts_of(chained) == [], "no alert while the step is pending"

    assert await pending(chained) == [registered.notification_id]
    replacement = await fall_back(RunFallbackStep(registered.notification_id), fallback(chained))
    assert replacement is not None
    assert await pending(chained) == []


async def sent_by_sms(world: World, message_id: str = "sms-1") -> int:
    world.channels.channels["sms"] = ScriptedChannel([message_id])
    registered = await register(world, channel="sms")
    assert await send(world, registered.notification_id) is AttemptResult.SENT
    return registered.notification_id


async def test_a_provider_report_is_matched_by_its_message_id_and_is_idempotent(chained: World) -> None:
    notification_id = await sent_by_sms(chained)
    delivered = ProviderStatus("sms", "sms-1", NotificationStatus.DELIVERED, said="SMS.ru 103")

    assert await apply_provider_report(delivered, reports(chained)) is ReportOutcome.APPLIED
    assert await apply_provider_report(delivered, reports(chained)) is ReportOutcome.UNCHANGED
    late_failure = ProviderStatus("sms", "sms-1", NotificationStatus.FAILED, "истёк срок")
    assert await apply_provider_report(late_failure, reports(chained)) is ReportOutcome.UNCHANGED

    stored = notifications(chained)[0]
    assert stored.id == notification_id
    assert stored.status is NotificationStatus.DELIVERED
    assert "SMS.ru 103" in (stored.history[-1].reason or "")
    assert audit_events(chained)[-1].actor == "provider:sms"


async def test_a_report_of_the_same_id_on_another_channel_matches_nothing(chained: World) -> None:
    await sent_by_sms(chained)
    other = ProviderStatus("whatsapp", "sms-1", NotificationStatus.DELIVERED)
    assert await apply_provider_report(other, reports(chained)) is ReportOutcome.KEPT
    assert notifications(chained)[0].status is NotificationStatus.SENT


async def test_a_progress_report_changes_nothing(chained: World) -> None:
    await sent_by_sms(chained)
    progress = ProviderStatus("sms", "sms-1", None, said="SMS.ru 102")
    assert await apply_provider_report(progress, reports(chained)) is ReportOutcome.UNCHANGED
    assert notifications(chained)[0].status is NotificationStatus.SENT


async def test_a_failed_report_falls_back_to_the_next_channel(chained: World) -> None:
    await sent_by_sms(chained)
    chained.policy = attrs.evolve(chained.policy, fallback_channels=("sms", "telegram"))
    failed = ProviderStatus("sms", "sms-1", NotificationStatus.FAILED, "абонент недоступен", "SMS.ru 104")
    assert await apply_provider_report(failed, reports(chained)) is ReportOutcome.APPLIED
    assert [(n.channel, n.status) for n in notifications(chained)] == [
        ("sms", NotificationStatus.FAILED),
        ("telegram", NotificationStatus.SCHEDULED),
    ]
    assert notifications(chained)[0].last_error == "абонент недоступен"


async def test_a_report_before_the_send_is_recorded_is_kept_and_applied_by_the_sweep(chained: World) -> None:
    early = ProviderStatus("sms", "sms-1", NotificationStatus.DELIVERED, said="SMS.ru 103")
    assert await apply_provider_report(early, reports(chained)) is ReportOutcome.KEPT
    assert await apply_provider_report(early, reports(chained)) is ReportOutcome.KEPT  # the provider's retry
    assert len(rows(chained, "provider_reports")) == 1
    assert await apply_kept_reports(ApplyKeptReports(), reports(chained)) == 0, "no send carries the id yet"

    await sent_by_sms(chained)
    assert await apply_kept_reports(ApplyKeptReports(), reports(chained)) == 1
    assert notifications(chained)[0].status is NotificationStatus.DELIVERED
    assert rows(chained, "provider_reports") == []


async def test_kept_reports_whose_id_never_turns_up_are_purged_after_a_week(chained: World) -> None:
    unknown = ProviderStatus("sms", "never", NotificationStatus.DELIVERED)
    await apply_provider_report(unknown, reports(chained))
    chained.clock.advance(chained.policy.temporary_password_ttl * 3)  # 9 days
    assert await apply_kept_reports(ApplyKeptReports(), reports(chained)) == 0
    assert rows(chained, "provider_reports") == []


async def test_the_timeline_shows_each_attempt_report_and_fallback_step_in_order(chained: World) -> None:
    script(chained, "telegram", [REFUSED])
    script(chained, "whatsapp", ["wamid.1"])
    registered = await register(chained, channel="telegram")
    chained.clock.advance(chained.retry.base_delay)
    await send(chained, registered.notification_id)
    chained.clock.advance(chained.retry.base_delay)
    await send(chained, notifications(chained)[-1].id)
    chained.clock.advance(chained.retry.base_delay)
    report = ProviderStatus("whatsapp", "wamid.1", NotificationStatus.DELIVERED, said="WhatsApp read")
    await apply_provider_report(report, reports(chained))

    steps = await client_timeline(GetClientTimeline(registered.client_id), chained.clients())

    assert [(s.notification_id, s.channel, s.kind, s.state) for s in steps] == [
        (1, "telegram", StepKind.CREATED, "scheduled"),
        (1, "telegram", StepKind.ATTEMPT, "permanent_failure"),
        (1, "telegram", StepKind.STATUS, "failed"),
        (2, "whatsapp", StepKind.CREATED, "scheduled"),
        (2, "whatsapp", StepKind.ATTEMPT, "sent"),
        (2, "whatsapp", StepKind.STATUS, "sent"),
        (2, "whatsapp", StepKind.STATUS, "delivered"),
    ]
    assert steps[1].detail == "номер не в мессенджере"
    assert steps[3].replaces == 1
    assert steps[4].provider_message_id == "wamid.1"
    assert "WhatsApp read" in (steps[-1].detail or "")
    assert [s.at for s in steps] == sorted(s.at for s in steps)


async def test_the_timeline_of_an_unknown_client_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await client_timeline(GetClientTimeline(404), world.clients())


def test_the_policy_has_no_fallback_chain_by_default() -> None:
    assert RegistrationPolicy().fallback_channels == ()
