"""``SessionReader`` on SQLAlchemy: the per-request session check in one statement, no transaction.

The container uses it on SQLite; on PostgreSQL it uses :mod:`.psycopg_sessions`, the same
reads at a third of the CPU. This one works on both (the budget tests count its statements
on each).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

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


class SqlSessionReader:
    """Implements ``SessionReader``: each read is one SELECT on a pooled connection, no transaction.

    On PostgreSQL the connection is in autocommit: psycopg sends no BEGIN, and at the
    connection's return no ROLLBACK (it skips one when no transaction is open), so one round
    trip instead of three. On SQLite the engine begins no transaction for it
    (:data:`~.engine.SINGLE_STATEMENT`): no write lock is taken, in the process or in the file,
    and WAL lets the read run beside a writer.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def manager(self, manager_id: int) -> Manager | None:
        async with self._statements() as statements:
            return await SqlManagerRepository(statements).get(manager_id)

    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        async with self._statements() as statements:
            return await SqlClientRepository(statements).get_with_person(client_id)

    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        async with self._statements() as statements:
            return await SqlPartnerRepository(statements).get_by_key_digest(key_digest)

    @asynccontextmanager
    async def _statements(self) -> AsyncIterator[Statements]:
        connection = await translated(self._engine.connect())
        try:
            options: dict[str, object] = {SINGLE_STATEMENT: True}
            if connection.dialect.name == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            single = await translated(connection.execution_options(**options))
            yield Statements(lambda: single, direct_statements(self._engine))
        finally:
            # Shielded: a cancelled request must still give its connection back.
            await asyncio.shield(translated(connection.close()))
