"""The one composition root: builds every adapter from :class:`Settings` and hands out the
dependency bundles the use cases take. The HTTP app, the worker, the scheduler and the
CLI all start here; nothing is built at import time.
"""

from __future__ import annotations

import attrs
import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import AsyncBroker, InMemoryBroker

from barbershop_adapters.aesgcm_secret_box import AesGcmSecretBox
from barbershop_adapters.argon2_hasher import Argon2Hasher, Argon2Parameters
from barbershop_adapters.channels.directory import StaticChannelDirectory
from barbershop_adapters.hmac_key_digester import HmacKeyDigester
from barbershop_adapters.key_derivation import derive_key
from barbershop_adapters.password_generator import SecretsPasswordGenerator
from barbershop_adapters.redis_attempt_counter import RedisAttemptCounter
from barbershop_adapters.sqlalchemy.attempt_counter import SqlAttemptCounter
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_adapters.system_clock import SystemClock
from barbershop_adapters.taskiq_queue import TaskiqNotificationQueue
from barbershop_core.ports import (
    AttemptCounter,
    Clock,
    KeyDigester,
    NotificationQueue,
    PasswordGenerator,
    SecretBox,
    SessionReader,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases.client_accounts import ClientAccountDeps
from barbershop_core.use_cases.delivery import DeliveryDeps
from barbershop_core.use_cases.delivery_reports import ReportDeps
from barbershop_core.use_cases.fallback import FallbackDeps
from barbershop_core.use_cases.notification_commands import NotificationDeps
from barbershop_core.use_cases.notification_queries import NotificationQueryDeps, SweepDeps
from barbershop_core.use_cases.promo import PromoDeps
from barbershop_core.use_cases.registration import RegistrationDeps
from barbershop_entrypoints.attempt_counting import RedisFirstAttemptCounter
from barbershop_entrypoints.channels import build_channels
from barbershop_entrypoints.settings import Settings
from barbershop_entrypoints.tasks import SEND_NOTIFICATION, build_broker, register_send_task

CALLBACK_KEY_PURPOSE = "callbacks"
TOKEN_KEY_PURPOSE = "tokens"  # noqa: S105 -- a key ring purpose, not a secret
"""The key ring purpose the JWT keys of every session use derive from."""


def channel_callback_secret(callback_key: bytes, channel: str) -> bytes:
    """The key a channel's provider signs delivery callbacks with."""
    return derive_key(callback_key, f"callback:{channel}")


@attrs.define
class Container:
    settings: Settings
    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory
    sessions: SessionReader
    """Whom a token names, in one statement outside any unit of work (every authenticated request)."""
    clock: Clock
    hasher: Argon2Hasher
    passwords: PasswordGenerator
    secret_box: SecretBox
    digester: KeyDigester
    http_client: httpx.AsyncClient
    channels: StaticChannelDirectory
    broker: AsyncBroker
    queue: NotificationQueue
    attempts: AttemptCounter
    """Brute-force counts shared by every process: Redis with a broker, the database otherwise."""
    redis: Redis | None
    token_key: bytes
    """The JWT keys of manager and client tokens and page sessions derive from it, and the pages' CSRF key."""
    callback_key: bytes
    """Master key of delivery-callback signatures; each channel's secret derives from it."""

    def registration(self) -> RegistrationDeps:
        return RegistrationDeps(
            uow_factory=self.uow_factory,
            hasher=self.hasher,
            passwords=self.passwords,
            secret_box=self.secret_box,
            clock=self.clock,
            policy=self.settings.registration_policy(),
            channels=self.channels,
        )

    def notifications(self) -> NotificationDeps:
        return self.registration()

    def notification_queries(self) -> NotificationQueryDeps:
        return NotificationQueryDeps(uow_factory=self.uow_factory)

    def sweep(self) -> SweepDeps:
        return SweepDeps(uow_factory=self.uow_factory, clock=self.clock)

    def delivery(self) -> DeliveryDeps:
        return delivery_deps(self.uow_factory, self.channels, self.secret_box, self.clock, self.settings)

    def fallback(self) -> FallbackDeps | None:
        """The fallback step's deps; None without a chain (``BARBERSHOP_FALLBACK_CHANNELS``)."""
        return fallback_deps(self.registration(), self.channels)

    def reports(self) -> ReportDeps:
        return ReportDeps(uow_factory=self.uow_factory, clock=self.clock, fallback=self.fallback())

    def client_accounts(self) -> ClientAccountDeps:
        return ClientAccountDeps(
            uow_factory=self.uow_factory,
            hasher=self.hasher,
            clock=self.clock,
            attempts=self.attempts,
            digester=self.digester,
            policy=self.settings.registration_policy(),
        )

    def promo(self) -> PromoDeps:
        return PromoDeps(uow_factory=self.uow_factory, clock=self.clock, policy=self.settings.promo_policy())

    def callback_secret(self, channel: str) -> bytes:
        return channel_callback_secret(self.callback_key, channel)

    async def aclose(self) -> None:
        if isinstance(self.broker, InMemoryBroker):
            # In-process sends finish before the database they write to goes away.
            await self.broker.wait_all()
        await self.broker.shutdown()
        await self.http_client.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
        self.hasher.close()


def delivery_deps(
    uow_factory: UnitOfWorkFactory,
    channels: StaticChannelDirectory,
    secret_box: SecretBox,
    clock: Clock,
    settings: Settings,
) -> DeliveryDeps:
    return DeliveryDeps(
        uow_factory=uow_factory,
        channels=channels,
        secret_box=secret_box,
        clock=clock,
        retry=settings.retry_policy(),
        fallback_chain=settings.registration.fallback_channels,
        sign_in_url=settings.sign_in_url,
    )


def fallback_deps(notifications: NotificationDeps, channels: StaticChannelDirectory) -> FallbackDeps | None:
    if not notifications.policy.fallback_channels:
        return None
    return FallbackDeps(notifications=notifications, channels=channels)


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Build every adapter. Call :meth:`Container.aclose` when done; start the broker yourself."""
    keys = settings.key_ring()
    engine = create_engine(
        DatabaseSettings(
            url=settings.effective_database_url,
            pool_size=settings.database.pool_size,
            max_overflow=settings.database.max_overflow,
            echo=settings.database.echo,
        )
    )
    broker = build_broker(settings)
    queue = TaskiqNotificationQueue(broker, SEND_NOTIFICATION)
    uow_factory = SqlAlchemyUnitOfWorkFactory(engine, queue)
    clock = clock or SystemClock()
    secret_box = AesGcmSecretBox(keys.key("secret-box"))
    http_client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
    channels = build_channels(settings, http_client)
    hasher = Argon2Hasher(
        Argon2Parameters(
            time_cost=settings.security.argon2_time_cost,
            memory_cost_kib=settings.security.argon2_memory_kib,
            parallelism=settings.security.argon2_parallelism,
        ),
        max_threads=settings.security.hash_threads,
    )
    passwords = SecretsPasswordGenerator()
    notifications = RegistrationDeps(
        uow_factory=uow_factory,
        hasher=hasher,
        passwords=passwords,
        secret_box=secret_box,
        clock=clock,
        policy=settings.registration_policy(),
        channels=channels,
    )
    register_send_task(
        broker,
        delivery_deps(uow_factory, channels, secret_box, clock, settings),
        fallback_deps(notifications, channels),
    )
    redis = (
        Redis.from_url(settings.queue.broker_url, socket_connect_timeout=2, socket_timeout=5)
        if settings.queue.broker_url
        else None
    )
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=uow_factory,
        sessions=SqlSessionReader(engine),
        clock=clock,
        hasher=hasher,
        passwords=passwords,
        secret_box=secret_box,
        digester=HmacKeyDigester(keys.key("partner-keys")),
        http_client=http_client,
        channels=channels,
        broker=broker,
        queue=queue,
        attempts=(
            RedisFirstAttemptCounter(RedisAttemptCounter(redis), SqlAttemptCounter(engine))
            if redis is not None
            else SqlAttemptCounter(engine)
        ),
        redis=redis,
        token_key=keys.key(TOKEN_KEY_PURPOSE),
        callback_key=keys.key(CALLBACK_KEY_PURPOSE),
    )
