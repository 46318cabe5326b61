"""``SessionReader`` on PostgreSQL straight through psycopg: the per-request check, cheaper.

Every authenticated request reads one row — the manager, the client and their person, or
the partner of an API key — before anything else. Through SQLAlchemy's async engine that
read costs ~0.55 ms of the loop's CPU (a checkout, switching the connection to autocommit
and back, the execution context, each a greenlet hop); on a psycopg connection kept in
autocommit ~0.18 ms (``docs/performance.md``: a fifth of a partner request).

The statements are plain text built once from the schema of :mod:`.tables`, and the rows
become entities through the same functions the repositories use, so the two readers cannot
disagree on a column (the SQL contract tests run both against the units of work).

The connections (:class:`SessionConnections`) are the engine's kind of pool, kept small and
simple on purpose: at most :data:`SESSION_CONNECTIONS_MAX` per process, each opened when a
check finds none idle (the worker and the CLI never open one) — so a database that is down
answers at once and one that is back is used at once, with no background reconnection to
wait for — recycled by age like the engine's, never pinged. A connection that fails is
closed; one the server dropped is closed with every idle one (a restarted server killed
them all). A check that met such a dropped connection, kept from before, reads again once
on a new one (it is a lone SELECT): a restart of the database costs no request an A3.

A second set of them, configured as the engine's connections
(:func:`~.engine.configure_lone_writes`), runs a unit of work's write that stands alone (a
registration's one statement, :class:`~.unit_of_work.SqlAlchemyUnitOfWork`): apart from the
checks, so a write waiting on a lock or a slow commit never holds up a session check. Such a
write is not sent again: whether it ran on a connection that failed is not known, so that
request answers A3.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import psycopg
import sqlalchemy as sa
from psycopg import pq
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
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

SESSION_CONNECTIONS_MAX: Final = 4
"""Connections per process and use (session checks, lone writes), beside the engine's pool.
Each holds one for a single statement (a check's ~0.2 ms), so four serve thousands of
requests a second; more at once wait for one of them."""


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


_CONNECTION_FAULTS: Final = (psycopg.OperationalError, psycopg.InterfaceError, OSError)


def _unavailable(error: psycopg.Error | OSError) -> StorageUnavailable:
    """The core's A3 for a driver failure: named by class and SQLSTATE, never by its text."""
    sqlstate = getattr(error, "sqlstate", None)
    described = type(error).__name__ + (f", {sqlstate}" if sqlstate else "")
    if isinstance(error, _CONNECTION_FAULTS):
        return StorageUnavailable(f"database unavailable ({described})")
    return StorageUnavailable(f"the database refused the statement ({described})")


class StaleConnection(Exception):
    """The kept connection a statement ran on had been dropped by the server (a restart):
    the statement never ran, and a new connection may well serve it."""

    def __init__(self, fault: psycopg.Error | OSError) -> None:
        super().__init__(type(fault).__name__)
        self.fault = fault


class SessionConnections:
    """Autocommit psycopg connections to the engine's database, opened on demand, reused LIFO."""

    def __init__(
        self,
        url: URL,
        *,
        max_size: int = SESSION_CONNECTIONS_MAX,
        max_age_seconds: float = POSTGRES_RECYCLE_SECONDS,
        connect_timeout_seconds: int = POSTGRES_CONNECT_TIMEOUT_SECONDS,
        connection_class: type[psycopg.AsyncConnection[Any]] = psycopg.AsyncConnection,
        configure: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
    ) -> None:
        """``configure``: run on each new connection before its first use."""
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"session connections need PostgreSQL, not {url.get_backend_name()!r}")
        # The engine's own reading of the URL: options, several hosts, a password with spaces.
        dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated
        _, parameters = dialect.create_connect_args(url)  # type: ignore[no-untyped-call]  # the same
        self._conninfo = make_conninfo(**parameters)
        self._max_age = max_age_seconds
        self._connect_timeout = connect_timeout_seconds
        self._connection_class = connection_class
        self._configure = configure
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._failed_at = -math.inf
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One connection for one statement: kept if it is left idle and healthy, else closed.

        Failing to connect is :class:`StorageUnavailable`; what the statement raises goes on
        as it is (its user translates it: :meth:`PsycopgSessionReader._one`, a unit of work's
        lone write), except a connection
        fault on a kept connection the server dropped: :class:`StaleConnection`. A check that waited for a
        slot while a connection attempt failed is refused at once rather than trying again:
        behind a database that does not answer, each wave of checks would otherwise wait out
        a whole connect timeout in turn.
        """
        asked_at = time.monotonic()
        async with self._slots:
            if self._closed:
                raise StorageUnavailable("the session reader is closed")
            if self._failed_at >= asked_at:
                raise StorageUnavailable("database unavailable (a connection just failed)")
            connection, opened_at, kept = await self._take()
            try:
                yield connection
            except BaseException as error:  # a refused statement, a cancelled request, a lost connection
                dropped = connection.broken  # not a statement timeout: the server is gone
                await _close(connection)
                if dropped:
                    await self._close_idle()  # what killed this one (a restart) killed them too
                    if kept and isinstance(error, _CONNECTION_FAULTS):
                        raise StaleConnection(error) from error
                raise
            await self._give_back(connection, opened_at)

    async def aclose(self) -> None:
        """Close every idle connection; checks after this are refused (A3)."""
        self._closed = True
        await self._close_idle()

    async def _take(self) -> tuple[psycopg.AsyncConnection[Any], float, bool]:
        """A connection, when it was opened, and whether it was kept from an earlier check."""
        now = time.monotonic()
        while self._idle:
            connection, opened_at = self._idle.pop()
            if now - opened_at < self._max_age and not connection.closed:
                return connection, opened_at, True
            await _close(connection)
        try:
            connection = await self._connection_class.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
            )
            if self._configure is not None:
                try:
                    await self._configure(connection)
                except BaseException:
                    await _close(connection)
                    raise
        except _CONNECTION_FAULTS as error:
            self._failed_at = time.monotonic()
            raise _unavailable(error) from error  # connection-level: no secrets in its text
        except psycopg.Error as error:
            self._failed_at = time.monotonic()
            refused = _unavailable(error)
        else:
            return connection, now, False
        raise refused  # outside the handler, unchained: the text may quote the conninfo

    async def _give_back(self, connection: psycopg.AsyncConnection[Any], opened_at: float) -> None:
        if not self._closed and connection.info.transaction_status == pq.TransactionStatus.IDLE:
            self._idle.append((connection, opened_at))
        else:
            await _close(connection)  # closed meanwhile, or left in a state not to reuse

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await _close(connection)


async def _close(connection: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await connection.close()


class PsycopgSessionReader:
    """Implements ``SessionReader``: each read is one SELECT on an autocommit psycopg connection."""

    def __init__(self, connections: SessionConnections) -> None:
        self._connections = connections

    async def manager(self, manager_id: int) -> Manager | None:
        row = await self._one(_MANAGER, manager_id)
        return None if row is None else stored_manager(_in_utc(row, _MANAGER_INSTANTS))

    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        row = await self._one(_CLIENT_WITH_PERSON, client_id)
        return None if row is None else stored_client_and_person(_in_utc(row, _CLIENT_INSTANTS))

    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        row = await self._one(_PARTNER, key_digest)
        return None if row is None else stored_partner(_in_utc(row, _PARTNER_INSTANTS))

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def _one(self, statement: str, key: object) -> dict[str, Any] | None:
        try:
            try:
                return await self._read(statement, key)
            except StaleConnection:
                return await self._read(statement, key)  # on a new connection: the stale ones are closed
        except StaleConnection as stale:
            raise _unavailable(stale.fault) from stale.fault
        except _CONNECTION_FAULTS as error:
            raise _unavailable(error) from error  # connection-level: no row values in its text
        except psycopg.Error as error:
            refused = _unavailable(error)
        raise refused  # outside the handler, unchained: a refusal's text may quote values

    async def _read(self, statement: str, key: object) -> dict[str, Any] | None:
        async with self._connections.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(statement, (key,))
            row: dict[str, Any] | None = await cursor.fetchone()
            return row
