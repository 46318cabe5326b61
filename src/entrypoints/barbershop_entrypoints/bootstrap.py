"""The one composition root: builds every adapter from :class:`Settings` and hands out the
dependency bundles the use cases take. The HTTP app, the worker, the scheduler, the CLI and
the tests all start here (the tests pass their fakes as overrides); nothing is built at import time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypedDict, Unpack

import attrs
import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import AsyncBroker, InMemoryBroker

from barbershop_adapters.aesgcm_secret_box import AesGcmSecretBox
from barbershop_adapters.argon2_hasher import Argon2Hasher, Argon2Parameters
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.hmac_key_digester import HmacKeyDigester
from barbershop_adapters.key_derivation import derive_key
from barbershop_adapters.password_generator import SecretsPasswordGenerator
from barbershop_adapters.redis_attempt_counter import RedisAttemptCounter
from barbershop_adapters.sqlalchemy.attempt_counter import SqlAttemptCounter
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, configure_lone_writes, create_engine
from barbershop_adapters.sqlalchemy.psycopg_sessions import PsycopgSessionReader, SessionConnections
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_adapters.system_clock import SystemClock
from barbershop_adapters.taskiq_queue import TaskiqNotificationQueue
from barbershop_core.policies import PromoPolicy, RegistrationPolicy, RetryPolicy
from barbershop_core.ports import (
    AttemptCounter,
    Clock,
    KeyDigester,
    NotificationQueue,
    PasswordGenerator,
    PasswordHasher,
    SecretBox,
    SessionReader,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases.accounts import ManagerDeps, PartnerDeps
from barbershop_core.use_cases.audit_trail import AuditDeps
from barbershop_core.use_cases.client_accounts import ClientAccountDeps
from barbershop_core.use_cases.clients import ClientDeps
from barbershop_core.use_cases.delivery import DeliveryDeps
from barbershop_core.use_cases.delivery_reports import ReportDeps
from barbershop_core.use_cases.fallback import FallbackDeps
from barbershop_core.use_cases.notification_commands import NotificationDeps
from barbershop_core.use_cases.notification_queries import NotificationQueryDeps, SweepDeps
from barbershop_core.use_cases.promo import PromoDeps, PromoSignUps
from barbershop_core.use_cases.reference_data import ReferenceDeps
from barbershop_core.use_cases.registration import RegistrationDeps
from barbershop_core.use_cases.sessions import SessionDeps
from barbershop_entrypoints.attempt_counting import RedisFirstAttemptCounter
from barbershop_entrypoints.channels import ListedChannelDirectory, build_channels
from barbershop_entrypoints.settings import Settings
from barbershop_entrypoints.tasks import SEND_NOTIFICATION, build_broker, register_send_task

CALLBACK_KEY_PURPOSE = "callbacks"
TOKEN_KEY_PURPOSE = "tokens"  # noqa: S105 -- a key ring purpose, not a secret
"""The key ring purpose the JWT keys of every session use derive from."""


def channel_callback_secret(callback_key: bytes, channel: str) -> bytes:
    """The key a channel's provider signs delivery callbacks with."""
    return derive_key(callback_key, f"callback:{channel}")


class Overrides(TypedDict, total=False):
    """What :func:`build_container` takes instead of building it: ports by name, and the
    policies read from settings. What is given here is not built, and not closed."""

    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    passwords: PasswordGenerator
    secret_box: SecretBox
    digester: KeyDigester
    http_client: httpx.AsyncClient
    """The reference-data source's client; the providers' sends have their own (built with the channels)."""
    channels: ListedChannelDirectory
    broker: AsyncBroker
    queue: NotificationQueue
    attempts: AttemptCounter
    sessions: SessionReader
    policy: RegistrationPolicy
    retry: RetryPolicy
    promo_policy: PromoPolicy


