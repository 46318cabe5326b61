"""``UnitOfWork`` on one connection and one transaction per ``async with``."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import psycopg
from sqlalchemy import Executable
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from barbershop_adapters.sqlalchemy.direct_statements import direct_statements, watched
from barbershop_adapters.sqlalchemy.engine import PerEngine
from barbershop_adapters.sqlalchemy.errors import translate_psycopg, translated
from barbershop_adapters.sqlalchemy.promo_batches import SqlPromoBatchRepository
from barbershop_adapters.sqlalchemy.psycopg_sessions import SessionConnections, StaleConnection
from barbershop_adapters.sqlalchemy.registrations import SqlRegistrationRepository
from barbershop_adapters.sqlalchemy.repositories import (
    SqlAuditLog,
    SqlClientRepository,
    SqlConsentRepository,
    SqlIdempotencyRepository,
    SqlManagerRepository,
    SqlNotificationRepository,
    SqlPartnerRepository,
    SqlPersonRepository,
    SqlProviderReportRepository,
    SqlPurchaseRepository,
    SqlReferenceDataRepository,
    Statements,
    route_copies,
)
from barbershop_core.model import AuditEvent, ClientNotification
from barbershop_core.ports import (
    AuditLog,
    ClientRepository,
    ConsentRepository,
    IdempotencyRepository,
    ManagerRepository,
    NotificationQueue,
    NotificationRepository,
    PartnerRepository,
    PersonRepository,
    PromoBatchRepository,
    ProviderReportRepository,
    PurchaseRepository,
    QueueUnavailable,
    ReferenceDataRepository,
    RegistrationRepository,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from barbershop_core.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork:
    """Implements ``UnitOfWork``.

    The first statement checks a connection out of the engine's pool (:meth:`connect`);
    the transaction begins with it (on SQLite with ``BEGIN IMMEDIATE``, see
    :mod:`barbershop_adapters.sqlalchemy.engine`). :meth:`commit` writes the notifications'
    saved rows, their new history and attempts and the recorded audit events (on
    PostgreSQL in one statement, elsewhere one per table), makes the work durable, and
    then hands the notifications that became due to ``queue``. The unit
    stays usable: the next statement begins a new transaction. Leaving rolls back
    whatever was not committed and returns the connection, also when the task is
    cancelled or the connection is already dead.

    ``autocommit``: PostgreSQL connections in autocommit (:mod:`.psycopg_sessions`,
    configured as the engine's by :func:`.engine.configure_lone_writes`). A write that may
    stand alone (a registration's one statement, committed right after it) runs on one of
    them when the unit of work has no connection yet: it then never checks one out of the
    engine's pool, nor begins, commits and returns it through SQLAlchemy — ~0.4–0.6 ms of
    the loop's CPU a registration (``docs/performance.md``).
    """

    def __init__(
        self, engine: AsyncEngine, queue: NotificationQueue | None = None, autocommit: SessionConnections | None = None
    ) -> None:
        self._engine = engine
        self._writer: asyncio.Lock | None = None
        self._queue = queue
        self._open = False
        self._connection: AsyncConnection | None = None
        self._recorded: list[AuditEvent] = []
        self._seen: list[ClientNotification] = []
        self._direct = direct_statements(engine)
        self._autocommit = autocommit if engine.dialect.name == "postgresql" else None
        statements = Statements(
            self.connect,
            engine.dialect.name,
            self._direct,
            alone=self._in_autocommit if self._autocommit is not None else None,
        )
        clients = SqlClientRepository(statements)
        consents = SqlConsentRepository(statements)
        self._notifications = SqlNotificationRepository(statements, self._seen.append)
        self.persons: PersonRepository = SqlPersonRepository(statements)
        self.clients: ClientRepository = clients
        self.consents: ConsentRepository = consents
        self.notifications: NotificationRepository = self._notifications
        reference = self._reference = SqlReferenceDataRepository(statements, route_copies(engine))
        self.registrations: RegistrationRepository = SqlRegistrationRepository(
            statements, clients, consents, self._notifications, reference, self
        )
        self._audit = SqlAuditLog(statements)
        self.audit: AuditLog = self._audit
        self.reference: ReferenceDataRepository = reference
        self.managers: ManagerRepository = SqlManagerRepository(statements)
        self.partners: PartnerRepository = SqlPartnerRepository(statements)
        self.purchases: PurchaseRepository = SqlPurchaseRepository(statements)
        self.idempotency: IdempotencyRepository = SqlIdempotencyRepository(statements)
        self.provider_reports: ProviderReportRepository = SqlProviderReportRepository(statements)
        self.promo: PromoBatchRepository = SqlPromoBatchRepository(statements)

    @property
    def connection(self) -> AsyncConnection:
        """The connection checked out by the open unit of work's statements so far."""
        if self._connection is None:
            raise RuntimeError("the unit of work has no connection: outside its block, or before its first statement")
        return self._connection

    async def connect(self) -> AsyncConnection:
        """The connection of the open unit of work, checked out at the first call (for
        its statements, and adapters and tests that need it)."""
        self._require_open()
        if self._connection is None:
            self._connection = await translated(self._engine.connect())
        return self._connection

    def _require_open(self) -> None:
        if not self._open:
            raise RuntimeError("the unit of work is used outside its `async with` block")

    async def __aenter__(self) -> Self:
        if self._open:
            raise RuntimeError("the unit of work is already open")
        self._writer = _sqlite_writer(self._engine)
        if self._writer is not None:
            await self._writer.acquire()
        self._open = True
        return self

    async def _in_autocommit(self, statement: Executable, parameters: dict[str, Any]) -> Result[Any] | None:
        """``statement`` as a transaction of its own on an autocommit connection, when the
        unit of work has none checked out (nothing of it is open) and nobody watches the
        engine's statements; else None."""
        self._require_open()
        if self._connection is not None or self._autocommit is None or watched(self._engine):
            return None
        ready = self._direct.for_autocommit(self._engine.dialect, statement, parameters)
        if ready is None:
            return None
        try:
            async with self._autocommit.connection() as connection:
                return await self._direct.run_in_autocommit(connection, ready)
        except StaleConnection as stale:
            # A write is not sent again: whether it ran is not known (A3, as on the pool's).
            fault = translate_psycopg(stale.fault)
        except (psycopg.Error, OSError) as error:
            fault = translate_psycopg(error)
        # Raised outside the ``except`` block: psycopg's text may quote a raw phone.
        raise fault

    def _release_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        self._open = False
        self._forget()
        try:
            if connection is not None:
                # Shielded: a cancelled request must still give its connection back clean.
                await asyncio.shield(_release(connection))
        except StorageUnavailable as failure:
            if exc is None:
                raise
            # The block's own error is the one worth reporting; this one only follows from it.
            log.warning("rollback after a failed unit of work did not complete: %s", failure)
        finally:
            self._release_writer()

    @property
    def records_nothing(self) -> bool:
        return not self._recorded

    def record(self, *events: AuditEvent) -> None:
        self._recorded.extend(events)

    async def commit(self) -> None:
        self._require_open()
        await self._notifications.flush(audit=self._recorded)
        if self._connection is not None:
            await translated(self._connection.commit())
        self._reference.settle()
        self._recorded.clear()
        due = [notification for notification in self._seen if notification.due_now]
        self._seen.clear()
        for notification in due:
            notification.due_now = False
        await _hand_off(self._queue, due)

    async def rollback(self) -> None:
        self._require_open()
        self._forget()
        if self._connection is not None:
            await translated(self._connection.rollback())

    def _forget(self) -> None:
        self._reference.settle()
        self._recorded.clear()
        self._seen.clear()
        self._notifications.forget()


_SQLITE_WRITERS: Final = PerEngine(asyncio.Lock)


def _sqlite_writer(engine: AsyncEngine) -> asyncio.Lock | None:
    """On SQLite, units of work of one process take turns on an asyncio lock.

    Every SQLite transaction starts with BEGIN IMMEDIATE (one writer at a time); without
    this lock the waiting ones poll in SQLite's busy handler, sleeping up to 100 ms between
    tries while the database is free — the embedded default's long tail. Waiting on the
    lock, the next unit of work starts the moment the last one ends.
    """
    return _SQLITE_WRITERS(engine) if engine.dialect.name == "sqlite" else None


async def _hand_off(queue: NotificationQueue | None, due: list[ClientNotification]) -> None:
    """After the commit: give due notifications to the workers; the sweep covers a failure."""
    if queue is None:
        return
    for notification in due:
        try:
            await queue.enqueue(notification.id)
        except QueueUnavailable:
            log.warning("queue unavailable; notification %s is left for the sweep", notification.id)


async def _release(connection: AsyncConnection) -> None:
    try:
        await translated(connection.rollback())
    finally:
        await translated(connection.close())


class SqlAlchemyUnitOfWorkFactory:
    """A ``UnitOfWorkFactory``: each call gives a new unit of work on ``engine`` that hands
    due notifications to ``queue`` after it commits."""

    def __init__(
        self, engine: AsyncEngine, queue: NotificationQueue | None = None, autocommit: SessionConnections | None = None
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.autocommit = autocommit

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, self.queue, self.autocommit)


if TYPE_CHECKING:

    def _implements_the_ports(engine: AsyncEngine) -> tuple[UnitOfWork, UnitOfWorkFactory]:
        return SqlAlchemyUnitOfWork(engine), SqlAlchemyUnitOfWorkFactory(engine)
