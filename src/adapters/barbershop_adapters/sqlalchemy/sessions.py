"""``SessionReader`` on SQLAlchemy: the per-request session check in one statement, no transaction.

The container uses it on SQLite; on PostgreSQL it uses :mod:`.psycopg_sessions`, the same
reads at a third of the CPU. This one works on both (the budget tests count its statements
on each).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from barbershop_adapters.sqlalchemy.direct_statements import direct_statements
from barbershop_adapters.sqlalchemy.engine import SINGLE_STATEMENT
from barbershop_adapters.sqlalchemy.errors import translated
from barbershop_adapters.sqlalchemy.repositories import (
    SqlClientRepository,
    SqlManagerRepository,
    SqlPartnerRepository,
    Statements,
)
from barbershop_core.model import Client, Manager, Partner, Person

KEPT_CONNECTIONS: Final = 4
"""SQLite connections a reader keeps checked out for its reads (see :class:`SqlSessionReader`),
at most a quarter of the engine's pool."""


class SqlSessionReader:
    """Implements ``SessionReader``: each read is one SELECT on a pooled connection, no transaction.

    On PostgreSQL the connection is in autocommit: psycopg sends no BEGIN, and at the
    connection's return no ROLLBACK (it skips one when no transaction is open), so one round
    trip instead of three. On SQLite the engine begins no transaction for it
    (:data:`~.engine.SINGLE_STATEMENT`): no write lock is taken, in the process or in the file,
    and WAL lets the read run beside a writer.

    ``keep_connections`` (SQLite only; the composition root's embedded default): the reader
    keeps up to :data:`KEPT_CONNECTIONS` of them checked out, already set up, between reads —
    the checkout, the options and the return to the pool cost ~120 µs of the loop's CPU per
    authenticated request, four times the read. It keeps at most a quarter of the pool's size
    (none of a pool under four, or of one without a size), so the units of work are never left
    waiting for connections the reader holds. There is no server to drop them; a connection
    that failed is not kept. Whoever asks for it must call :meth:`aclose`, which returns them
    to the pool.
    """

    def __init__(self, engine: AsyncEngine, *, keep_connections: bool = False) -> None:
        self._engine = engine
        size = getattr(engine.sync_engine.pool, "size", None)
        quarter = size() // 4 if callable(size) else 0
        self._kept = min(KEPT_CONNECTIONS, quarter) if keep_connections and engine.dialect.name == "sqlite" else 0
        self._idle: list[AsyncConnection] = []

    async def manager(self, manager_id: int) -> Manager | None:
        async with self._statements() as statements:
            return await SqlManagerRepository(statements).get(manager_id)

    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        async with self._statements() as statements:
            return await SqlClientRepository(statements).get_with_person(client_id)

    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        async with self._statements() as statements:
            return await SqlPartnerRepository(statements).get_by_key_digest(key_digest)

    async def aclose(self) -> None:
        """Give the kept connections back to the pool; later reads check one out each."""
        self._kept = 0
        idle, self._idle = self._idle, []
        for connection in idle:
            await asyncio.shield(translated(connection.close()))

    @asynccontextmanager
    async def _statements(self) -> AsyncIterator[Statements]:
        connection = self._idle.pop() if self._idle else await self._connect()
        try:
            yield Statements(
                functools.partial(_ready, connection), connection.dialect.name, direct_statements(self._engine)
            )
            if connection.in_transaction():  # SQLAlchemy ran the read (its first time) and began one
                await translated(connection.rollback())
        except BaseException:
            # Shielded: a cancelled request must still give its connection back.
            await asyncio.shield(translated(connection.close()))
            raise
        if len(self._idle) < self._kept and not connection.invalidated:
            self._idle.append(connection)
        else:
            await asyncio.shield(translated(connection.close()))

    async def _connect(self) -> AsyncConnection:
        connection = await translated(self._engine.connect())
        try:
            options: dict[str, object] = {SINGLE_STATEMENT: True}
            if connection.dialect.name == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            return await translated(connection.execution_options(**options))
        except BaseException:
            await asyncio.shield(translated(connection.close()))
            raise


async def _ready(connection: AsyncConnection) -> AsyncConnection:
    """The reader's connection, already checked out, as :class:`Statements` asks for one."""
    return connection
