"""Engines, settings and the translation of database failures."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg import _queries
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import inline_sqlite, promo_sign_up, registrations
from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine, database_url
from barbershop_adapters.sqlalchemy.inline_sqlite import InlineSqliteConnection
from barbershop_adapters.sqlalchemy.repositories import SqlManagerRepository, Statements, person_values
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory
from barbershop_core.model import Client
from barbershop_core.ports import StorageUnavailable
from barbershop_core.values import PhoneNumber
from tests.integration.sql_fixtures import NOW, SQL_BACKENDS, Backend, a_person

PHONE = PhoneNumber("+79111234567")


def test_a_bare_database_url_gets_the_async_driver() -> None:
    assert database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///data/x.sqlite3").drivername == "sqlite+aiosqlite"
    assert database_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_an_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_engine(DatabaseSettings("mysql+aiomysql://u@h/db"))


def test_pool_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        DatabaseSettings("sqlite+aiosqlite:///x", pool_size=0)
    with pytest.raises(ValueError, match="max_overflow"):
        DatabaseSettings("sqlite+aiosqlite:///x", max_overflow=-1)


async def test_the_default_pool_keeps_the_connections_of_16_concurrent_units_of_work(
    postgres_database_url: str,
) -> None:
    """A connection beyond the pool is closed when it is returned: under a steady load above
    the pool, nearly every unit of work would start a PostgreSQL backend of its own."""
    engine = create_engine(DatabaseSettings(postgres_database_url))
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    sa.event.listen(engine.sync_engine, "connect", count)

    async def unit_of_work() -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("SELECT pg_sleep(0.005)")

    try:
        for _ in range(5):
            await asyncio.gather(*(unit_of_work() for _ in range(16)))
        assert opened == 16
    finally:
        await engine.dispose()


def test_the_settings_default_to_the_engines_pool() -> None:
    from barbershop_entrypoints.settings import DatabaseConfig  # noqa: PLC0415 -- the entrypoint's side of one default

    config = DatabaseConfig()
    assert (config.pool_size, config.max_overflow) == (
        DatabaseSettings("x").pool_size,
        DatabaseSettings("x").max_overflow,
    )


async def test_the_sqlite_file_gets_its_directory_and_safe_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "barbershop.sqlite3"
    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///{path}"))
    try:
        assert path.parent.is_dir()
        async with engine.connect() as connection:
            pragmas = [
                (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout", "wal_autocheckpoint")
            ]
        # synchronous NORMAL (1); no statement waits on the loop's thread, and no commit
        # checkpoints there (see the tests of the inline connection below)
        assert pragmas == [1, "wal", 1, 0, 0]
    finally:
        await engine.dispose()


async def test_an_in_memory_sqlite_database_works_for_one_unit_of_work_at_a_time() -> None:
    engine = create_engine(DatabaseSettings("sqlite+aiosqlite://"))
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT x FROM t")).scalar_one() == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "sqlite+aiosqlite:///{tmp_path}"],
    ids=["postgres-refused", "sqlite-unopenable"],
)
async def test_an_unreachable_database_is_storage_unavailable(url: str, tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    engine = create_engine(DatabaseSettings(url.format(tmp_path=tmp_path)))  # a directory is no database file
    try:
        async with SqlAlchemyUnitOfWorkFactory(engine)() as uow:  # checks nothing out yet
            with pytest.raises(StorageUnavailable, match="database unavailable"):
                await uow.persons.get_by_phone(PHONE)
    finally:
        await engine.dispose()
    # aiosqlite stops the worker thread of a failed connection in the background; let it
    # finish while this test's event loop still runs, or it reports to a closed loop.
    for _ in range(500):
        if not [thread for thread in threading.enumerate() if thread not in threads_before]:
            break
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_a_row_the_database_refuses_is_storage_unavailable_without_the_driver_text(backend: Backend) -> None:
    orphan = Client(person_id=987654, registered_at=NOW, registered_by="manager:1", source="manager")
    async with backend.uow_factory() as uow:
        with pytest.raises(StorageUnavailable, match="refused the row") as raised:
            await uow.clients.add(orphan)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    assert "987654" not in str(raised.value)


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_echo_logs_statements_but_never_their_parameters(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = backend.sql.url.render_as_string(hide_password=False)
    engine = create_engine(DatabaseSettings(url, echo=True))
    try:
        async with SqlAlchemyUnitOfWorkFactory(engine)() as uow:
            await uow.persons.add(a_person(PHONE))
            await uow.persons.get_by_phone(PHONE)
            await uow.commit()
    finally:
        await engine.dispose()
    assert "INSERT INTO persons" in caplog.text
    assert PHONE.e164 not in caplog.text
    assert "argon2id" not in caplog.text


async def test_sqlite_writers_that_read_first_wait_for_each_other_instead_of_failing(
    sqlite_engine: AsyncEngine,
) -> None:
    """Deferred transactions would fail here with "database is locked"; BEGIN IMMEDIATE queues them."""
    factory = SqlAlchemyUnitOfWorkFactory(sqlite_engine)

    async def read_then_write(phone: str) -> None:
        async with factory() as uow:
            assert await uow.persons.get_by_phone(PhoneNumber(phone)) is None
            await asyncio.sleep(0.05)  # the other writer runs meanwhile
            await uow.persons.add(a_person(PhoneNumber(phone)))
            await uow.commit()

    await asyncio.gather(*(read_then_write(f"+7911123450{n}") for n in range(5)))
    async with sqlite_engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT count(*) FROM persons")).scalar_one() == 5


async def test_sqlite_units_of_work_of_one_process_take_turns_instead_of_polling_the_busy_handler(
    sqlite_engine: AsyncEngine,
) -> None:
    """One writer at a time anyway: the next unit starts when the last one ends, not when
    SQLite's busy handler wakes up to try again."""
    factory = SqlAlchemyUnitOfWorkFactory(sqlite_engine)
    checked_out, most = 0, 0

    def checkout(*_: object) -> None:
        nonlocal checked_out, most
        checked_out += 1
        most = max(most, checked_out)

    def checkin(*_: object) -> None:
        nonlocal checked_out
        checked_out -= 1

    async def write(phone: str) -> None:
        async with factory() as uow:
            await asyncio.sleep(0.01)  # a use case awaiting something mid-transaction
            await uow.persons.add(a_person(PhoneNumber(phone)))
            await uow.commit()

    sa.event.listen(sqlite_engine.sync_engine.pool, "checkout", checkout)
    sa.event.listen(sqlite_engine.sync_engine.pool, "checkin", checkin)
    try:
        await asyncio.gather(*(write(f"+7911123450{n}") for n in range(8)))
    finally:
        sa.event.remove(sqlite_engine.sync_engine.pool, "checkout", checkout)
        sa.event.remove(sqlite_engine.sync_engine.pool, "checkin", checkin)
    assert most == 1
    async with sqlite_engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT count(*) FROM persons")).scalar_one() == 8


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_a_value_for_no_column_is_refused_before_anything_is_written(backend: Backend) -> None:
    values = person_values(a_person(PHONE)) | {"frist_name": "Иван"}
    async with backend.uow_factory() as uow:
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        statements = Statements(uow.connect, backend.sql.dialect.name)
        with pytest.raises(ValueError, match="persons has no column frist_name"):
            await statements.insert_id(t.persons, values)
        with pytest.raises(ValueError, match="frist_name"):
            await statements.insert_id_unless_taken(t.persons, values, "phone_number")
        with pytest.raises(ValueError, match="frist_name"):
            await statements.insert_unless_taken(t.persons, values, ["phone_number"])
        with pytest.raises(ValueError, match="frist_name"):
            await statements.insert_ids(t.persons, [values])
        assert await uow.persons.get_by_phone(PHONE) is None


