"""PostgreSQL's session reader on psycopg: the same entities as the engine's, one autocommit
statement per check, a bounded number of connections, and A3 at once when the database is
gone or refuses."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from datetime import UTC
from typing import Any, ClassVar

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy.psycopg_sessions import PsycopgSessionReader, SessionConnections
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
    opened: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = CountingCursor
        CountingConnection.opened += 1


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
    fresh = PsycopgSessionReader(SessionConnections(postgres_engine.url))
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
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url, connection_class=CountingConnection))
    CountingConnection.sent.clear()
    try:
        assert await reader.partner_by_key_digest(partner.key_digest) == partner
        assert await reader.client_with_person(client.id) is not None
        assert await reader.manager(1) is None
    finally:
        await reader.aclose()
    # In autocommit psycopg sends no BEGIN, and the pool no ROLLBACK at the return.
    assert CountingConnection.sent == [("SELECT", True)] * 3


async def test_a_restart_costs_no_check_an_a3_the_first_reads_again_on_a_new_connection(
    postgres_engine: AsyncEngine,
) -> None:
    async with SqlAlchemyUnitOfWorkFactory(postgres_engine, RecordingQueue())() as uow:
        partner = await add_partner(uow)
        await uow.commit()
    CountingConnection.opened = 0
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url, connection_class=CountingConnection))
    try:
        # Four at once: four connections, all idle afterwards.
        assert (
            await asyncio.gather(*(reader.partner_by_key_digest(partner.key_digest) for _ in range(4))) == [partner] * 4
        )
        assert CountingConnection.opened == 4
        await _terminate_other_backends(postgres_engine)

        assert await reader.partner_by_key_digest(partner.key_digest) == partner
        assert CountingConnection.opened == 5  # the dropped one and the three idle ones closed, one new
        assert (
            await asyncio.gather(*(reader.partner_by_key_digest(partner.key_digest) for _ in range(4))) == [partner] * 4
        )
    finally:
        await reader.aclose()


class RefusingAfterFirst(CountingConnection):
    """Connects once; every later attempt is refused, as by a server that went down."""

    @classmethod
    async def connect(cls, *args: Any, **kwargs: Any) -> Any:
        if CountingConnection.opened >= 1:
            raise psycopg.OperationalError("connection refused")
        return await super().connect(*args, **kwargs)


async def test_a_database_still_down_after_dropping_a_connection_is_a3_after_one_new_attempt(
    postgres_engine: AsyncEngine,
) -> None:
    CountingConnection.opened = 0
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url, connection_class=RefusingAfterFirst))
    try:
        assert await reader.manager(1) is None
        await _terminate_other_backends(postgres_engine)
        with pytest.raises(StorageUnavailable, match=r"database unavailable \(OperationalError\)") as refused:
            await reader.manager(1)
        assert "refused" not in str(refused.value)  # named by class, never by the driver's text
    finally:
        await reader.aclose()


async def test_a_statement_refused_on_a_kept_connection_is_not_read_again(postgres_engine: AsyncEngine) -> None:
    CountingConnection.sent = []
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url, connection_class=CountingConnection))
    try:
        assert await reader.manager(1) is None
        with pytest.raises(StorageUnavailable, match="refused the statement"):
            await reader._one("SELECT 1 / 0 WHERE %s::int = 1", 1)
    finally:
        await reader.aclose()
    assert [command for command, _ in CountingConnection.sent] == ["SELECT", "SELECT"]


async def test_a_statement_timeout_closes_only_its_own_connection(postgres_engine: AsyncEngine) -> None:
    CountingConnection.opened = 0
    url = postgres_engine.url.update_query_dict({"options": "-c statement_timeout=50"})
    connections = SessionConnections(url, connection_class=CountingConnection)
    reader = PsycopgSessionReader(connections)
    try:
        assert await asyncio.gather(*(reader.manager(1) for _ in range(3))) == [None] * 3
        assert CountingConnection.opened == 3
        with pytest.raises(psycopg.errors.QueryCanceled):
            async with connections.connection() as connection:
                await connection.execute("SELECT pg_sleep(1)")
        # The server is there: the two other idle connections are used, none is opened.
        assert await asyncio.gather(*(reader.manager(1) for _ in range(2))) == [None] * 2
        assert CountingConnection.opened == 3
    finally:
        await reader.aclose()


async def test_checks_beyond_the_limit_wait_for_a_connection_instead_of_opening_more(
    postgres_engine: AsyncEngine,
) -> None:
    CountingConnection.opened = 0
    reader = PsycopgSessionReader(
        SessionConnections(postgres_engine.url, max_size=3, connection_class=CountingConnection)
    )
    try:
        assert await asyncio.gather(*(reader.manager(1) for _ in range(50))) == [None] * 50
    finally:
        await reader.aclose()
    assert CountingConnection.opened == 3


async def test_connections_older_than_the_recycle_age_are_replaced(postgres_engine: AsyncEngine) -> None:
    CountingConnection.opened = 0
    reader = PsycopgSessionReader(
        SessionConnections(postgres_engine.url, max_age_seconds=0.0, connection_class=CountingConnection)
    )
    try:
        for _ in range(3):
            assert await reader.manager(1) is None
    finally:
        await reader.aclose()
    assert CountingConnection.opened == 3


async def test_an_unreachable_server_is_a3_at_once() -> None:
    reader = PsycopgSessionReader(SessionConnections(make_url("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")))
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable, match="database unavailable"):
            await reader.manager(1)
    finally:
        await reader.aclose()
    assert time.monotonic() - started < 5


async def test_a_statement_the_database_refuses_is_a3_without_the_drivers_text(postgres_engine: AsyncEngine) -> None:
    role = f"no_rights_{uuid.uuid4().hex[:8]}"
    async with postgres_engine.connect() as connection:
        await connection.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        await connection.commit()
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url.set(username=role)))
    try:
        with pytest.raises(StorageUnavailable, match="refused the statement") as refused:
            await reader.partner_by_key_digest("digest")
        assert refused.value.__cause__ is None
        assert refused.value.__context__ is None
    finally:
        await reader.aclose()
        async with postgres_engine.connect() as connection:
            await connection.execute(sa.text(f"DROP ROLE {role}"))
            await connection.commit()


async def test_a_reader_closed_before_its_first_check_stays_closed(postgres_engine: AsyncEngine) -> None:
    CountingConnection.opened = 0
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url, connection_class=CountingConnection))
    await reader.aclose()
    with pytest.raises(StorageUnavailable, match="closed"):
        await reader.manager(1)
    assert CountingConnection.opened == 0


async def test_the_url_is_read_as_the_engine_reads_it(postgres_engine: AsyncEngine) -> None:
    url = postgres_engine.url.update_query_dict({"options": "-c statement_timeout=4321"}).set(
        password="ho rse@%/ x"  # spaces and URL delimiters, as an operator may well choose
    )
    connections = SessionConnections(url)
    try:
        async with connections.connection() as connection:
            cursor = await connection.execute("SHOW statement_timeout")
            assert await cursor.fetchone() == ("4321ms",)
            assert connection.info.password == "ho rse@%/ x"
    finally:
        await connections.aclose()


async def test_checks_waiting_behind_a_failed_connection_are_refused_at_once() -> None:
    # A server that takes the connection and never answers: each attempt waits out the timeout.
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)
        port = black_hole.getsockname()[1]
        reader = PsycopgSessionReader(
            SessionConnections(
                make_url(f"postgresql+psycopg://postgres:horse@127.0.0.1:{port}/test"),
                max_size=4,
                connect_timeout_seconds=2,
            )
        )

        async def check() -> tuple[str, float]:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="database unavailable") as refused:
                await reader.manager(1)
            return str(refused.value), time.monotonic() - started

        try:
            outcomes = await asyncio.gather(*(check() for _ in range(12)))
        finally:
            await reader.aclose()
    # Four wait out one timeout; the eight behind them do not start a wave of their own.
    assert max(waited for _, waited in outcomes) < 3
    assert sum("just failed" in text for text, _ in outcomes) == 8


def test_the_connections_are_for_postgresql_only() -> None:
    with pytest.raises(ValueError, match="need PostgreSQL"):
        SessionConnections(make_url("sqlite+aiosqlite:///x.sqlite3"))


async def _terminate_other_backends(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
