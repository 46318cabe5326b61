"""Step 8 in batches: concurrent sends share their claim and record transactions, with the
same outcomes, stored states and audit trail as the same sends one by one."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

import attrs

from barbershop_core.errors import NotFound
from barbershop_core.model import AuditAction, AuditEvent, ClientNotification
from barbershop_core.ports import DeliveryFailed, OutgoingMessage, SendReceipt, StorageUnavailable
from barbershop_core.use_cases.delivery import SENDS_OF_REGISTRATIONS, AttemptResult, Batching, Deliveries, DeliveryDeps
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
    batched, _, batched_deps, units = await a_world_with_due_notifications()
    one_by_one, _, single_deps, _ = await a_world_with_due_notifications()
    deliveries = Deliveries(batched_deps)

    together = await asyncio.gather(*(deliveries.attempt(n) for n in range(1, 8)))
    alone = [await Deliveries(single_deps).attempt(n) for n in range(1, 8)]

    assert units.opened == 2  # one claim and one record for all seven
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


async def test_a_notification_that_breaks_its_claim_fails_only_its_own_send() -> None:
    world, channel, deps, _ = await a_world_with_due_notifications()
    del world.db.tables["clients"][3]  # notification 3's client is gone: its claim raises
    deliveries = Deliveries(deps)

    results = await asyncio.gather(*(deliveries.attempt(n) for n in (1, 3, 5)), return_exceptions=True)

    assert results[0] is AttemptResult.SENT
    assert isinstance(results[1], NotFound)
    assert results[2] is AttemptResult.SENT
    assert sorted(channel.sent) == [1, 5]


class CommitLostOnce(FakeUnitOfWork):
    """Commits, then reports a failure once: a connection lost while COMMIT was answered."""

    lose_next: ClassVar[list[int]] = []

    async def commit(self) -> None:
        await super().commit()
        if self.lose_next and self.lose_next.pop() == 1:
            raise StorageUnavailable("connection lost after COMMIT")


async def test_records_run_again_after_an_unanswered_commit_store_each_attempt_once() -> None:
    world, channel, deps, _ = await a_world_with_due_notifications()
    deps = attrs.evolve(deps, uow_factory=lambda: CommitLostOnce(world.db, world.queue))
    CommitLostOnce.lose_next[:] = [1, 0]  # the claim commits fine, the record's answer is lost
    deliveries = Deliveries(deps)

    results = await asyncio.gather(*(deliveries.attempt(n) for n in (1, 4)))

    # the batch of two is run again item by item, and each finds its outcome stored already
    assert results == [AttemptResult.SENT, AttemptResult.RETRY_SCHEDULED]
    assert channel.sent == [1, 4]
    notifications = {n.id: n for n in rows(world, "notifications")}
    assert [len(notifications[n].attempts) for n in (1, 4)] == [1, 1]
    worker_events = [e.action for e in audit_events(world) if e.actor == "system:worker"]
    assert Counter(worker_events) == {AuditAction.NOTIFICATION_SENT: 1, AuditAction.NOTIFICATION_ATTEMPT_FAILED: 1}


async def sends_of_a_steady_stream(batching: Batching) -> tuple[list[AttemptResult], int]:
    """Six sends 30 ms apart, as a busy server that sends itself hands them off, one per
    registration; the answers and the transactions their claims and records took."""
    _, _, deps, units = await a_world_with_due_notifications()
    deliveries = Deliveries(deps, batching)

    async def handed_off(notification_id: int) -> AttemptResult:
        await asyncio.sleep(0.03 * (notification_id - 1))
        return await deliveries.attempt(notification_id)

    results = await asyncio.gather(*(handed_off(n) for n in range(1, 7)))
    return results, units.opened


async def test_a_server_that_sends_itself_shares_the_transactions_of_one_send_per_registration() -> None:
    worker_results, worker_transactions = await sends_of_a_steady_stream(Batching())
    results, transactions = await sends_of_a_steady_stream(SENDS_OF_REGISTRATIONS)

    assert results == worker_results
    # The first send runs at once (the server was idle), the other five share a claim and a
    # record; the worker's short quiet spell (20 ms) lets each of them claim and record alone.
    assert transactions <= 6, transactions
    assert worker_transactions >= 8, worker_transactions
