"""SQLite for SQLAlchemy's ``sqlite+aiosqlite`` dialect, run on the event loop's thread.

aiosqlite runs every call — opening a cursor, executing, fetching, closing the cursor — on
a thread of its own and back: four thread hops per statement, each a queue, a wake-up and
a ``call_soon_threadsafe`` through the loop's self-pipe. Measured under the UC04 load on the
embedded default, that machinery took ~40 % of the Python time of the server. The
statements themselves take SQLite tens of microseconds: a page cache and a WAL file
written without fsync (``synchronous = NORMAL``).

This connection keeps aiosqlite's interface (what SQLAlchemy's dialect calls on it) and
runs each statement right away, on the caller's thread, without waiting: SQLite's busy
handler is off. Only what would wait goes to a worker thread:

* a statement SQLite refuses as busy — ``BEGIN IMMEDIATE`` while another process (the CLI,
  a second ``serve`` process) holds the write lock — is run again there, waiting up to the
  busy timeout; within a transaction the write lock is held, and in WAL mode a read does
  not wait for writers, so that is rare;
* the WAL checkpoint, which writes pages back to the database file and fsyncs it: SQLite's
  automatic one would run inside a commit, on the loop; here a commit never checkpoints,
  and every :data:`CHECKPOINT_EVERY` commits of a connection a passive checkpoint runs on a
  worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Final, TypeVar

_T = TypeVar("_T")

CHECKPOINT_EVERY: Final = 100
"""Commits of a connection between two checkpoints (SQLite's own default: every 1,000 WAL
pages; a registration writes about ten)."""
_BUSY: Final = frozenset({5, 261, 517, 773})
"""SQLITE_BUSY and its extended codes (_RECOVERY, _SNAPSHOT, _TIMEOUT)."""


def _busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY


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
        await self._connection.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> InlineCursor:
        await self._connection.run(self._cursor.executemany, sql, parameters)
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


async def _until_done(work: asyncio.Future[Any]) -> None:
    """Wait for ``work`` to end, whatever becomes of it, through further cancellations."""
    while not work.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([work])


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

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        """None once closed: SQLAlchemy's dialect looks here before a commit or rollback."""
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._commits = 0
        self._pragma("wal_autocheckpoint = 0")  # checkpoints off the loop, see commit()

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function`` now, on this thread; if SQLite finds the database busy, again on a
        worker thread, waiting for it up to the busy timeout."""
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        return await self.off_loop(self._waiting, function, *args)

    def _waiting(self, function: Callable[..., _T], *args: Any) -> _T:
        self._pragma(f"busy_timeout = {self._busy_timeout_ms}")
        try:
            return function(*args)
        finally:
            self._pragma("busy_timeout = 0")

    def _pragma(self, setting: str) -> None:
        # Read to the end and closed: a statement left pending would make the next
        # SAVEPOINT fail with "SQL statements in progress".
        cursor = self._conn.execute(f"PRAGMA {setting}")
        try:
            cursor.fetchall()
        finally:
            cursor.close()

    async def off_loop(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run ``function`` on a worker thread: the caller waits, the loop does not.

        A cancelled caller still waits for the thread to be done with the connection:
        what it does next — the unit of work's rollback, the pool lending the connection
        to another — must not run on the connection beside that thread (a BEGIN finishing
        after the rollback would leave a pooled connection holding the write lock)."""
        work = asyncio.get_running_loop().run_in_executor(None, partial(function, *args))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await _until_done(work)
            raise

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await self.run(self._conn.commit)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            await self.off_loop(self._pragma, "wal_checkpoint(PASSIVE)")

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


def inline_sqlite_creator(database: str, *, uri: bool, busy_timeout: float) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on ``database``; ``busy_timeout``: how long a
    statement SQLite finds busy waits (on a worker thread) for the database."""

    async def connect() -> InlineSqliteConnection:
        # The connection is used from the loop's thread and, for what may wait, from a
        # worker thread — never from two at once (the pool lends it to one unit of work).
        connection = sqlite3.connect(database, timeout=0, uri=uri, check_same_thread=False)
        return InlineSqliteConnection(connection, busy_timeout)

    return connect