async def test_a_unit_of_work_is_used_only_inside_its_block(sqlite_engine: AsyncEngine) -> None:
    uow = SqlAlchemyUnitOfWork(sqlite_engine)
    with pytest.raises(RuntimeError, match="outside"):
        await uow.persons.get(1)
    async with uow:
        with pytest.raises(RuntimeError, match="already open"):
            await uow.__aenter__()
    async with uow:  # and may be entered again afterwards
        assert await uow.persons.get(1) is None


async def test_naive_datetimes_are_refused(sqlite_engine: AsyncEngine) -> None:
    person = a_person(PHONE)
    person.created_at = datetime(2026, 1, 1, 12, 0)
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            await uow.persons.add(person)


def _database_file(engine: AsyncEngine) -> str:
    database = engine.url.database
    assert database is not None
    return database


async def test_a_sqlite_writer_waiting_for_another_process_leaves_the_event_loop_free(
    sqlite_engine: AsyncEngine,
) -> None:
    """Statements run on the loop's thread, but BEGIN IMMEDIATE, which waits for the write
    lock another process holds (the CLI, a second ``serve`` process), waits on a worker
    thread: the loop keeps answering meanwhile, and the unit of work goes on once the lock
    is free."""
    other = sqlite3.connect(_database_file(sqlite_engine), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick_until(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    async def write() -> None:
        async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
            await uow.persons.add(a_person(PHONE))
            await uow.commit()

    done = asyncio.Event()
    ticking = asyncio.create_task(tick_until(done))
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writing.done()
    assert ticks >= 20, "the loop stalled while the unit of work waited for the lock"
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, timeout=10)
    done.set()
    await ticking
    async with sqlite_engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT count(*) FROM persons")).scalar_one() == 1


async def test_sqlite_commits_never_checkpoint_on_the_loop_thread_a_passive_checkpoint_runs_off_it_now_and_then(
    sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pragmas: list[tuple[str, bool]] = []
    real_pragma = InlineSqliteConnection._pragma

    def observed(self: InlineSqliteConnection, setting: str) -> None:
        pragmas.append((setting, threading.current_thread() is threading.main_thread()))
        real_pragma(self, setting)

    monkeypatch.setattr(InlineSqliteConnection, "_pragma", observed)
    monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY", 3)
    for number in range(7):
        async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
            phone = PhoneNumber(f"+7911123450{number}")
            await uow.persons.add(a_person(phone))
            assert await uow.persons.get_by_phone(phone) is not None
            await uow.commit()

    checkpoints = [on_loop for setting, on_loop in pragmas if setting == "wal_checkpoint(PASSIVE)"]
    assert checkpoints == [False, False]


def test_a_busy_statement_is_tried_again_outside_a_transaction_and_refused_inside_one() -> None:
    """SQLite's advice: after SQLITE_BUSY only a statement outside a transaction (BEGIN
    IMMEDIATE waiting for another process's lock) or the COMMIT may be repeated; inside a
    transaction SQLite may already have rolled it back."""
    connection = InlineSqliteConnection(sqlite3.connect(":memory:", isolation_level=None), busy_timeout=5)
    tries = 0

    def busy_twice() -> str:
        nonlocal tries
        tries += 1
        if tries <= 2:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise error
        return "done"

    assert asyncio.run(connection.run(busy_twice)) == "done"
    assert tries == 3

    tries = 0
    connection._conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        asyncio.run(connection.run(busy_twice))
    assert tries == 1
    tries = 0
    assert asyncio.run(connection.run(busy_twice, repeatable=True)) == "done"


async def test_a_cancelled_sqlite_writer_waiting_for_the_lock_ends_at_once_and_leaves_no_transaction_behind(
    sqlite_engine: AsyncEngine,
) -> None:
    """The wait for another process's write lock is a sleep on the loop, so a task
    cancelled meanwhile (a deadline, the shutdown) ends at once; its connection goes back
    to the pool without a transaction, so the lock is free when the other process lets go."""
    database = _database_file(sqlite_engine)
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
            await uow.persons.add(a_person(PHONE))
            await uow.commit()

    writing = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(writing, timeout=0.5)
    other.execute("COMMIT")
    other.close()

    after = sqlite3.connect(database, timeout=1, isolation_level=None)
    try:
        after.execute("BEGIN IMMEDIATE")  # "database is locked" if a pooled connection kept the lock
        assert after.execute("SELECT count(*) FROM persons").fetchone() == (0,)
        after.execute("ROLLBACK")
    finally:
        after.close()


_CANCELLED_WHILE_WAITING = """
import asyncio, sqlite3, sys, time
import sqlalchemy as sa
from barbershop_adapters.sqlalchemy import engine as engine_module
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine

async def main(path):
    engine_module.SQLITE_BUSY_TIMEOUT_SECONDS = 2
    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///{path}"))
    other = sqlite3.connect(path, isolation_level=None)  # the CLI, another serve process
    other.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
    try:
        async with asyncio.timeout(0.2):  # the readiness probe's check, a client's deadline
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
    except TimeoutError:
        pass
    started = time.monotonic()
    await asyncio.sleep(0.01)
    stalled = time.monotonic() - started
    async with engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))
    await asyncio.sleep(2.5)  # let the abandoned worker thread finish
    await engine.dispose()
    print(f"survived, the loop stalled {stalled:.2f}s", flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_a_task_cancelled_while_its_statement_waits_off_the_loop_does_not_crash_the_process(tmp_path: Path) -> None:
    """The readiness probe's deadline, the shutdown: a task cancelled while its statement
    waits for another process's lock. A wait on a worker thread crashed the process here
    (the connection closed on the loop's thread while the thread still used it)."""
    database = tmp_path / "db.sqlite3"
    setup = sqlite3.connect(database)
    setup.execute("PRAGMA journal_mode = WAL")  # as the engine leaves it
    setup.close()
    run = subprocess.run(  # noqa: S603 -- this interpreter and a script of this module
        [sys.executable, "-X", "faulthandler", "-c", _CANCELLED_WHILE_WAITING, str(database)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "survived" in run.stdout
    stalled = float(run.stdout.split("stalled ")[1].rstrip("s\n"))
    assert stalled < 0.1, "the loop waited for the worker thread's statement"


async def test_a_sqlite_uri_keeps_its_query(tmp_path: Path) -> None:
    """The connection is opened as SQLAlchemy's SQLite dialect opens it: a URI keeps its
    query, so ``mode=ro`` stays read-only (and ``mode=memory`` in memory)."""
    database = tmp_path / "ro.sqlite3"
    sqlite3.connect(database).close()
    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true"))
    try:
        with pytest.raises(sa.exc.OperationalError, match=r"readonly|unable to open"):
            async with engine.begin() as connection:
                await connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    finally:
        await engine.dispose()


def test_psycopg_caches_the_conversion_of_our_longest_statements() -> None:
    """Beyond psycopg's limits a statement's placeholders are parsed again at every execution."""
    create_engine(DatabaseSettings("postgresql+psycopg://nobody@127.0.0.1/never-connected"))
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    for statement in (promo_sign_up._PG_SIGN_UP, registrations._PG_REGISTRATION):
        compiled = statement.compile(dialect=dialect)
        assert len(str(compiled).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
        assert len(compiled.params) <= _queries.MAX_CACHED_STATEMENT_PARAMS


async def test_session_checks_on_sqlite_keep_their_connections_until_the_reader_is_closed(
    sqlite_engine: AsyncEngine,
) -> None:
    reader = SqlSessionReader(sqlite_engine, keep_connections=True)
    pool = sqlite_engine.sync_engine.pool
    checkouts: list[object] = []
    sa.event.listen(pool, "checkout", lambda *_: checkouts.append(None))

    await asyncio.gather(*(reader.manager(1) for _ in range(3)))  # at once: one connection each
    for _ in range(20):
        assert await reader.manager(1) is None
        assert await reader.partner_by_key_digest("none") is None
    await asyncio.gather(*(reader.manager(1) for _ in range(3)))

    assert len(checkouts) == 3  # the connections of the first reads, kept
    assert pool.checkedout() == 3  # type: ignore[attr-defined]  # QueuePool's own count
    await reader.aclose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await reader.manager(1) is None  # a closed reader still reads, on a connection of the pool's
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_session_check_that_fails_on_sqlite_gives_its_connection_back(
    sqlite_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = SqlSessionReader(sqlite_engine, keep_connections=True)
    await reader.manager(1)

    async def failing(*_: object) -> None:
        raise StorageUnavailable("disk I/O error")

    monkeypatch.setattr(SqlManagerRepository, "get", failing)
    with pytest.raises(StorageUnavailable):
        await reader.manager(1)

    assert sqlite_engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert await reader.manager(1) is None
    await reader.aclose()


@pytest.mark.parametrize(("pool_size", "kept"), [(1, 0), (3, 0), (5, 1), (25, 4)])
async def test_a_session_reader_keeps_at_most_a_quarter_of_a_small_pool(
    sqlite_engine: AsyncEngine, pool_size: int, kept: int
) -> None:
    engine = create_engine(DatabaseSettings(str(sqlite_engine.url), pool_size=pool_size, max_overflow=0))
    reader = SqlSessionReader(engine, keep_connections=True)
    try:
        await asyncio.gather(*(reader.manager(1) for _ in range(6)))

        assert engine.sync_engine.pool.checkedout() == kept  # type: ignore[attr-defined]
        async with asyncio.timeout(5), engine.begin() as connection:  # a unit of work still gets one
            await connection.execute(sa.select(1))
    finally:
        await reader.aclose()
        await engine.dispose()