@attrs.define
class Container:
    """Every port of the installation, and the dependency bundles built from them.

    The bundles are the only way the use cases get their ports: entrypoints ask for the
    bundle a use case takes (``container.managers()``, or a Litestar dependency named after
    it, see :mod:`barbershop_entrypoints.http.deps`).
    """

    settings: Settings
    uow_factory: UnitOfWorkFactory
    clock: Clock
    hasher: PasswordHasher
    passwords: PasswordGenerator
    secret_box: SecretBox
    digester: KeyDigester
    channels: ListedChannelDirectory
    broker: AsyncBroker
    queue: NotificationQueue
    attempts: AttemptCounter
    """Brute-force counts shared by every process: Redis with a broker, the database otherwise."""
    sessions: SessionReader
    """Whom a token names, in one statement outside any unit of work (every authenticated request)."""
    policy: RegistrationPolicy
    retry: RetryPolicy
    promo_policy: PromoPolicy
    redis: Redis | None
    token_key: bytes
    """The JWT keys of manager and client tokens and page sessions derive from it, and the pages' CSRF key."""
    callback_key: bytes
    """Master key of delivery-callback signatures; each channel's secret derives from it."""
    _engine: AsyncEngine | None = attrs.field(default=None, alias="engine")
    _http_client: httpx.AsyncClient | None = attrs.field(default=None, alias="http_client")
    _closers: list[Callable[[], Awaitable[None]]] = attrs.field(factory=list, alias="closers")
    """What this container built and must close, in closing order."""
    _promo_sign_ups: PromoSignUps | None = attrs.field(default=None, init=False)
    """The process's partner registrations arriving together (built at the first)."""

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (health, metrics, migrations); absent when the store was overridden."""
        if self._engine is None:
            raise RuntimeError("this container has no database engine: its unit of work was overridden")
        return self._engine

    @engine.setter
    def engine(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def http_client(self) -> httpx.AsyncClient:
        """The outbound HTTP client of a reference-data URL, built on first use (the
        providers' sends have their own, :class:`ProviderClient`)."""
        if self._http_client is None:
            self._http_client = _new_http_client()
            self._closers.insert(0, self._http_client.aclose)
        return self._http_client

    # --- dependency bundles: one method per bundle a use case takes -------------------------

    def registration(self) -> RegistrationDeps:
        return RegistrationDeps(
            uow_factory=self.uow_factory,
            hasher=self.hasher,
            passwords=self.passwords,
            secret_box=self.secret_box,
            clock=self.clock,
            policy=self.policy,
            channels=self.channels,
        )

    def clients(self) -> ClientDeps:
        return ClientDeps(
            uow_factory=self.uow_factory,
            clock=self.clock,
            policy=self.policy,
            attempts=self.attempts,
            digester=self.digester,
        )

    def client_accounts(self) -> ClientAccountDeps:
        return ClientAccountDeps(
            uow_factory=self.uow_factory,
            hasher=self.hasher,
            clock=self.clock,
            attempts=self.attempts,
            digester=self.digester,
            policy=self.policy,
        )

    def managers(self) -> ManagerDeps:
        return ManagerDeps(uow_factory=self.uow_factory, hasher=self.hasher, passwords=self.passwords, clock=self.clock)

    def partners(self) -> PartnerDeps:
        return PartnerDeps(
            uow_factory=self.uow_factory, digester=self.digester, clock=self.clock, sessions=self.sessions
        )

    def promo(self) -> PromoDeps:
        deps = PromoDeps(uow_factory=self.uow_factory, clock=self.clock, policy=self.promo_policy)
        if self._promo_sign_ups is None or self._promo_sign_ups.deps != deps:  # a port swapped in: new sign-ups
            self._promo_sign_ups = PromoSignUps(deps)
        return attrs.evolve(deps, sign_ups=self._promo_sign_ups)

    def session_deps(self) -> SessionDeps:
        return SessionDeps(sessions=self.sessions)

    def audit(self) -> AuditDeps:
        return AuditDeps(uow_factory=self.uow_factory, clock=self.clock)

    def reference(self) -> ReferenceDeps:
        return ReferenceDeps(uow_factory=self.uow_factory, clock=self.clock)

    # --- notifications: manager commands, the worker's send, fallback, provider reports ----

    def notifications(self) -> NotificationDeps:
        return self.registration()

    def notification_queries(self) -> NotificationQueryDeps:
        return NotificationQueryDeps(uow_factory=self.uow_factory)

    def sweep(self) -> SweepDeps:
        return SweepDeps(uow_factory=self.uow_factory, clock=self.clock)

    def delivery(self) -> DeliveryDeps:
        return DeliveryDeps(
            uow_factory=self.uow_factory,
            channels=self.channels,
            secret_box=self.secret_box,
            clock=self.clock,
            retry=self.retry,
            fallback_chain=self.policy.fallback_channels,
            sign_in_url=self.settings.sign_in_url,
        )

    def fallback(self) -> FallbackDeps | None:
        """The fallback step's deps; None without a chain (``BARBERSHOP_FALLBACK_CHANNELS``)."""
        if not self.policy.fallback_channels:
            return None
        return FallbackDeps(notifications=self.notifications(), channels=self.channels)

    def reports(self) -> ReportDeps:
        return ReportDeps(uow_factory=self.uow_factory, clock=self.clock, fallback=self.fallback())

    # --- end of the bundles ---------------------------------------------------------------

    def callback_secret(self, channel: str) -> bytes:
        return channel_callback_secret(self.callback_key, channel)

    async def aclose(self) -> None:
        """Close what :func:`build_container` built (not what it was given)."""
        for close in self._closers:
            await close()
        self._closers.clear()


def _new_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))


