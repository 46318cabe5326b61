"""``UnitOfWork`` on one connection and one transaction per ``async with``."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.repositories import (
    SqlAuditLog,
    SqlClientRepository,
    SqlConsentRepository,
    SqlIdempotencyRepository,
    SqlManagerRepository,
    SqlNotificationRepository,
    SqlPartnerRepository,
    SqlPersonRepository,
    SqlPurchaseRepository,
    SqlReferenceDataRepository,
    Statements,
)
from barbershop_core.ports import (
    AuditLog,
    ClientRepository,
    ConsentRepository,
    IdempotencyRepository,
    ManagerRepository,
    NotificationRepository,
    PartnerRepository,
    PersonRepository,
    PurchaseRepository,
    ReferenceDataRepository,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from barbershop_core.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork:
    """Implements ``UnitOfWork``.

    Entering checks a connection out of the engine's pool; the transaction begins with
    the first statement (on SQLite with ``BEGIN IMMEDIATE``, see
    :mod:`adapters.sqlalchemy.engine`). :meth:`commit` makes the work durable and the
    unit stays usable: the next statement begins a new transaction. Leaving rolls back
    whatever was not committed and returns the connection, also when the task is
    cancelled or the connection is already dead.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        statements = Statements(lambda: self.connection)
        self.persons: PersonRepository = SqlPersonRepository(statements)
        self.clients: ClientRepository = SqlClientRepository(statements)
        self.consents: ConsentRepository = SqlConsentRepository(statements)
        self.notifications: NotificationRepository = SqlNotificationRepository(statements)
        self.audit: AuditLog = SqlAuditLog(statements)
        self.reference: ReferenceDataRepository = SqlReferenceDataRepository(statements)
        self.managers: ManagerRepository = SqlManagerRepository(statements)
        self.partners: PartnerRepository = SqlPartnerRepository(statements)
        self.purchases: PurchaseRepository = SqlPurchaseRepository(statements)
        self.idempotency: IdempotencyRepository = SqlIdempotencyRepository(statements)

    @property
    def connection(self) -> AsyncConnection:
        """The connection of the open unit of work (for adapters and tests that need it)."""
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._connection

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("the unit of work is already open")
        self._connection = await translated(self._engine.connect())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # Shielded: a cancelled request must still give its connection back clean.
            await asyncio.shield(_release(connection))
        except StorageUnavailable as failure:
            if exc is None:
                raise
            # The block's own error is the one worth reporting; this one only follows from it.
            log.warning("rollback after a failed unit of work did not complete: %s", failure)

    async def commit(self) -> None:
        await translated(self.connection.commit())

    async def rollback(self) -> None:
        await translated(self.connection.rollback())


async def _release(connection: AsyncConnection) -> None:
    try:
        await translated(connection.rollback())
    finally:
        await translated(connection.close())


class SqlAlchemyUnitOfWorkFactory:
    """A ``UnitOfWorkFactory``: each call gives a new unit of work on ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine)


if TYPE_CHECKING:

    def _implements_the_ports(engine: AsyncEngine) -> tuple[UnitOfWork, UnitOfWorkFactory]:
        return SqlAlchemyUnitOfWork(engine), SqlAlchemyUnitOfWorkFactory(engine)
