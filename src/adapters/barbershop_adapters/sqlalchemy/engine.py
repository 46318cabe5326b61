"""Async engines for PostgreSQL (psycopg 3) and the embedded SQLite file (SQLAlchemy's aiosqlite
dialect over :mod:`.inline_sqlite`, statements on the loop's thread).

SQLite has one writer at a time. Python's sqlite3 starts a transaction lazily, on the
first write, so two transactions that both read and then write collide with
"database is locked" no matter how long the busy timeout is. Here SQLAlchemy emits
``BEGIN IMMEDIATE`` itself (the event recipe of SQLAlchemy's SQLite documentation,
"Serializable isolation / Savepoints / Transactional DDL"): every transaction takes the
write lock when it starts, waiting up to the busy timeout for it, so concurrent units
of work queue up instead of failing. WAL lets readers outside a transaction read on.
"""

from __future__ import annotations

import contextlib
import os
import stat
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import attrs
import psycopg
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from barbershop_adapters.sqlalchemy.arrays import send_binary_arrays
from barbershop_adapters.sqlalchemy.inline_sqlite import inline_sqlite_creator

SQLITE_BUSY_TIMEOUT_SECONDS: Final = 30
"""How long a SQLite transaction waits for the write lock before giving up (A3)."""
SINGLE_STATEMENT: Final = "barbershop_single_statement"
"""Execution option of a connection that runs lone reads outside a transaction (see
:mod:`.sessions`): on SQLite no BEGIN IMMEDIATE is sent for it, so each statement is its own
read in the driver's autocommit and takes no write lock. (SQLAlchemy's ``AUTOCOMMIT`` level
is not used on SQLite: resetting it afterwards would switch the driver's own BEGIN back on.)"""
POSTGRES_CONNECT_TIMEOUT_SECONDS: Final = 10
POSTGRES_RECYCLE_SECONDS: Final = 30 * 60
"""Reconnect a pooled connection older than this (before a server or a proxy drops it idle)."""
DEFAULT_POOL_SIZE: Final = 16
"""Connections a process keeps open. The pool closes a connection beyond it (an overflow
one) as soon as it is returned, so a process that steadily runs more units of work at once
than this opens a new connection for nearly every one: a PostgreSQL backend started, its
caches warmed, ~3 ms of CPU per request under 16 partner requests in flight with a pool of
10 (``docs/performance.md``). 16 covers that load."""
DEFAULT_MAX_OVERFLOW: Final = 4
"""Connections opened for a burst above the pool and closed again when returned. With the
pool, 20 per process as before; ``serve`` adds up to 4 for its session checks and 4 for
its registrations' lone writes (:mod:`.psycopg_sessions`): ``serve --workers 2``, a worker and a
scheduler hold at most 96,
within PostgreSQL's default ``max_connections`` of 100."""


@attrs.frozen
class DatabaseSettings:
    url: str
    """``postgresql+psycopg://user@host/db`` or ``sqlite+aiosqlite:///path/to/file.sqlite3``."""
    pool_size: int = attrs.field(default=DEFAULT_POOL_SIZE, validator=attrs.validators.ge(1))
    max_overflow: int = attrs.field(default=DEFAULT_MAX_OVERFLOW, validator=attrs.validators.ge(0))
    echo: bool = False
    """Log every SQL statement (parameters are never logged: they hold phones)."""


def database_url(url: str) -> URL:
    """Parse a URL, filling in this project's async driver when only the database is named."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """The application's engine. Dispose of it (``await engine.dispose()``) on shutdown."""
    url = database_url(settings.url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        cache_long_statements()
        engine = create_async_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            # No pre-ping: it costs a round trip on every checkout. Connections are
            # recycled by age instead, and a connection found dead by a unit of work's
            # first statement fails that unit with StorageUnavailable (A3: retry);
            # SQLAlchemy then invalidates the pool, so the retry gets a fresh connection.
            pool_pre_ping=False,
            pool_recycle=POSTGRES_RECYCLE_SECONDS,
            echo=settings.echo,
            hide_parameters=True,
            # Whatever the server's default: the statements are written for it (a concurrent
            # insert of the same key is waited for, then seen), and a plain read before a unit
            # of work's first write runs outside its transaction (direct_statements).
            isolation_level="READ COMMITTED",
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
        )
        event.listen(engine.sync_engine, "connect", _configure_postgresql_connection)
        return engine
    if backend == "sqlite":
        return _sqlite_engine(url, settings)
    raise ValueError(f"unsupported database {backend!r}: use postgresql+psycopg or sqlite+aiosqlite")


