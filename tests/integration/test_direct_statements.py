"""Statements run straight on the driver (:mod:`barbershop_adapters.sqlalchemy.direct_statements`):
the same rows, errors and transactions as through SQLAlchemy, and only where that holds."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import direct_statements
from barbershop_adapters.sqlalchemy import engine as engine_module
from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings
from barbershop_adapters.sqlalchemy.repositories import Statements, person_values
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from barbershop_core.ports import StorageUnavailable, UniqueViolation
from barbershop_core.values import PhoneNumber
from tests.integration.sql_fixtures import NOW, OTHER_PHONE, PHONE, a_notification, a_person, add_client

_PERSON_BY_PHONE = sa.select(t.persons).where(t.persons.c.phone_number == sa.bindparam("phone"))
_PERSONS_BY_ID = sa.select(t.persons.c.id, t.persons.c.created_at).where(
    t.persons.c.id.in_(sa.bindparam("ids", expanding=True))
)
_INSERT_PERSON = sa.insert(t.persons).returning(t.persons.c.id)

on_both = pytest.mark.parametrize(
    "engine", [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def direct_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement that went straight to the driver (of the first of several
    parameter sets)."""
    runs: list[str] = []
    run = direct_statements._run

    async def spied(driver: Any, prepared: direct_statements.Prepared, statements: Any, *, alone: bool) -> Any:
        runs.append(statements[0][0])
        return await run(driver, prepared, statements, alone=alone)

    monkeypatch.setattr(direct_statements, "_run", spied)
    return runs


def statements(uow: SqlAlchemyUnitOfWork, engine: AsyncEngine) -> Statements:
    return Statements(uow.connect, engine.dialect.name, direct_statements.direct_statements(engine))


