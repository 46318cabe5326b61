"""Fixtures every test may use: the in-memory world of fakes, wired like the real one."""

from __future__ import annotations

import attrs
import pytest

from barbershop_core.context import Context
from barbershop_core.model import Actor
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.use_cases.client_accounts import ClientAccountDeps
from barbershop_core.use_cases.notifications import DeliveryDeps, NotificationDeps
from barbershop_core.use_cases.promo import PromoDeps
from barbershop_core.use_cases.reference_data import install_default_reference_data
from barbershop_core.use_cases.registration import RegistrationDeps
from tests.fakes import (
    FakeChannelDirectory,
    FakeClock,
    FakeHasher,
    FakeKeyDigester,
    FakePasswordGenerator,
    FakeSecretBox,
    FakeUnitOfWork,
    InMemoryAttemptCounter,
    InMemoryDatabase,
    RecordingQueue,
    ScriptedChannel,
)

MANAGER = Context(Actor.manager(1), request_id="req-1")
DEFAULT_PROMO_POLICY = PromoPolicy()


@attrs.define
class World:
    """Every fake port, plus the dependency bundles the use cases take."""

    db: InMemoryDatabase = attrs.field(factory=InMemoryDatabase)
    clock: FakeClock = attrs.field(factory=FakeClock)
    hasher: FakeHasher = attrs.field(factory=FakeHasher)
    passwords: FakePasswordGenerator = attrs.field(factory=FakePasswordGenerator)
    secret_box: FakeSecretBox = attrs.field(factory=FakeSecretBox)
    digester: FakeKeyDigester = attrs.field(factory=FakeKeyDigester)
    queue: RecordingQueue = attrs.field(factory=RecordingQueue)
    attempts: InMemoryAttemptCounter = attrs.field(factory=InMemoryAttemptCounter)
    channels: FakeChannelDirectory = attrs.field(factory=FakeChannelDirectory)
    policy: RegistrationPolicy = RegistrationPolicy()
    retry: RetryPolicy = RetryPolicy(random_source=lambda: 0.5)  # no jitter: exact times

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db, self.queue)

    def registration(self) -> RegistrationDeps:
        return RegistrationDeps(
            uow_factory=self.uow,
            hasher=self.hasher,
            passwords=self.passwords,
            secret_box=self.secret_box,
            clock=self.clock,
            policy=self.policy,
        )

    def notifications(self) -> NotificationDeps:
        return self.registration()

    def delivery(self) -> DeliveryDeps:
        return DeliveryDeps(
            uow_factory=self.uow, channels=self.channels, secret_box=self.secret_box, clock=self.clock, retry=self.retry
        )

    def client_accounts(self) -> ClientAccountDeps:
        return ClientAccountDeps(
            uow_factory=self.uow,
            hasher=self.hasher,
            clock=self.clock,
            attempts=self.attempts,
            digester=self.digester,
            policy=self.policy,
        )

    def promo(self, policy: PromoPolicy = DEFAULT_PROMO_POLICY) -> PromoDeps:
        return PromoDeps(uow_factory=self.uow, clock=self.clock, policy=policy)


@pytest.fixture
async def world() -> World:
    """Fakes with the shipped reference data and a working SMS channel."""
    world = World()
    await install_default_reference_data(uow_factory=world.uow)
    world.channels.channels["sms"] = ScriptedChannel()
    return world