LONGEST_CACHED_STATEMENT: Final = 16 * 1024


def cache_long_statements() -> None:
    """Let psycopg cache the conversion of statements up to 16 KiB (its default: 4,096 characters).

    psycopg turns a statement's ``%(name)s`` placeholders into ``$n`` with a regular expression
    and caches the result only for statements up to ``MAX_CACHED_STATEMENT_LENGTH``. The
    registration's and the partner sign-up's data-modifying CTEs are ~4,900 characters, so
    every execution parsed them again: ~11 % of the Python time of a partner's request. The
    cache is keyed by the statement's text, and ours are a handful of constants.
    """
    from psycopg import _queries  # noqa: PLC0415 -- psycopg's own module-level setting, read at each call

    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, LONGEST_CACHED_STATEMENT)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL, settings: DatabaseSettings) -> AsyncEngine:
    pool: dict[str, Any] = {}
    if _is_memory(url):
        # One shared connection (StaticPool): fine for a single unit of work at a time only.
        pass
    else:
        assert url.database is not None
        if not url.database.startswith("file:"):
            _private_database_file(Path(url.database).expanduser())
        pool = {"pool_size": settings.pool_size, "max_overflow": settings.max_overflow}
    engine = create_async_engine(
        url,
        echo=settings.echo,
        hide_parameters=True,
        # Statements run on the loop's thread without waiting on it: a busy one is tried
        # again after a sleep, checkpoints run on a worker thread (see inline_sqlite).
        async_creator=inline_sqlite_creator(url, busy_timeout=SQLITE_BUSY_TIMEOUT_SECONDS),
        **pool,
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _private_database_file(path: Path) -> None:
    """Create the database file 0600 (in a 0700 directory when that is new) before SQLite
    opens it: SQLite creates its ``-wal`` and ``-shm`` files with the database file's
    permissions, so the personal data in all three stays readable by this user only. A file
    left group- or world-readable by an older version is made private too. A path that
    cannot be a file is left for SQLite to report when it connects (StorageUnavailable)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    except IsADirectoryError:
        return
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(name.stat().st_mode) & 0o077:
                name.chmod(0o600)


def _configure_postgresql_connection(dbapi_connection: Any, connection_record: Any) -> None:
    send_binary_arrays(dbapi_connection.driver_connection)


async def configure_lone_writes(connection: psycopg.AsyncConnection[Any]) -> None:
    """A psycopg connection in autocommit made to write as the engine's connections do: the
    same dumpers, and READ COMMITTED whatever the server's default (the engine sets it on
    its transactions; a statement in autocommit runs at the session's default)."""
    send_binary_arrays(connection)
    await connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # Stop the driver from emitting BEGIN (and COMMIT before DDL) on its own; _begin_immediate does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, and much faster
    finally:
        cursor.close()


def _begin_immediate(connection: Any) -> None:
    if not connection.get_execution_options().get(SINGLE_STATEMENT):
        # On the driver's cursor: SQLAlchemy's execution context for a statement with no
        # parameters and no rows would only cost time (~50 µs of each transaction). A failure
        # (the write lock still held by another process after the busy timeout) goes through
        # SQLAlchemy's own handling, as exec_driver_sql's would: its exception class, which
        # the unit of work turns into StorageUnavailable (a begin listener's is not wrapped).
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except Exception as error:  # noqa: BLE001 -- handed to SQLAlchemy, which raises its own
            connection._handle_dbapi_exception(error, "BEGIN IMMEDIATE", (), cursor, None)
        finally:
            cursor.close()


_Kept = TypeVar("_Kept")


class PerEngine(Generic[_Kept]):
    """One object of a process per engine, made at its first use and gone with the engine:
    what the units of work on one engine share (compiled statements, copies of routes, a lock)."""

    def __init__(self, make: Callable[[], _Kept]) -> None:
        self._make = make
        self._kept: weakref.WeakKeyDictionary[AsyncEngine, _Kept] = weakref.WeakKeyDictionary()

    def __call__(self, engine: AsyncEngine) -> _Kept:
        kept = self._kept.get(engine)
        if kept is None:
            kept = self._kept[engine] = self._make()
        return kept
