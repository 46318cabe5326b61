"""Alembic: the migrated schema is the tables' schema, and upgrading is safe to repeat."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables
from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine
from barbershop_adapters.sqlalchemy.migrate import head_revision, upgrade, upgrade_async
from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from barbershop_core.templates import DEFAULT_BODIES


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """A freshly migrated database on each engine."""
    chosen: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return chosen


async def drift(engine: AsyncEngine, metadata: sa.MetaData = tables.metadata) -> list[object]:
    def compare(connection: sa.Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


async def reference_counts(engine: AsyncEngine) -> tuple[int, int, str]:
    async with engine.connect() as connection:
        channels = (await connection.execute(sa.select(sa.func.count()).select_from(tables.channels))).scalar_one()
        templates = (
            await connection.execute(sa.select(sa.func.count()).select_from(tables.notification_templates))
        ).scalar_one()
        version = (await connection.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one()
    return channels, templates, version


async def test_the_migrated_schema_matches_the_tables_without_drift(engine: AsyncEngine) -> None:
    assert await drift(engine) == []


async def test_the_drift_check_notices_a_column_that_differs(engine: AsyncEngine) -> None:
    changed = sa.MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in tables.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["persons"].append_column(sa.Column("nickname", sa.String(20), nullable=True))
    differences = await drift(engine, changed)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_column"]


async def test_upgrading_a_new_sqlite_file_twice_seeds_the_reference_data_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'barbershop.sqlite3'}"
    upgrade(url)  # called from a running event loop, as an async caller might
    await upgrade_async(url)
    engine = create_engine(DatabaseSettings(url))
    try:
        assert await reference_counts(engine) == (len(DEFAULT_CHANNELS), len(DEFAULT_TEMPLATES), head_revision())
    finally:
        await engine.dispose()


def test_upgrade_works_from_synchronous_code_as_the_cli_calls_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(url)
    upgrade(url)
    assert (tmp_path / "cli.sqlite3").stat().st_size > 0


@pytest.fixture
def fresh_postgres_url(postgres_database_url: str) -> Iterator[str]:
    """An empty database next to the session's, dropped after the test."""
    server = make_url(postgres_database_url)
    name = f"barbershop_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        server.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
async def test_processes_upgrading_postgres_at_once_wait_for_each_other(fresh_postgres_url: str) -> None:
    script = "import sys; from barbershop_adapters.sqlalchemy.migrate import upgrade; upgrade(sys.argv[1])"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, fresh_postgres_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    outcomes = [(await process.wait(), await process.stderr.read()) for process in processes if process.stderr]
    assert [code for code, _ in outcomes] == [0] * 4, [err.decode()[-500:] for _, err in outcomes]
    engine = create_engine(DatabaseSettings(fresh_postgres_url))
    try:
        assert await reference_counts(engine) == (len(DEFAULT_CHANNELS), len(DEFAULT_TEMPLATES), head_revision())
        assert await drift(engine) == []
    finally:
        await engine.dispose()


async def test_upgrades_from_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'threads.sqlite3'}"
    await asyncio.gather(*(upgrade_async(url) for _ in range(4)))
    engine = create_engine(DatabaseSettings(url))
    try:
        assert await reference_counts(engine) == (len(DEFAULT_CHANNELS), len(DEFAULT_TEMPLATES), head_revision())
    finally:
        await engine.dispose()


async def test_audit_events_refuse_update_and_delete(engine: AsyncEngine) -> None:
    audit = tables.audit_events
    async with engine.begin() as connection:
        await connection.execute(
            sa.insert(audit),
            {
                "action": "person_created",
                "actor": "manager:1",
                "occurred_at": datetime.now(UTC),
                "details": {},
            },
        )
    for statement in (sa.update(audit).values(actor="someone-else"), sa.delete(audit)):
        async with engine.connect() as connection:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await connection.execute(statement)


def test_upgrading_to_client_accounts_adds_the_sign_in_address_to_the_shipped_welcome_text_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url, "0003")
    old_welcome = (
        "{first_name}, добро пожаловать в барбершоп! Логин: {login}, временный пароль: {password}. "
        "Пароль действует до {expires_at}, при первом входе его нужно сменить."
    )
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE notification_templates SET body = ? WHERE code = 'REG_WELCOME'", (old_welcome,))
        db.execute("UPDATE notification_templates SET body = 'Своё: {password}' WHERE channel = 'sms'")
        db.execute(
            "INSERT INTO persons (phone_number, login, first_name, must_change_password, created_at) "
            "VALUES ('+79111234567', '+79111234567', 'Иван', 1, '2026-11-22 09:00:00.000000')"
        )
    upgrade(url)
    with contextlib.closing(sqlite3.connect(path)) as db:
        bodies = dict(db.execute("SELECT channel, body FROM notification_templates WHERE code = 'REG_WELCOME'"))
        person = db.execute("SELECT session_version, first_signed_in_at, temporary_password_voided_at FROM persons")
        assert person.fetchone() == (0, None, None)
    assert bodies["local"] == old_welcome + " Вход: {sign_in_url}"
    assert bodies["local"] == DEFAULT_BODIES["REG_WELCOME"]
    assert bodies["sms"] == "Своё: {password}"
