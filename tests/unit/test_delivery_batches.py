"""Step 8 in batches: concurrent sends share their claim and record transactions, with the
same outcomes, stored states and audit trail as the same sends one by one."""

from __future__ import annotations

import asyncio
from collections import Counter

import attrs

from barbershop_core.model import AuditEvent, ClientNotification
from barbershop_core.ports import DeliveryFailed, OutgoingMessage, SendReceipt
from barbershop_core.use_cases.delivery import AttemptResult, Deliveries, DeliveryDeps
from barbershop_core.use_cases.reference_data import InstallDefaultReferenceData, install_default_reference_data
from tests.conftest import World
from tests.fakes import FakeUnitOfWork
from tests.unit.support import audit_events, register, rows

PERMANENT = DeliveryFailed("номер не существует", retryable=False)
TIMEOUT = DeliveryFailed("timeout", retryable=True)


class ChannelByNotification:
    """Answers each notification with its own scripted outcome, whatever the order of sends."""

    deduplicates = True
    carries_only_code = False

    def __init__(self, outcomes: dict[int, DeliveryFailed]) -> None:
        self._outcomes = outcomes
        self.sent: list[int] = []

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        self.sent.append(message.notification_id)
        await asyncio.sleep(0)  # a provider call yields to the loop
        failure = self._outcomes.get(message.notification_id)
        if failure is not None:
            raise failure
        return SendReceipt(f"provider-{message.notification_id}")


@attrs.define
class CountingUnitsOfWork:
    world: World
    opened: int = 0

    def __call__(self) -> FakeUnitOfWork:
        self.opened += 1
        return self.world.uow()


async def a_world_with_due_notifications() -> tuple[World, ChannelByNotification, DeliveryDeps, CountingUnitsOfWork]:
    """Six welcome SMS (the 2nd fails for good, the 4th times out) and one through Telegram,
    which this installation has no adapter for (held)."""
    world = World()
    await install_default_reference_data(InstallDefaultReferenceData(), world.reference())
    channel = ChannelByNotification({2: PERMANENT, 4: TIMEOUT})
    world.channels.channels["sms"] = channel
    for index in range(6):
        await register(world, f"+7911000000{index}")
    await register(world, "+79110000009", channel="telegram")
    units = CountingUnitsOfWork(world)
    return world, channel, attrs.evolve(world.delivery(), uow_factory=units), units


def trail_by_notification(world: World) -> Counter[tuple[int | None, str, str]]:
    events: list[AuditEvent] = audit_events(world)
    return Counter((e.notification_id, e.action.value, str(sorted(e.details.items()))) for e in events)


async def test_concurrent_sends_claim_in_one_transaction_and_record_in_one() -> None:
    _, channel, deps, units = await a_world_with_due_notifications()
    deliveries = Deliveries(deps)

    results = await asyncio.gather(*(deliveries.attempt(n) for n in range(1, 8)))

    assert results == [
        AttemptResult.SENT,
        AttemptResult.FAILED,
        AttemptResult.SENT,
        AttemptResult.RETRY_SCHEDULED,
        AttemptResult.SENT,
        AttemptResult.SENT,
        AttemptResult.HELD,
    ]
    assert sorted(channel.sent) == [1, 2, 3, 4, 5, 6]
    assert units.opened == 2


async def test_a_batch_stores_and_audits_exactly_what_the_same_sends_one_by_one_do() -> None:
    batched, _, batched_deps, _ = await a_world_with_due_notifications()
    one_by_one, _, single_deps, _ = await a_world_with_due_notifications()

    together = await asyncio.gather(*(Deliveries(batched_deps).attempt(n) for n in range(1, 8)))
    alone = [await Deliveries(single_deps).attempt(n) for n in range(1, 8)]

    assert together == alone
    notifications: list[ClientNotification] = rows(batched, "notifications")
    assert notifications == rows(one_by_one, "notifications")
    assert trail_by_notification(batched) == trail_by_notification(one_by_one)


async def test_the_same_notification_twice_in_a_batch_is_sent_once_and_an_unknown_one_is_skipped() -> None:
    _, channel, deps, _ = await a_world_with_due_notifications()
    deliveries = Deliveries(deps)

    results = await asyncio.gather(deliveries.attempt(1), deliveries.attempt(1), deliveries.attempt(99))

    assert results == [AttemptResult.SENT, AttemptResult.SKIPPED, AttemptResult.SKIPPED]
    assert channel.sent == [1]


async def test_a_send_that_outlasts_the_others_does_not_hold_back_their_records() -> None:
    world, _, deps, _ = await a_world_with_due_notifications()
    slow_provider = asyncio.Event()

    class SlowForTheFirst(ChannelByNotification):
        async def send(self, message: OutgoingMessage) -> SendReceipt:
            if message.notification_id == 1:
                await slow_provider.wait()
            return await super().send(message)

    world.channels.channels["sms"] = SlowForTheFirst({})
    deliveries = Deliveries(deps)
    first = asyncio.ensure_future(deliveries.attempt(1))
    others = await asyncio.gather(*(deliveries.attempt(n) for n in (3, 5)))

    assert others == [AttemptResult.SENT, AttemptResult.SENT]
    assert not first.done()
    slow_provider.set()
    assert await first is AttemptResult.SENT
