"""Fixtures every test may use: the in-memory world of fakes, wired by the production wiring."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import attrs
import pytest

from barbershop_core.context import Context
from barbershop_core.model import Actor
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.use_cases.accounts import ManagerDeps, PartnerDeps
from barbershop_core.use_cases.audit_trail import AuditDeps
from barbershop_core.use_cases.client_accounts import ClientAccountDeps
from barbershop_core.use_cases.clients import ClientDeps
from barbershop_core.use_cases.delivery import DeliveryDeps
from barbershop_core.use_cases.notification_commands import NotificationDeps
from barbershop_core.use_cases.notification_queries import NotificationQueryDeps, SweepDeps
from barbershop_core.use_cases.promo import PromoDeps, PromoSignUps
from barbershop_core.use_cases.reference_data import (
    InstallDefaultReferenceData,
    ReferenceDeps,
    install_default_reference_data,
)
from barbershop_core.use_cases.registration import RegistrationDeps
from barbershop_entrypoints.bootstrap import Container, build_container
from barbershop_entrypoints.settings import RegistrationConfig, SecurityConfig, Settings
from tests.fakes import (
    FakeChannelDirectory,
    FakeClock,
    FakeHasher,
    FakeKeyDigester,
    FakePasswordGenerator,
    FakeSecretBox,
    FakeSessionReader,
    FakeUnitOfWork,
    InMemoryAttemptCounter,
    InMemoryDatabase,
    RecordingQueue,
    ScriptedChannel,
)

MANAGER = Context(Actor.manager(1), request_id="req-1")
DEFAULT_PROMO_POLICY = PromoPolicy()

UNIT_SETTINGS = Settings(
    security=SecurityConfig(secret_key="unit-tests-never-sign-anything-real", hash_threads=1),
    registration=RegistrationConfig(default_channel="sms"),
)
"""The installation the unit tests model: SMS is the default channel (production's embedded
default is the local one), and no key file is written."""


_PORTS = frozenset({"clock", "hasher", "passwords", "secret_box", "digester", "queue", "attempts", "channels"})


def _mirror(world: World, attribute: attrs.Attribute[object], value: object) -> object:
    """A test that swaps a fake (``world.hasher = SlowHasher()``) swaps it in the container too."""
    container = getattr(world, "container", None)  # None while the world is being built
    if container is not None and attribute.name in _PORTS:
        setattr(container, attribute.name, value)
    return value


@attrs.define(on_setattr=_mirror)
class World:
    """Every fake port, and the container :func:`build_container` wires from them.

    The dependency bundles come from the container, so the use cases get in tests what
    they get in production; only the ports (and a jitter-free retry policy) differ.
    """

    db: InMemoryDatabase = attrs.field(factory=InMemoryDatabase)
    clock: FakeClock = attrs.field(factory=FakeClock)
    hasher: FakeHasher = attrs.field(factory=FakeHasher)
    passwords: FakePasswordGenerator = attrs.field(factory=FakePasswordGenerator)
    secret_box: FakeSecretBox = attrs.field(factory=FakeSecretBox)
    digester: FakeKeyDigester = attrs.field(factory=FakeKeyDigester)
    queue: RecordingQueue = attrs.field(factory=RecordingQueue)
    attempts: InMemoryAttemptCounter = attrs.field(factory=InMemoryAttemptCounter)
    channels: FakeChannelDirectory = attrs.field(factory=FakeChannelDirectory)
    settings: Settings = UNIT_SETTINGS
    container: Container = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.container = build_container(
            self.settings,
            uow_factory=self.uow,
            clock=self.clock,
            hasher=self.hasher,
            passwords=self.passwords,
            secret_box=self.secret_box,
            digester=self.digester,
            queue=self.queue,
            attempts=self.attempts,
            sessions=FakeSessionReader(self.db),
            channels=self.channels,
            retry=RetryPolicy(random_source=lambda: 0.5),  # no jitter: exact times
        )

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db, self.queue)

    @property
    def policy(self) -> RegistrationPolicy:
        return self.container.policy

    @policy.setter
    def policy(self, policy: RegistrationPolicy) -> None:
        self.container.policy = policy

    @property
    def retry(self) -> RetryPolicy:
        return self.container.retry

    def registration(self) -> RegistrationDeps:
        return self.container.registration()

    def notifications(self) -> NotificationDeps:
        return self.container.notifications()

    def notification_queries(self) -> NotificationQueryDeps:
        return self.container.notification_queries()

    def sweep(self) -> SweepDeps:
        return self.container.sweep()

    def delivery(self) -> DeliveryDeps:
        return self.container.delivery()

    def client_accounts(self) -> ClientAccountDeps:
        return self.container.client_accounts()

    def clients(self) -> ClientDeps:
        return self.container.clients()

    def managers(self) -> ManagerDeps:
        return self.container.managers()

    def partners(self) -> PartnerDeps:
        return self.container.partners()

    def audit(self) -> AuditDeps:
        return self.container.audit()

    def reference(self) -> ReferenceDeps:
        return self.container.reference()

    def promo(self, policy: PromoPolicy = DEFAULT_PROMO_POLICY) -> PromoDeps:
        """Each registration alone (the library's default); see :meth:`promo_together`."""
        return attrs.evolve(self.container.promo(), policy=policy, sign_ups=None)

    def promo_together(self, policy: PromoPolicy = DEFAULT_PROMO_POLICY, *, max_batch: int = 100) -> PromoDeps:
        """As the partner API runs them: registrations arriving together are written together."""
        deps = self.promo(policy)
        return attrs.evolve(deps, sign_ups=PromoSignUps(deps, max_batch=max_batch))


@pytest.fixture
async def world() -> World:
    """Fakes with the shipped reference data and a working SMS channel."""
    world = World()
    await install_default_reference_data(InstallDefaultReferenceData(), world.reference())
    world.channels.channels["sms"] = ScriptedChannel()
    return world


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Tests that run ``barbershop`` in-process configure the root logger with a handler on
    pytest's captured stderr; put the root logger back so a later test never logs into a
    closed capture file."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
