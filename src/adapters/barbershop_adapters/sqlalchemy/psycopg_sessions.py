"""``SessionReader`` on PostgreSQL straight through psycopg: the per-request check, cheaper.

Every authenticated request reads one row — the manager, the client and their person, or
the partner of an API key — before anything else. Through SQLAlchemy's async engine that
read costs ~0.55 ms of the loop's CPU (a checkout, switching the connection to autocommit
and back, the execution context, each a greenlet hop); through a small psycopg pool of
autocommit connections ~0.18 ms (``docs/performance.md``: a fifth of a partner request).

The statements are plain text built once from the schema of :mod:`.tables`, and the rows
become entities through the same functions the repositories use, so the two readers cannot
disagree on a column (the SQL contract tests run both against the units of work).

Connections: at most :data:`SESSION_POOL_MAX` per process, opened on first use (the worker
and the CLI never open one), recycled by age like the engine's, never pinged: a connection
found dead fails that one read with :class:`StorageUnavailable` (A3) and is dropped by the
pool. Close the reader (:meth:`PsycopgSessionReader.aclose`) at shutdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import URL

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.engine import POSTGRES_CONNECT_TIMEOUT_SECONDS, POSTGRES_RECYCLE_SECONDS
from barbershop_adapters.sqlalchemy.repositories import (
    PERSON_PREFIX,
    stored_client_and_person,
    stored_manager,
    stored_partner,
)
from barbershop_core.model import Client, Manager, Partner, Person
from barbershop_core.ports import StorageUnavailable

SESSION_POOL_MAX: Final = 4
"""Connections for session checks per process, beside the engine's pool. A check holds one
for a single round trip (~0.2 ms), so four serve thousands of requests a second."""
SESSION_POOL_TIMEOUT_SECONDS: Final = 30.0
"""How long a check waits for a free connection before the request gets A3 (the engine's wait)."""

_Row = Mapping[str, Any]


def _columns(table: sa.Table, prefix: str = "") -> str:
    return ", ".join(f'{table.name}.{column.name} AS "{prefix}{column.name}"' for column in table.c)


def _instants(*tables: tuple[sa.Table, str]) -> tuple[str, ...]:
    """The result keys holding ``UtcDateTime`` values, which the engine would turn to UTC."""
    return tuple(
        prefix + column.name for table, prefix in tables for column in table.c if isinstance(column.type, t.UtcDateTime)
    )


_MANAGER: Final = f"SELECT {_columns(t.managers)} FROM managers WHERE managers.id = %s"  # noqa: S608 -- schema names only
_CLIENT_WITH_PERSON: Final = (
    f"SELECT {_columns(t.clients)}, {_columns(t.persons, PERSON_PREFIX)} "  # noqa: S608 -- schema names only
    "FROM clients JOIN persons ON persons.id = clients.person_id WHERE clients.id = %s"
)
_PARTNER: Final = f"SELECT {_columns(t.partners)} FROM partners WHERE partners.key_digest = %s"  # noqa: S608 -- schema names only
_MANAGER_INSTANTS: Final = _instants((t.managers, ""))
_CLIENT_INSTANTS: Final = _instants((t.clients, ""), (t.persons, PERSON_PREFIX))
_PARTNER_INSTANTS: Final = _instants((t.partners, ""))


def _in_utc(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    for key in keys:
        value: datetime | None = row[key]
        if value is not None:
            row[key] = value.astimezone(UTC)
    return row


def session_pool(
    url: URL,
    *,
    max_size: int = SESSION_POOL_MAX,
    timeout: float = SESSION_POOL_TIMEOUT_SECONDS,
    connection_class: type[psycopg.AsyncConnection[Any]] | None = None,
) -> AsyncConnectionPool[Any]:
    """A closed pool of autocommit connections to the engine's database (``postgresql+psycopg``)."""
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"a psycopg session pool needs PostgreSQL, not {url.get_backend_name()!r}")
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncConnectionPool(
        conninfo,
        connection_class=connection_class or psycopg.AsyncConnection,
        kwargs={"autocommit": True, "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        max_lifetime=POSTGRES_RECYCLE_SECONDS,
        open=False,
        name="session-checks",
    )


class PsycopgSessionReader:
    """Implements ``SessionReader``: each read is one SELECT on an autocommit psycopg connection."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._opened = False

    async def manager(self, manager_id: int) -> Manager | None:
        row = await self._one(_MANAGER, manager_id)
        return None if row is None else stored_manager(_in_utc(row, _MANAGER_INSTANTS))

    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        row = await self._one(_CLIENT_WITH_PERSON, client_id)
        if row is None:
            return None
        return stored_client_and_person(_in_utc(row, _CLIENT_INSTANTS))

    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        row = await self._one(_PARTNER, key_digest)
        return None if row is None else stored_partner(_in_utc(row, _PARTNER_INSTANTS))

    async def aclose(self) -> None:
        await self._pool.close()

    async def _one(self, statement: str, key: object) -> dict[str, Any] | None:
        if not self._opened:
            await self._pool.open()  # on the loop that serves; a no-op once open
            self._opened = True
        try:
            async with self._pool.connection() as connection:
                cursor = connection.cursor(row_factory=dict_row)
                async with cursor:
                    await cursor.execute(statement, (key,))
                    row: dict[str, Any] | None = await cursor.fetchone()
                    return row
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
            # Connection-level failures (PoolTimeout included) quote no row data.
            raise StorageUnavailable(f"database unavailable ({type(error).__name__})") from error
