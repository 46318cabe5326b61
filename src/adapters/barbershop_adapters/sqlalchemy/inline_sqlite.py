"""SQLite for SQLAlchemy's ``sqlite+aiosqlite`` dialect, run on the event loop's thread.

aiosqlite runs every call — opening a cursor, executing, fetching, closing the cursor — on
a thread of its own and back: four thread hops per statement, each a queue, a wake-up and
a ``call_soon_threadsafe`` through the loop's self-pipe. Measured under the UC04 load on the
embedded default, that machinery took ~40 % of the Python time of the server. The
statements themselves take SQLite tens of microseconds: a page cache and a WAL file
written without fsync (``synchronous = NORMAL``).

This connection keeps aiosqlite's interface (what SQLAlchemy's dialect calls on it) and
runs each statement right away, on the caller's thread, without waiting: SQLite's busy
handler is off. What would wait does so without holding the loop:

* a statement SQLite refuses as busy — ``BEGIN IMMEDIATE`` while another process (the CLI,
  a second ``serve`` process) holds the write lock — is tried again after an
  ``asyncio.sleep``, backing off, until the busy timeout (SQLite's own busy handler sleeps
  and retries the same way, but on the calling thread). Only a statement that may safely be
  repeated is: one outside a transaction, or the COMMIT; within a transaction the write lock
  is held and a read does not wait for writers in WAL mode, so a busy statement there is an
  error, as SQLite advises;
* the WAL checkpoint, which writes pages back to the database file and fsyncs it: SQLite's
  automatic one would run inside a commit, on the loop; here a commit never checkpoints,
  and every :data:`CHECKPOINT_EVERY` commits of a connection a passive checkpoint runs on a
  worker thread. Nothing else touches the connection until it is done, even if the task
  that started it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL

_T = TypeVar("_T")

FIRST_RETRY_SECONDS: Final = 0.001
LONGEST_RETRY_SECONDS: Final = 0.025
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
        # Never tried again: rows written before SQLite found the database busy would be
        # written twice (and an iterator of rows is spent). The writes of this project run
        # in transactions, which hold the write lock.
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
        self._busy_timeout = busy_timeout
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None
        """The checkpoint running on a worker thread, if any: the connection waits for it."""
        self._pragma("wal_autocheckpoint = 0")  # checkpoints off the loop, see commit()

    async def run(self, function: Callable[..., _T], *args: Any, repeatable: bool = False) -> _T:
        """``function`` now, on this thread; while SQLite finds the database busy, again
        after a sleep, up to the busy timeout — if repeating it is safe: outside a
        transaction, or ``repeatable`` (the COMMIT)."""
        repeatable = repeatable or not self._conn.in_transaction
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                result = function(*args)
            except sqlite3.OperationalError as error:
                if not (repeatable and _busy(error)) or loop.time() >= deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_RETRY_SECONDS)
                continue
            # Between two statements the loop answers what is ready (a liveness probe, another
            # request): a unit of work does not hold it from BEGIN to COMMIT, as each hop to
            # aiosqlite's thread let it before.
            await asyncio.sleep(0)
            return result

    def _pragma(self, setting: str) -> None:
        # Read to the end and closed: a statement left pending would make the next
        # SAVEPOINT fail with "SQL statements in progress".
        cursor = self._conn.execute(f"PRAGMA {setting}")
        try:
            cursor.fetchall()
        finally:
            cursor.close()

    async def _checkpoint_off_loop(self) -> None:
        """A passive checkpoint (it never waits for readers or writers) on a worker thread.

        A cancelled caller still waits for the thread to be done with the connection: what
        it does next (the unit of work's rollback, closing the connection) must not run on
        the connection beside that thread."""
        work = asyncio.get_running_loop().run_in_executor(None, self._pragma, "wal_checkpoint(PASSIVE)")
        self._checkpoint = work
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await _until_done(work)
            raise
        finally:
            self._checkpoint = None

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def execute_direct(self, sql: str, arguments: Sequence[Any] | dict[str, Any]) -> tuple[Any, list[Any], int]:
        """One statement run to the end (see :mod:`.direct_statements`): the cursor's description,
        its rows and its rowcount. Busy, it is tried again as :meth:`run` says."""

        def run_to_the_end() -> tuple[Any, list[Any], int]:
            cursor = self._conn.cursor()
            try:
                cursor.execute(sql, arguments)
                description = cursor.description
                rows = cursor.fetchall() if description is not None else []
                return description, rows, cursor.rowcount
            finally:
                cursor.close()

        return await self.run(run_to_the_end)

    async def execute_direct_many(
        self, sql: str, arguments: Sequence[Sequence[Any] | dict[str, Any]]
    ) -> tuple[Any, list[Any], int]:
        """One statement for each of several parameter sets (never tried again, as
        :meth:`InlineCursor.executemany`): no rows, the rowcount summed."""
        cursor = self._conn.executemany(sql, arguments)
        try:
            return None, [], cursor.rowcount
        finally:
            cursor.close()

    async def commit(self) -> None:
        await self.run(self._conn.commit, repeatable=True)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            await self._checkpoint_off_loop()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close (also SQLAlchemy's forced termination, aiosqlite's ``stop``); while a
        checkpoint runs on a worker thread, as soon as it is done."""
        if self._connection is None:
            return
        self._connection = None
        if self._checkpoint is not None and not self._checkpoint.done():
            self._checkpoint.add_done_callback(lambda _: self._conn.close())
        else:
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction


def inline_sqlite_creator(url: URL, *, busy_timeout: float) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on ``url``, opened as SQLAlchemy's SQLite dialect
    opens it (a URI keeps its query: ``mode=ro``, ``mode=memory``; a relative path is made
    absolute); ``busy_timeout``: how long a statement SQLite finds busy is tried again."""
    arguments, dialect_options = SQLiteDialect_pysqlite().create_connect_args(url)
    # The loop's thread runs the statements, a worker thread the checkpoints — never both
    # at once (the pool lends the connection to one unit of work, which waits for them).
    options: dict[str, Any] = {**dialect_options, "timeout": 0, "check_same_thread": False}
    database: str = arguments[0]

    async def connect() -> InlineSqliteConnection:
        return InlineSqliteConnection(sqlite3.connect(database, **options), busy_timeout)

    return connect
