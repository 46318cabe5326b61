"""Databases for the SQL adapter's tests: the in-memory fake, a migrated SQLite file, PostgreSQL.

PostgreSQL: ``BARBERSHOP_TEST_DATABASE_URL`` names the server (default: the local one,
trust auth). Each test session creates a database of its own there, migrates it, and
drops it at the end; each test starts from empty tables and the shipped reference data.
An unreachable server skips the PostgreSQL tests, or fails them under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import NoReturn

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from barbershop_adapters.sqlalchemy import tables
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, configure_lone_writes, create_engine
from barbershop_adapters.sqlalchemy.migrate import upgrade
from barbershop_adapters.sqlalchemy.psycopg_sessions import PsycopgSessionReader, SessionConnections
from barbershop_adapters.sqlalchemy.repositories import channel_values, template_values
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_core.model import Client, ClientNotification, Partner, Person, TemplateKind
from barbershop_core.ports import SessionReader, UnitOfWork, UnitOfWorkFactory
from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from barbershop_core.use_cases.reference_data import (
    InstallDefaultReferenceData,
    ReferenceDeps,
    install_default_reference_data,
)
from barbershop_core.values import FirstName, Login, PhoneNumber
from tests.fakes import FakeClock, FakeSessionReader, FakeUnitOfWork, InMemoryDatabase, RecordingQueue

TEST_DATABASE_URL_ENV = "BARBERSHOP_TEST_DATABASE_URL"
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POOL = {"pool_size": 25, "max_overflow": 5}  # enough for 20 concurrent units of work


@attrs.frozen
class Backend:
    """One store behind the ports: ``name`` is ``fake``, ``sqlite`` or ``postgres``."""

    name: str
    uow_factory: UnitOfWorkFactory
    engine: AsyncEngine | None = None
    queue: RecordingQueue = attrs.field(factory=RecordingQueue)
    """Where the backend's units of work hand due notifications after commit."""
    sessions: SessionReader = attrs.field(kw_only=True)
    """The store's reads outside a unit of work (whom a session token names)."""

    @property
    def sql(self) -> AsyncEngine:
        assert self.engine is not None, "this test needs a SQL backend"
        return self.engine

    async def count(self, table: sa.Table) -> int:
        async with self.sql.connect() as connection:
            return int((await connection.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _unreachable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — PostgreSQL is required under CI=true", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A migrated database of this test session's own; dropped when the session ends."""
    server = make_url(os.environ.get(TEST_DATABASE_URL_ENV, DEFAULT_TEST_DATABASE_URL))
    try:
        admin = psycopg.connect(_libpq(server), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        _unreachable(
            f"PostgreSQL is unreachable at {server.render_as_string(hide_password=True)} "
            f"(set {TEST_DATABASE_URL_ENV}): {str(error).strip().splitlines()[0]}"
        )
    name = f"barbershop_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = server.set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def reset_postgres(connection: AsyncConnection) -> None:
    """Empty every table and put the shipped reference data back, as the migration leaves it."""
    names = ", ".join(table.name for table in tables.metadata.sorted_tables)
    await connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    await connection.execute(sa.insert(tables.channels), [channel_values(c) for c in DEFAULT_CHANNELS])
    await connection.execute(sa.insert(tables.notification_templates), [template_values(t) for t in DEFAULT_TEMPLATES])


@pytest.fixture
async def postgres_engine(postgres_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(postgres_database_url, **POOL))
    async with engine.begin() as connection:
        await reset_postgres(connection)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session; each test works on a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def sqlite_engine(migrated_sqlite_file: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    path = tmp_path / "data" / "barbershop.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(migrated_sqlite_file, path)
    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///{path}", **POOL))
    yield engine
    await engine.dispose()


@pytest.fixture
async def fake_backend() -> Backend:
    db = InMemoryDatabase()
    queue = RecordingQueue()

    def uow_factory() -> FakeUnitOfWork:
        return FakeUnitOfWork(db, queue)

    await install_default_reference_data(  # what the migration seeds
        InstallDefaultReferenceData(), ReferenceDeps(uow_factory, FakeClock())
    )
    return Backend("fake", uow_factory, queue=queue, sessions=FakeSessionReader(db))


@pytest.fixture
async def sqlite_backend(sqlite_engine: AsyncEngine) -> AsyncIterator[Backend]:
    queue = RecordingQueue()
    sessions = SqlSessionReader(sqlite_engine, keep_connections=True)  # as the composition root makes it
    yield Backend("sqlite", SqlAlchemyUnitOfWorkFactory(sqlite_engine, queue), sqlite_engine, queue, sessions=sessions)
    await sessions.aclose()


@pytest.fixture
async def postgres_autocommit(postgres_engine: AsyncEngine) -> AsyncIterator[SessionConnections]:
    """The autocommit connections ``build_container`` gives the units of work for their lone writes."""
    connections = SessionConnections(postgres_engine.url, configure=configure_lone_writes)
    yield connections
    await connections.aclose()


@pytest.fixture
async def postgres_sessions(postgres_engine: AsyncEngine) -> AsyncIterator[PsycopgSessionReader]:
    """PostgreSQL's session reader as ``build_container`` makes it."""
    reader = PsycopgSessionReader(SessionConnections(postgres_engine.url))
    yield reader
    await reader.aclose()


@pytest.fixture
def postgres_backend(
    postgres_engine: AsyncEngine, postgres_autocommit: SessionConnections, postgres_sessions: PsycopgSessionReader
) -> Backend:
    queue = RecordingQueue()
    return Backend(
        "postgres",
        SqlAlchemyUnitOfWorkFactory(postgres_engine, queue, postgres_autocommit),
        postgres_engine,
        queue,
        sessions=postgres_sessions,
    )


ALL_BACKENDS = [
    pytest.param("fake"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
]
SQL_BACKENDS = ALL_BACKENDS[1:]


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    """Parametrize a test with ``@pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)``."""
    chosen: Backend = request.getfixturevalue(f"{request.param}_backend")
    return chosen


# -- entities to store ------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 9, 0, 0, 123456, tzinfo=UTC)
MOSCOW = timezone(timedelta(hours=3))
PHONE = PhoneNumber("+79111234567")
OTHER_PHONE = PhoneNumber("+79217654321")


def a_person(phone: PhoneNumber = PHONE, login: str | None = None) -> Person:
    return Person(
        phone=phone,
        first_name=FirstName("Иван"),
        login=Login(login or phone.e164),
        created_at=NOW,
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        must_change_password=True,
        temporary_password_expires_at=datetime(2026, 11, 25, 12, 0, tzinfo=MOSCOW),
    )


def a_notification(client_id: int, *, now: datetime = NOW, held: bool = False) -> ClientNotification:
    return ClientNotification.new(
        client_id=client_id,
        channel="sms",
        template_code="REG_WELCOME",
        kind=TemplateKind.SERVICE,
        now=now,
        held=held,
        hold_reason="Отложено менеджером" if held else None,
        secret=b"sealed:\x00\xffsecret",
        secret_expires_at=now + timedelta(hours=72),
    )


async def add_client(uow: UnitOfWork, phone: PhoneNumber = PHONE) -> Client:
    person = a_person(phone)
    await uow.persons.add(person)
    client = Client(person_id=person.id, registered_at=NOW, registered_by="manager:1", source="manager")
    await uow.clients.add(client)
    return client


async def stored_notification(backend: Backend) -> ClientNotification:
    """A new client's welcome notification (:func:`a_notification`), added and committed."""
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notification = a_notification(client.id)
        await uow.notifications.add(notification)
        await uow.commit()
    return notification


async def add_partner(uow: UnitOfWork, name: str = "retail-1") -> Partner:
    partner = Partner(name=name, key_digest=f"digest-of-{name}", created_at=NOW)
    await uow.partners.add(partner)
    return partner
