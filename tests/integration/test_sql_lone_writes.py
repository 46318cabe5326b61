"""A unit of work checks a connection out at its first statement; on PostgreSQL a write that
stands alone (a registration's one statement) runs on an autocommit connection instead."""

from __future__ import annotations

from typing import Any

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.engine import configure_lone_writes
from barbershop_adapters.sqlalchemy.errors import translate_psycopg
from barbershop_adapters.sqlalchemy.repositories import person_values
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_core.ports import StorageUnavailable, UniqueViolation
from barbershop_core.use_cases.registration import RegisterClient, RegistrationResult, register_client
from tests.conftest import MANAGER, World
from tests.fakes import ScriptedChannel
from tests.integration.sql_fixtures import PHONE, SQL_BACKENDS, Backend, a_person


def sql_factory(backend: Backend, world: World) -> SqlAlchemyUnitOfWorkFactory:
    """The backend's units of work, handing off to ``world``'s queue."""
    factory = backend.uow_factory
    assert isinstance(factory, SqlAlchemyUnitOfWorkFactory)
    return SqlAlchemyUnitOfWorkFactory(factory.engine, world.queue, factory.autocommit)


async def register(backend: Backend, world: World, phone: str) -> RegistrationResult:
    command = RegisterClient(phone=phone, first_name="Иван", context=MANAGER, consents={"personal_data": True})
    return await register_client(command, attrs.evolve(world.registration(), uow_factory=sql_factory(backend, world)))


def checked_out(engine: AsyncEngine) -> int:
    pool: Any = engine.sync_engine.pool
    return int(pool.checkedout())


def new_world() -> World:
    world = World()
    world.channels.channels["sms"] = ScriptedChannel()
    return world


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_a_unit_of_work_checks_out_its_connection_at_its_first_statement(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        assert checked_out(backend.sql) == 0
        await uow.commit()  # nothing to commit: nothing is checked out for it
        await uow.rollback()
        assert checked_out(backend.sql) == 0
        with pytest.raises(RuntimeError, match="no connection"):
            uow.connection  # noqa: B018 -- the property is what is tested

        assert await uow.persons.get_by_phone(PHONE) is None

        assert checked_out(backend.sql) == 1
        assert not uow.connection.closed
    assert checked_out(backend.sql) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_on_postgresql_a_registration_on_the_routes_copy_checks_nothing_out_of_the_pool(
    backend: Backend,
) -> None:
    world = new_world()
    await register(backend, world, "+79110000000")  # the route read afresh, through the pool
    checkouts: list[object] = []

    def checkout(*_: object) -> None:
        checkouts.append(_)

    event.listen(backend.sql.sync_engine.pool, "checkout", checkout)
    try:
        registered = await register(backend, world, "+79110000001")
    finally:
        event.remove(backend.sql.sync_engine.pool, "checkout", checkout)

    assert checkouts == []
    assert registered.notification_id in world.queue.enqueued  # handed off after its commit
    async with backend.sql.connect() as connection:  # committed: another connection sees it
        stored = await connection.execute(sa.select(t.persons.c.id).where(t.persons.c.phone_number == registered.phone))
        assert stored.scalar_one() == registered.person_id


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_on_postgresql_an_engine_whose_statements_are_watched_runs_the_lone_write_through_sqlalchemy(
    backend: Backend,
) -> None:
    world = new_world()
    await register(backend, world, "+79110000000")
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(backend.sql.sync_engine, "before_cursor_execute", statement)
    try:
        await register(backend, world, "+79110000001")
    finally:
        event.remove(backend.sql.sync_engine, "before_cursor_execute", statement)

    assert "WITH" in seen  # a listener of the engine sees every statement, the lone write's too


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_psycopgs_own_errors_become_the_cores_as_the_engines_do(backend: Backend) -> None:
    url = backend.sql.url.set(drivername="postgresql").render_as_string(hide_password=False)
    person = a_person(PHONE)
    columns = ", ".join(person_values(person))
    placeholders = ", ".join(f"%({name})s" for name in person_values(person))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        insert = f"INSERT INTO persons ({columns}) VALUES ({placeholders})"  # noqa: S608 -- the schema's names
        await connection.execute(insert, person_values(person))
        with pytest.raises(psycopg.IntegrityError) as clash:
            await connection.execute(insert, person_values(person))
        unique = translate_psycopg(clash.value)
        with pytest.raises(psycopg.OperationalError) as refused:
            await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        lost = translate_psycopg(refused.value)

    assert isinstance(unique, UniqueViolation)
    assert str(unique) in {"person_login", "person_phone"}
    assert isinstance(lost, StorageUnavailable)
    assert str(lost).startswith("database unavailable")
    assert PHONE.e164 not in str(unique) + str(lost)  # no row values in the core's text


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_outside_its_block_a_unit_of_work_neither_writes_nor_commits(backend: Backend) -> None:
    world = new_world()
    await register(backend, world, "+79110000000")  # on PostgreSQL the next would be a lone write
    uow = sql_factory(backend, world)()

    with pytest.raises(RuntimeError, match="outside"):
        await uow.persons.get_by_phone(PHONE)
    with pytest.raises(RuntimeError, match="outside"):
        await uow.commit()
    with pytest.raises(RuntimeError, match="outside"):
        await uow.rollback()
    assert await backend.count(t.persons) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_lone_write_reads_committed_whatever_the_servers_default(backend: Backend) -> None:
    url = backend.sql.url.set(drivername="postgresql").render_as_string(hide_password=False)
    options = "-c default_transaction_isolation=serializable"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, options=options) as connection:
        assert (await (await connection.execute("SHOW transaction_isolation")).fetchone()) == ("serializable",)

        await configure_lone_writes(connection)

        assert (await (await connection.execute("SHOW transaction_isolation")).fetchone()) == ("read committed",)
