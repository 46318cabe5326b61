"""SQLite for SQLAlchemy's ``sqlite+aiosqlite`` dialect, run on the event loop's thread.

aiosqlite runs every call — opening a cursor, executing, fetching, closing the cursor — on
a thread of its own and back: four thread hops per statement, each a queue, a wake-up and
a ``call_soon_threadsafe`` through the loop's self-pipe. Measured under the UC04 load on the
embedded default, that machinery took ~40 % of the Python time of the server. The
statements themselves take SQLite tens of microseconds: a page cache and a WAL file
written without fsync (``synchronous = NORMAL``).

This connection keeps aiosqlite's interface (what SQLAlchemy's dialect calls on it) and
runs statements right away, on the caller's thread. Only what may wait goes to a worker
thread: ``BEGIN IMMEDIATE``, which waits for the write lock while another process writes
(up to the busy timeout), and ``COMMIT``, which may run a WAL checkpoint and its fsync.
Within a transaction the write lock is held, so no statement waits on another writer;
in WAL mode a read outside a transaction does not wait on writers either.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Final, TypeVar

_T = TypeVar("_T")

_WAITS: Final = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "COMMIT")
"""Statements that may wait (for another process's write lock, for an fsync): off the loop."""


class InlineCursor:
    """aiosqlite's ``Cursor`` interface over a ``sqlite3.Cursor``, run in place."""

    def __init__(self, connection: InlineSqliteConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        if sql.lstrip().upper().startswith(_WAITS):
            await self._connection.off_loop(self._cursor.execute, sql, parameters)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InPlace:
    """What SQLAlchemy's dialect puts on aiosqlite's private queue (to set the isolation
    level): run here and now, the future resolved with its outcome."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as error:  # noqa: BLE001 -- handed to the waiting future, as aiosqlite does
            if future is not None:
                future.set_exception(error)
            return
        if future is not None:
            future.set_result(result)


class InlineSqliteConnection:
    """aiosqlite's ``Connection`` interface (as SQLAlchemy uses it) over a ``sqlite3.Connection``."""

    _tx: Final = _InPlace()

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        """None once closed: SQLAlchemy's dialect looks here before a commit or rollback."""

    async def off_loop(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run ``function`` on a worker thread: the caller waits, the loop does not."""
        return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await self.off_loop(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """SQLAlchemy's forced termination (aiosqlite's ``stop``): close now."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


def inline_sqlite_creator(database: str, *, uri: bool, timeout: float) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on ``database`` (``timeout``: SQLite's busy timeout,
    which only the statements run off the loop ever wait for)."""

    async def connect() -> InlineSqliteConnection:
        # The connection is used from the loop's thread and, for what may wait, from a
        # worker thread — never from two at once (the pool lends it to one unit of work).
        connection = sqlite3.connect(database, timeout=timeout, uri=uri, check_same_thread=False)
        return InlineSqliteConnection(connection)

    return connect