def build_container(settings: Settings, **overrides: Unpack[Overrides]) -> Container:
    """Build every adapter that ``overrides`` does not name. Call :meth:`Container.aclose` when
    done; start the broker yourself."""
    keys = settings.key_ring()
    closers: dict[str, Callable[[], Awaitable[None]]] = {}
    engine = overrides.get("engine")
    if engine is None and not all(name in overrides for name in ("uow_factory", "attempts", "sessions")):
        engine = create_engine(
            DatabaseSettings(
                url=settings.effective_database_url,
                pool_size=settings.database.pool_size,
                max_overflow=settings.database.max_overflow,
                echo=settings.database.echo,
            )
        )
        closers["engine"] = engine.dispose
    broker = overrides.get("broker")
    if broker is None:
        broker = build_broker(settings)
        closers["broker"] = functools.partial(_shut_down, broker)
    queue = overrides.get("queue") or TaskiqNotificationQueue(broker, SEND_NOTIFICATION)
    uow_factory = overrides.get("uow_factory")
    if uow_factory is None:
        assert engine is not None  # built above unless both the store and the counter were given
        uow_factory = _units_of_work(engine, queue, closers)
    http_client = overrides.get("http_client")
    channels = overrides.get("channels")
    if channels is None:
        provider_client = ProviderClient()
        closers["provider_client"] = provider_client.aclose
        channels = build_channels(settings, provider_client)
    hasher = overrides.get("hasher")
    if hasher is None:
        argon2 = Argon2Hasher(
            Argon2Parameters(
                time_cost=settings.security.argon2_time_cost,
                memory_cost_kib=settings.security.argon2_memory_kib,
                parallelism=settings.security.argon2_parallelism,
            ),
            max_threads=settings.security.hash_threads,
        )
        closers["hasher"] = functools.partial(_close_hasher, argon2)
        hasher = argon2
    attempts = overrides.get("attempts")
    redis = None
    if attempts is None:
        assert engine is not None  # built above unless both the store and the counter were given
        redis = (
            Redis.from_url(settings.queue.broker_url, socket_connect_timeout=2, socket_timeout=5)
            if settings.queue.broker_url
            else None
        )
        if redis is not None:
            closers["redis"] = redis.aclose
        attempts = (
            RedisFirstAttemptCounter(RedisAttemptCounter(redis), SqlAttemptCounter(engine))
            if redis is not None
            else SqlAttemptCounter(engine)
        )
    sessions = overrides.get("sessions")
    if sessions is None:
        assert engine is not None  # built above unless the store, the counter and the sessions were given
        if engine.dialect.name == "postgresql":
            reader = PsycopgSessionReader(SessionConnections(engine.url))
            closers["sessions"] = reader.aclose
            sessions = reader
        else:
            kept = SqlSessionReader(engine, keep_connections=True)
            closers["sessions"] = kept.aclose
            sessions = kept
    container = Container(
        settings=settings,
        uow_factory=uow_factory,
        sessions=sessions,
        clock=overrides.get("clock") or SystemClock(),
        hasher=hasher,
        passwords=overrides.get("passwords") or SecretsPasswordGenerator(),
        secret_box=overrides.get("secret_box") or AesGcmSecretBox(keys.key("secret-box")),
        digester=overrides.get("digester") or HmacKeyDigester(keys.key("partner-keys")),
        channels=channels,
        broker=broker,
        queue=queue,
        attempts=attempts,
        policy=overrides.get("policy") or settings.registration_policy(),
        retry=overrides.get("retry") or settings.retry_policy(),
        promo_policy=overrides.get("promo_policy") or settings.promo_policy(),
        redis=redis,
        token_key=keys.key(TOKEN_KEY_PURPOSE),
        callback_key=keys.key(CALLBACK_KEY_PURPOSE),
        engine=engine,
        http_client=http_client,
        # In-process sends finish before the database they write to goes away.
        closers=[closers[name] for name in CLOSING_ORDER if name in closers],
    )
    register_send_task(broker, container.delivery(), container.fallback())
    return container


def _units_of_work(
    engine: AsyncEngine, queue: NotificationQueue, closers: dict[str, Callable[[], Awaitable[None]]]
) -> SqlAlchemyUnitOfWorkFactory:
    lone_writes = None
    if engine.dialect.name == "postgresql":
        # A registration's one statement, on connections of its own in autocommit: it
        # checks nothing out of the engine's pool (opened on the first registration).
        lone_writes = SessionConnections(engine.url, configure=configure_lone_writes)
        closers["lone_writes"] = lone_writes.aclose
    return SqlAlchemyUnitOfWorkFactory(engine, queue, lone_writes)


CLOSING_ORDER: Final = ("broker", "provider_client", "redis", "sessions", "lone_writes", "engine", "hasher")


log = logging.getLogger("barbershop.bootstrap")
HAND_OFF_ROUNDS: Final = 8
"""How many generations of in-process sends shutting down waits for (see :func:`_shut_down`)."""


async def _shut_down(broker: AsyncBroker) -> None:
    if isinstance(broker, InMemoryBroker):
        # ``wait_all`` waits for the sends running when it is called. A send that fails for
        # good hands its fallback to the queue as it finishes, a send that then starts: each
        # round waits for what the round before handed off (a fallback chain is shorter than
        # the channels there are), so none is cut off mid-call by the loop's end.
        for _ in range(HAND_OFF_ROUNDS):
            try:
                await broker.wait_all()
            except Exception:  # one send's failure outside its own handling: still wait for the others
                log.exception("a send failed while the server was stopping")
    await broker.shutdown()


async def _close_hasher(hasher: Argon2Hasher) -> None:
    hasher.close()
