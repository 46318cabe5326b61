"""The outbox: due notifications are claimed safely by several workers at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import attrs
import pytest

from barbershop_core.model import ClientNotification, NotificationStatus
from barbershop_core.ports import ToSend
from barbershop_core.use_cases.delivery import (
    AttemptDelivery,
    AttemptResult,
    Deliveries,
    DeliveryDeps,
    attempt_delivery,
)
from barbershop_core.use_cases.registration import RegisterClient, register_client
from tests.conftest import MANAGER, World
from tests.fakes import ScriptedChannel
from tests.integration.sql_fixtures import NOW, SQL_BACKENDS, Backend, a_notification, add_client


async def add_due_notifications(backend: Backend, count: int) -> list[int]:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notifications = [a_notification(client.id, now=NOW + timedelta(seconds=n)) for n in range(count)]
        for notification in notifications:
            await uow.notifications.add(notification)
        await uow.commit()
    return [n.id for n in notifications]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_workers_claiming_at_once_get_different_notifications_without_waiting(backend: Backend) -> None:
    ids = await add_due_notifications(backend, 5)
    later = NOW + timedelta(hours=1)
    async with backend.uow_factory() as first:
        claimed_first = await first.notifications.due_ids(later, 2)
        async with backend.uow_factory() as second:
            # SKIP LOCKED: the second worker neither waits for nor repeats the first one's rows.
            claimed_second = await asyncio.wait_for(second.notifications.due_ids(later, 10), timeout=5)
    assert list(claimed_first) == ids[:2]
    assert list(claimed_second) == ids[2:]
    async with backend.uow_factory() as third:
        assert list(await third.notifications.due_ids(later, 10)) == ids


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_get_for_update_waits_until_the_holder_finishes(backend: Backend) -> None:
    [notification_id] = await add_due_notifications(backend, 1)
    async with backend.uow_factory() as holder:
        held = await holder.notifications.get_for_update(notification_id)
        assert held is not None

        async def second_worker() -> NotificationStatus:
            async with backend.uow_factory() as uow:
                notification = await uow.notifications.get_for_update(notification_id)
                assert notification is not None
                return notification.status

        waiting = asyncio.create_task(second_worker())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        held.fail(NOW, "отменено")
        await holder.notifications.save(held)
        await holder.commit()
        assert await asyncio.wait_for(waiting, timeout=5) is NotificationStatus.FAILED


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_read_that_waited_for_the_lock_sees_the_holders_history_and_attempts(backend: Backend) -> None:
    """Read with its children in one statement, a row the holder changed meanwhile comes back
    as the holder left it; its children must too (they are read again once locked)."""
    [notification_id] = await add_due_notifications(backend, 1)
    async with backend.uow_factory() as holder:
        held = await holder.notifications.get_for_update(notification_id)
        assert held is not None

        async def second_worker() -> ClientNotification:
            async with backend.uow_factory() as uow:
                notification = await uow.notifications.get_for_update(notification_id)
                assert notification is not None
                # and it can go on from there: a retry's failure appends the next attempt
                notification.claim(NOW, NOW + timedelta(minutes=2))
                notification.record_retryable_failure(NOW, "timeout", NOW + timedelta(minutes=1))
                await uow.notifications.save(notification)
                await uow.commit()
                return notification

        waiting = asyncio.create_task(second_worker())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        held.claim(NOW, NOW + timedelta(minutes=2))
        held.record_retryable_failure(NOW, "timeout", NOW)
        await holder.notifications.save(held)
        await holder.commit()
        seen = await asyncio.wait_for(waiting, timeout=5)

    assert [attempt.number for attempt in seen.attempts] == [1, 2]
    assert seen.history == held.history
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(notification_id)
    assert stored == seen


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_claim_that_waited_for_the_lock_reads_the_route_and_recipient_the_holder_left(
    backend: Backend,
) -> None:
    """The claim's one read joins the notification to its client, person, channel and
    template. A row changed while the read waited comes back new, but joined as of the
    statement's start: a held notification released to another channel meanwhile must find
    that channel's route, not none."""
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        held = a_notification(client.id, held=True)
        await uow.notifications.add(held)
        await uow.commit()
    async with backend.uow_factory() as manager:
        released = await manager.notifications.get_for_update(held.id)
        assert released is not None

        async def claim() -> ToSend:
            async with backend.uow_factory() as uow:
                [to_send] = await uow.notifications.get_many_to_send([held.id])
                return to_send

        waiting = asyncio.create_task(claim())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        released.release(NOW, "telegram")
        await manager.notifications.save(released)
        await manager.commit()
        to_send = await asyncio.wait_for(waiting, timeout=5)

    assert to_send.notification.channel == "telegram"
    assert to_send.notification.status is NotificationStatus.SCHEDULED
    assert to_send.channel is not None
    assert to_send.channel.code == "telegram"
    assert to_send.template is not None
    assert (to_send.template.code, to_send.template.channel) == ("REG_WELCOME", "telegram")
    assert to_send.recipient is not None
    assert to_send.recipient[0].id == client.id


async def registered_sms(backend: Backend, count: int) -> tuple[list[int], ScriptedChannel, DeliveryDeps]:
    """``count`` welcome SMS registered on ``backend``, the fake SMS channel, and the send's deps."""
    world = World()
    sms = ScriptedChannel()
    world.channels.channels["sms"] = sms
    registration = attrs.evolve(world.registration(), uow_factory=backend.uow_factory)
    ids: list[int] = []
    for number in range(count):
        registered = await register_client(RegisterClient(f"+791112345{number:02d}", "Иван", MANAGER), registration)
        assert registered.notification_id is not None
        ids.append(registered.notification_id)
    return ids, sms, attrs.evolve(world.delivery(), uow_factory=backend.uow_factory)


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_two_workers_sending_one_notification_at_once_send_it_once(backend: Backend) -> None:
    [notification_id], sms, delivery = await registered_sms(backend, 1)

    outcomes = await asyncio.gather(*(attempt_delivery(AttemptDelivery(notification_id), delivery) for _ in range(2)))

    assert sorted(outcomes) == sorted([AttemptResult.SENT, AttemptResult.SKIPPED])
    assert len(sms.sent) == 1


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_workers_whose_batches_overlap_send_each_notification_once(backend: Backend) -> None:
    ids, sms, delivery = await registered_sms(backend, 12)
    workers = [Deliveries(delivery) for _ in range(3)]

    # Each worker takes every id, in its own order: their batches lock overlapping rows.
    outcomes = await asyncio.gather(
        *(
            worker.attempt(notification_id)
            for index, worker in enumerate(workers)
            for notification_id in (ids if index % 2 else ids[::-1])
        )
    )

    assert Counter(outcomes) == {AttemptResult.SENT: 12, AttemptResult.SKIPPED: 24}
    assert sorted(message.notification_id for message in sms.sent) == ids
