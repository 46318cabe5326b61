"""PostgreSQL's session reader on psycopg's pool: the same entities as the engine's, one
autocommit statement per check, and A3 when the database is gone."""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy.psycopg_sessions import PsycopgSessionReader, session_pool
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_core.model import Manager
from barbershop_core.ports import StorageUnavailable
from barbershop_core.values import Login
from tests.fakes import RecordingQueue
from tests.integration.sql_fixtures import MOSCOW, NOW, add_client, add_partner

pytestmark = pytest.mark.postgres
_SET_ZONE = (
    "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'Asia/Vladivostok'); END $$"
)
_RESET_ZONE = "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET timezone', current_database()); END $$"


class CountingCursor(psycopg.AsyncCursor[Any]):
    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> CountingCursor:
        CountingConnection.sent.append((str(query).split(None, 1)[0].upper(), self.connection.autocommit))
        await super().execute(query, params, **kwargs)
        return self


class CountingConnection(psycopg.AsyncConnection[Any]):
    sent: ClassVar[list[tuple[str, bool]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = CountingCursor


async def test_both_readers_read_the_same_entities_in_utc(
    postgres_engine: AsyncEngine, postgres_sessions: PsycopgSessionReader
) -> None:
    manager = Manager(login=Login("admin"), display_name="Админ", password_hash="h1", created_at=NOW.astimezone(MOSCOW))
    async with SqlAlchemyUnitOfWorkFactory(postgres_engine, RecordingQueue())() as uow:
        await uow.managers.add(manager)
        client = await add_client(uow)
        partner = await add_partner(uow)
        await uow.commit()
    # The server's zone is not UTC: what it hands back must still read as UTC.
    async with postgres_engine.connect() as connection:
        await connection.execute(sa.text(_SET_ZONE))
        await connection.commit()
    engine_reader = SqlSessionReader(postgres_engine)
    fresh = PsycopgSessionReader(session_pool(postgres_engine.url))
    try:
        for reader in (fresh, postgres_sessions):
            read_manager = await reader.manager(manager.id)
            assert read_manager == await engine_reader.manager(manager.id) == manager
            assert read_manager is not None
            assert read_manager.created_at.tzinfo is UTC
            pair = await reader.client_with_person(client.id)
            assert pair == await engine_reader.client_with_person(client.id)
            assert pair is not None
            assert pair[0] == client
            assert pair[1].created_at.tzinfo is UTC
            assert pair[1].temporary_password_expires_at is not None
            assert pair[1].temporary_password_expires_at.tzinfo is UTC
            found = await reader.partner_by_key_digest(partner.key_digest)
            assert found == await engine_reader.partner_by_key_digest(partner.key_digest) == partner
    finally:
        await fresh.aclose()
        async with postgres_engine.connect() as connection:
            await connection.execute(sa.text(_RESET_ZONE))
            await connection.commit()


async def test_a_check_is_one_select_on_an_autocommit_connection(postgres_engine: AsyncEngine) -> None:
    async with SqlAlchemyUnitOfWorkFactory(postgres_engine, RecordingQueue())() as uow:
        client = await add_client(uow)
        partner = await add_partner(uow)
        await uow.commit()
    reader = PsycopgSessionReader(session_pool(postgres_engine.url, connection_class=CountingConnection))
    CountingConnection.sent.clear()
    try:
        assert await reader.partner_by_key_digest(partner.key_digest) == partner
        assert await reader.client_with_person(client.id) is not None
        assert await reader.manager(1) is None
    finally:
        await reader.aclose()
    # In autocommit psycopg sends no BEGIN, and the pool no ROLLBACK at the return.
    assert CountingConnection.sent == [("SELECT", True)] * 3


async def test_a_connection_killed_under_the_pool_fails_one_check_with_a3_and_the_next_one_reads(
    postgres_engine: AsyncEngine,
) -> None:
    async with SqlAlchemyUnitOfWorkFactory(postgres_engine, RecordingQueue())() as uow:
        partner = await add_partner(uow)
        await uow.commit()
    reader = PsycopgSessionReader(session_pool(postgres_engine.url, max_size=1))
    try:
        assert await reader.partner_by_key_digest(partner.key_digest) == partner
        async with postgres_engine.connect() as connection:
            await connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with pytest.raises(StorageUnavailable):
            await reader.partner_by_key_digest(partner.key_digest)
        assert await reader.partner_by_key_digest(partner.key_digest) == partner
    finally:
        await reader.aclose()


async def test_an_unreachable_server_is_a3_once_the_wait_for_a_connection_runs_out() -> None:
    url = make_url("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    reader = PsycopgSessionReader(session_pool(url, timeout=0.5))
    try:
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await reader.manager(1)
    finally:
        await reader.aclose()


def test_the_pool_is_for_postgresql_only() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        session_pool(make_url("sqlite+aiosqlite:///x.sqlite3"))