@on_both
async def test_once_a_statements_rows_are_known_later_runs_read_them_alike_without_describing_them(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []
    for driver in (direct_statements._Psycopg, direct_statements._Sqlite):
        one = driver.one

        async def spied(
            self: Any, sql: str, arguments: Any, *, describe: bool, alone: bool = False, one: Any = one
        ) -> Any:
            asked.append(describe)
            return await one(self, sql, arguments, describe=describe, alone=alone)

        monkeypatch.setattr(driver, "one", spied)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.persons.add(a_person())
        db = statements(uow, engine)
        first = await db.row(_PERSON_BY_PHONE, {"phone": PHONE.e164})  # SQLAlchemy's run
        runs = [await db.row(_PERSON_BY_PHONE, {"phone": PHONE.e164}) for _ in range(3)]
        none = await db.row(_PERSON_BY_PHONE, {"phone": OTHER_PHONE.e164})

    assert asked == [True, False, False, False], asked  # the first direct run learns the shape
    assert first is not None
    assert all(run is not None and dict(run) == dict(first) for run in runs)
    assert runs[-1] is not None
    assert runs[-1][t.persons.c.phone_number] == PHONE.e164
    assert none is None


@on_both
async def test_a_statement_run_again_goes_straight_to_the_driver_and_reads_what_sqlalchemy_reads(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.persons.add(a_person())
        db = statements(uow, engine)
        through_sqlalchemy = await db.row(_PERSON_BY_PHONE, {"phone": PHONE.e164})  # first run
        direct_runs.clear()
        direct = await db.row(_PERSON_BY_PHONE, {"phone": PHONE.e164})

    assert len(direct_runs) == 1
    assert through_sqlalchemy is not None
    assert direct is not None
    assert dict(direct) == dict(through_sqlalchemy)
    assert direct["temporary_password_expires_at"] == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert direct["temporary_password_expires_at"].tzinfo is UTC  # the column type's processing
    assert direct["must_change_password"] is True
    assert direct[t.persons.c.phone_number] == PHONE.e164  # keys by column, as SQLAlchemy's rows


@on_both
async def test_an_in_list_is_a_placeholder_per_value_on_sqlite_an_array_on_postgresql_and_empty_left_to_sqlalchemy(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        first, second = a_person(PHONE), a_person(OTHER_PHONE)
        await uow.persons.add(first)
        await uow.persons.add(second)
        db = statements(uow, engine)
        await db.rows(_PERSONS_BY_ID, {"ids": [first.id]})
        direct_runs.clear()
        both = await db.rows(_PERSONS_BY_ID, {"ids": [second.id, first.id]})
        one = await db.rows(_PERSONS_BY_ID, {"ids": [second.id]})
        none = await db.rows(_PERSONS_BY_ID, {"ids": []})

    assert sorted(row["id"] for row in both) == sorted([first.id, second.id])
    assert [row["created_at"] for row in one] == [NOW]
    assert none == []
    assert len(direct_runs) == 2
    if engine.dialect.name == "sqlite":
        assert "IN (?, ?)" in direct_runs[0]
        assert "IN (?)" in direct_runs[1]
    else:  # one array, one text of the statement
        assert direct_runs[0] == direct_runs[1]
        assert "= ANY(CAST(%(ids)s AS BIGINT[]))" in direct_runs[0]


@on_both
async def test_several_rows_with_returning_give_their_ids_in_order(engine: AsyncEngine, direct_runs: list[str]) -> None:
    phones = [PhoneNumber(f"+7911000000{n}") for n in range(3)]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.insert_ids(t.persons, [person_values(a_person(PhoneNumber("+79110000009")))])
        direct_runs.clear()
        ids = await db.insert_ids(t.persons, [person_values(a_person(phone)) for phone in phones])
        stored = await db.rows(sa.select(t.persons.c.id, t.persons.c.phone_number).order_by(t.persons.c.id))

    assert [row["phone_number"] for row in stored if row["id"] in ids] == [phone.e164 for phone in phones]
    assert ids == sorted(ids)
    # SQLite: each row on its own; PostgreSQL: SQLAlchemy's one statement of several rows
    assert len(direct_runs) == (1 if engine.dialect.name == "sqlite" else 0)


@on_both
async def test_a_unique_clash_on_the_direct_path_is_the_cores_unique_violation(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)))
        direct_runs.clear()
        with pytest.raises(UniqueViolation) as raised:
            await db.execute(_INSERT_PERSON, person_values(a_person(PHONE, login="other")))

    assert len(direct_runs) == 1  # it went direct
    assert raised.value.what == "person_phone"
    assert raised.value.__context__ is None  # no driver text (it may quote the phone) rides along


@on_both
async def test_what_a_rolled_back_unit_of_work_wrote_directly_is_gone(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(OTHER_PHONE)))
        await uow.commit()
        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)))  # begins the next transaction
        assert len(direct_runs) == 1
        await uow.rollback()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.persons.get_by_phone(OTHER_PHONE) is not None


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_on_sqlite_a_statement_run_here_first_takes_the_write_lock_with_sqlalchemys_transaction(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    assert engine.url.database is not None
    other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        await uow.commit()
        assert not uow.connection.in_transaction()
        direct_runs.clear()
        await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})

        assert len(direct_runs) == 1
        assert uow.connection.in_transaction()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        await uow.rollback()
    other.execute("BEGIN IMMEDIATE")  # free again
    other.close()


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_connection_lost_on_the_direct_path_is_invalidated_and_the_next_unit_gets_a_new_one(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        pid = (await uow.connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
        async with engine.connect() as admin:
            await admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        with pytest.raises(StorageUnavailable):
            await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        assert len(direct_runs) == 1
        assert uow.connection.invalidated

    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await statements(uow, engine).rows(_PERSON_BY_PHONE, {"phone": PHONE.e164}) == []


@on_both
async def test_a_statement_built_per_call_is_left_to_sqlalchemy(engine: AsyncEngine, direct_runs: list[str]) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        client = await add_client(uow)
        await uow.notifications.add(a_notification(client.id))
        db = statements(uow, engine)
        direct_runs.clear()
        for _ in range(3):
            await db.rows(sa.select(t.clients).where(t.clients.c.id == client.id))

    assert direct_runs == []


@on_both
async def test_an_engine_whose_statements_are_watched_runs_them_all_through_sqlalchemy(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    seen: list[str] = []

    def watch(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(engine.sync_engine, "before_cursor_execute", watch)
    try:
        async with SqlAlchemyUnitOfWork(engine) as uow:
            db = statements(uow, engine)
            for _ in range(3):
                await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", watch)

    assert direct_runs == []
    assert sum(sql.startswith("SELECT persons.") for sql in seen) == 3


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_on_sqlite_a_write_lock_held_past_the_busy_timeout_is_the_cores_storage_unavailable(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.1)
    assert engine.url.database is not None
    impatient = engine_module.create_engine(DatabaseSettings(engine.url.render_as_string(hide_password=False)))
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with SqlAlchemyUnitOfWork(impatient) as uow:
            with pytest.raises(StorageUnavailable, match="SQLITE_BUSY"):
                await uow.persons.get_by_phone(PHONE)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await impatient.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_an_in_list_of_strings_is_left_to_sqlalchemy(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    """A cast to ``VARCHAR(16)[]`` would cut a longer value to a stored one's length and match it."""
    by_phones = sa.select(t.persons.c.id).where(t.persons.c.phone_number.in_(sa.bindparam("phones", expanding=True)))
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.persons.add(a_person(PHONE))
        db = statements(uow, engine)
        await db.rows(by_phones, {"phones": [PHONE.e164]})
        direct_runs.clear()
        found = await db.rows(by_phones, {"phones": [PHONE.e164 + "9"]})

    assert found == []
    assert direct_runs == []


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_statement_after_a_failed_commit_is_refused_as_sqlalchemy_refuses_it(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        await uow.connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE clash (x int UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
        )
        await uow.connection.exec_driver_sql("INSERT INTO clash VALUES (1), (1)")
        with pytest.raises(StorageUnavailable):
            await uow.commit()
        with pytest.raises(StorageUnavailable):
            await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        assert direct_runs == []


_CREATED_AT_UNDER_ANOTHER_NAME = sa.text("SELECT created_at AS made FROM persons WHERE id = :person_id").columns(
    t.persons.c.created_at
)


@on_both
async def test_a_text_with_its_columns_given_in_order_is_matched_by_position_as_sqlalchemy_matches_it(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        person = a_person()
        await uow.persons.add(person)
        db = statements(uow, engine)
        through_sqlalchemy = await db.rows(_CREATED_AT_UNDER_ANOTHER_NAME, {"person_id": person.id})
        direct_runs.clear()
        direct = await db.rows(_CREATED_AT_UNDER_ANOTHER_NAME, {"person_id": person.id})

    assert len(direct_runs) == 1
    assert [dict(row) for row in direct] == [dict(row) for row in through_sqlalchemy] == [{"made": NOW}]
    assert direct[0][t.persons.c.created_at] == NOW


async def _driver_of(uow: SqlAlchemyUnitOfWork) -> psycopg.AsyncConnection[Any]:
    driver = (await (await uow.connect()).get_raw_connection()).driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_reads_before_the_first_write_open_no_transaction_and_the_write_still_rolls_back(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:  # each statement seen once
        await statements(uow, engine).rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        await statements(uow, engine).execute(_INSERT_PERSON, person_values(a_person(OTHER_PHONE)))
        await uow.rollback()
    direct_runs.clear()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        driver = await _driver_of(uow)
        db = statements(uow, engine)

        assert await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164}) == []
        assert driver.pgconn.transaction_status == pq.TransactionStatus.IDLE  # no BEGIN was sent
        assert not driver.autocommit  # and the connection is out of autocommit again

        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)))
        assert driver.pgconn.transaction_status == pq.TransactionStatus.INTRANS
        assert await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164}) != []  # in it: sees its own write
        assert len(direct_runs) == 3
        await uow.rollback()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.persons.get_by_phone(PHONE) is None


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_locking_read_begins_the_transaction(engine: AsyncEngine, direct_runs: list[str]) -> None:
    locking = _PERSON_BY_PHONE.with_for_update()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await statements(uow, engine).rows(locking, {"phone": PHONE.e164})  # seen once
    async with SqlAlchemyUnitOfWork(engine) as uow:
        driver = await _driver_of(uow)
        await statements(uow, engine).rows(locking, {"phone": PHONE.e164})
        assert direct_runs
        assert driver.pgconn.transaction_status == pq.TransactionStatus.INTRANS


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_read_cancelled_mid_statement_never_leaves_its_connection_in_autocommit(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    sleep = sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float())))
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await statements(uow, engine).execute(sleep, {"seconds": 0.0})  # seen once
    async with SqlAlchemyUnitOfWork(engine) as uow:
        driver = await _driver_of(uow)
        running = asyncio.create_task(statements(uow, engine).execute(sleep, {"seconds": 30.0}))
        for _ in range(500):
            if driver.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                break
            await asyncio.sleep(0.01)
        assert driver.pgconn.transaction_status == pq.TransactionStatus.ACTIVE  # on the server now
        assert driver.autocommit  # a read standing alone
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert direct_runs
        assert driver.closed or not driver.autocommit


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_write_that_may_stand_alone_joins_a_transaction_already_open(
    engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        db = statements(uow, engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(OTHER_PHONE)))
        await uow.rollback()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        driver = await _driver_of(uow)
        db = statements(uow, engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(OTHER_PHONE)))
        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)), alone=True)
        assert driver.pgconn.transaction_status == pq.TransactionStatus.INTRANS
        await uow.rollback()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
    async with SqlAlchemyUnitOfWork(engine) as uow:
        alone = statements(uow, engine)
        await alone.execute(_INSERT_PERSON, person_values(a_person(PHONE)), alone=True)
        await uow.rollback()  # too late: it committed itself
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.persons.get_by_phone(PHONE) is not None


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
async def test_on_postgresql_a_unit_of_work_that_only_reads_leaves_the_connections_prepared_statements(
    engine: AsyncEngine,
) -> None:
    """psycopg drops every prepared statement of a connection at a ROLLBACK (and sends
    DEALLOCATE ALL); a unit of work that only read sends none."""
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await statements(uow, engine).rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})  # seen once
    async with SqlAlchemyUnitOfWork(engine) as uow:
        driver = await _driver_of(uow)
        threshold, driver.prepare_threshold = driver.prepare_threshold, 0  # prepared at once
        try:
            await statements(uow, engine).rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
        finally:
            driver.prepare_threshold = threshold
    # The unit of work is over and the connection back in the pool: ask the server for it.
    async with driver.cursor() as cursor:
        await cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        prepared = await cursor.fetchone()
    await driver.rollback()
    assert prepared is not None
    assert prepared[0] >= 1
