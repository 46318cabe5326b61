"""Statements run straight on SQLite (:mod:`barbershop_adapters.sqlalchemy.direct_sqlite`):
the same rows, errors and transactions as through SQLAlchemy, and only where that holds."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.direct_sqlite import direct_sqlite
from barbershop_adapters.sqlalchemy.inline_sqlite import InlineSqliteConnection
from barbershop_adapters.sqlalchemy.repositories import Statements, person_values
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from barbershop_core.ports import UniqueViolation
from barbershop_core.values import PhoneNumber
from tests.integration.sql_fixtures import NOW, OTHER_PHONE, PHONE, a_notification, a_person, add_client

_PERSON_BY_PHONE = sa.select(t.persons).where(t.persons.c.phone_number == sa.bindparam("phone"))
_PERSONS_BY_ID = sa.select(t.persons.c.id, t.persons.c.created_at).where(
    t.persons.c.id.in_(sa.bindparam("ids", expanding=True))
)
_INSERT_PERSON = sa.insert(t.persons).returning(t.persons.c.id)


@pytest.fixture
def direct_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement that went straight to SQLite."""
    runs: list[str] = []
    execute_direct = InlineSqliteConnection.execute_direct
    execute_direct_many = InlineSqliteConnection.execute_direct_many

    async def spied(self: InlineSqliteConnection, sql: str, arguments: Any) -> Any:
        runs.append(sql)
        return await execute_direct(self, sql, arguments)

    async def spied_many(self: InlineSqliteConnection, sql: str, arguments: Any) -> Any:
        runs.append(sql)
        return await execute_direct_many(self, sql, arguments)

    monkeypatch.setattr(InlineSqliteConnection, "execute_direct", spied)
    monkeypatch.setattr(InlineSqliteConnection, "execute_direct_many", spied_many)
    return runs


def statements(uow: SqlAlchemyUnitOfWork, engine: AsyncEngine) -> Statements:
    return Statements(lambda: uow.connection, direct_sqlite(engine))


async def test_a_statement_run_again_goes_straight_to_sqlite_and_reads_what_sqlalchemy_reads(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        await uow.persons.add(a_person())
        db = statements(uow, sqlite_engine)
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


async def test_an_in_list_takes_a_placeholder_per_value_and_an_empty_one_is_left_to_sqlalchemy(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        first, second = a_person(PHONE), a_person(OTHER_PHONE)
        await uow.persons.add(first)
        await uow.persons.add(second)
        db = statements(uow, sqlite_engine)
        await db.rows(_PERSONS_BY_ID, {"ids": [first.id]})
        direct_runs.clear()
        both = await db.rows(_PERSONS_BY_ID, {"ids": [second.id, first.id]})
        one = await db.rows(_PERSONS_BY_ID, {"ids": [second.id]})
        none = await db.rows(_PERSONS_BY_ID, {"ids": []})

    assert sorted(row["id"] for row in both) == sorted([first.id, second.id])
    assert [row["created_at"] for row in one] == [NOW]
    assert none == []
    assert len(direct_runs) == 2
    assert "IN (?, ?)" in direct_runs[0]
    assert "IN (?)" in direct_runs[1]


async def test_several_rows_with_returning_run_one_by_one_and_give_their_ids_in_order(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    phones = [PhoneNumber(f"+7911000000{n}") for n in range(3)]
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        db = statements(uow, sqlite_engine)
        await db.insert_ids(t.persons, [person_values(a_person(PhoneNumber("+79110000009")))])
        direct_runs.clear()
        ids = await db.insert_ids(t.persons, [person_values(a_person(phone)) for phone in phones])
        stored = await db.rows(sa.select(t.persons.c.id, t.persons.c.phone_number).order_by(t.persons.c.id))

    assert len(direct_runs) == 3
    assert [row["phone_number"] for row in stored if row["id"] in ids] == [phone.e164 for phone in phones]
    assert ids == sorted(ids)


async def test_a_unique_clash_on_the_direct_path_is_the_cores_unique_violation(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        db = statements(uow, sqlite_engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)))
        direct_runs.clear()
        with pytest.raises(UniqueViolation) as raised:
            await db.execute(_INSERT_PERSON, person_values(a_person(PHONE, login="other")))

    assert len(direct_runs) == 1  # it went direct
    assert raised.value.what == "person_phone"
    assert raised.value.__context__ is None  # no driver text (it may quote the phone) rides along


async def test_what_a_rolled_back_unit_of_work_wrote_directly_is_gone(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        db = statements(uow, sqlite_engine)
        await db.execute(_INSERT_PERSON, person_values(a_person(OTHER_PHONE)))
        await db.execute(_INSERT_PERSON, person_values(a_person(PHONE)))
        assert direct_runs  # the second went direct
        await uow.rollback()

    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.persons.get_by_phone(OTHER_PHONE) is None


async def test_a_statement_run_here_first_begins_sqlalchemys_transaction_with_the_write_lock(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    assert sqlite_engine.url.database is not None
    other = sqlite3.connect(sqlite_engine.url.database, timeout=0, isolation_level=None)
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        db = statements(uow, sqlite_engine)
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


async def test_a_statement_built_per_call_is_left_to_sqlalchemy(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
        client = await add_client(uow)
        await uow.notifications.add(a_notification(client.id))
        db = statements(uow, sqlite_engine)
        direct_runs.clear()
        for _ in range(3):
            await db.rows(sa.select(t.clients).where(t.clients.c.id == client.id))

    assert direct_runs == []


async def test_an_engine_whose_statements_are_watched_runs_them_all_through_sqlalchemy(
    sqlite_engine: AsyncEngine, direct_runs: list[str]
) -> None:
    seen: list[str] = []

    def watch(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql)

    event.listen(sqlite_engine.sync_engine, "before_cursor_execute", watch)
    try:
        async with SqlAlchemyUnitOfWork(sqlite_engine) as uow:
            db = statements(uow, sqlite_engine)
            for _ in range(3):
                await db.rows(_PERSON_BY_PHONE, {"phone": PHONE.e164})
    finally:
        event.remove(sqlite_engine.sync_engine, "before_cursor_execute", watch)

    assert direct_runs == []
    assert sum(sql.startswith("SELECT persons.") for sql in seen) == 3
