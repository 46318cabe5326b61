"""The HTTP API on a real database: the app from ``create_app`` around a real container.

``api`` runs each test on SQLite and on PostgreSQL (skipped locally when no server
answers, required under ``CI=true``); ``sqlite_api`` runs on SQLite only, for tests of
the HTTP layer itself. Time is a fake clock the test moves; the queue is the in-process
broker, drained with :meth:`Api.drain`; messages land in the local channel's file.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import shutil
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq import InMemoryBroker

from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine
from barbershop_core.use_cases.accounts import CreateManager, create_manager
from barbershop_entrypoints.bootstrap import Container, build_container
from barbershop_entrypoints.http.app import create_app
from barbershop_entrypoints.settings import (
    ChannelsConfig,
    DatabaseConfig,
    LocalChannelConfig,
    QueueConfig,
    SecurityConfig,
    Settings,
)
from tests.fakes import FakeClock
from tests.integration.sql_fixtures import reset_postgres

FAST_ARGON2: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}
"""Cheap hashing for the tests that do not measure hashing (the no-blocking test uses the real one)."""

MANAGER_LOGIN = "frontdesk"
MANAGER_PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-secret-key-" + "x" * 32

T = TypeVar("T")

_phones = itertools.count(1_000_000)


def new_phone() -> str:
    """A fresh valid Russian mobile number in E.164, unique within the test session."""
    return f"+7911{next(_phones):07d}"


@attrs.define
class Api:
    """The test client with a logged-in manager, and the container behind the app.

    Litestar's test client runs the app on an event loop of its own (a blocking portal);
    the container lives on that loop too, so the test reaches it through :meth:`run`.
    """

    client: TestClient[Any]
    container: Container
    clock: FakeClock
    backend: str
    portal: BlockingPortal
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def run(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the app's event loop (where the container's connections live)."""
        return self.portal.call(functools.partial(function, *args, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth | kwargs.pop("headers", {}), **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, json=json, headers=self.auth | kwargs.pop("headers", {}), **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.patch(path, json=json, headers=self.auth | kwargs.pop("headers", {}), **kwargs)

    def register(self, phone: str | None = None, first_name: str = "Иван", **fields: Any) -> httpx.Response:
        return self.post("/api/registrations", {"phone": phone or new_phone(), "first_name": first_name, **fields})

    def login(self, login: str = MANAGER_LOGIN, password: str = MANAGER_PASSWORD) -> httpx.Response:
        return self.client.post("/api/auth/login", json={"login": login, "password": password})

    def drain(self) -> None:
        """Wait until the in-process queue has sent everything it was handed."""
        broker = self.container.broker
        assert isinstance(broker, InMemoryBroker)
        self.run(broker.wait_all)

    def messages(self) -> list[dict[str, Any]]:
        path = self.container.settings.local_messages_file
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def scalar(self, sql: str, **params: Any) -> Any:
        async def query() -> Any:
            async with self.container.engine.connect() as connection:
                return (await connection.execute(text(sql), params)).scalar_one()

        return self.run(query)

    def rows(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}"))  # noqa: S608 -- table names are the tests' literals


def make_settings(data_dir: Path, database_url: str | None = None, **security: Any) -> Settings:
    """``security``: fields of :class:`SecurityConfig` that differ from the tests' cheap hashing."""
    return Settings(
        data_dir=data_dir,
        database=DatabaseConfig(url=database_url),
        security=SecurityConfig(secret_key=SECRET_KEY, **(FAST_ARGON2 | security)),
        queue=QueueConfig(sweep_interval=timedelta(hours=1)),
        channels=ChannelsConfig(
            # On PostgreSQL too, as BARBERSHOP_LOCAL_CHANNEL=true would; the temporary password shows on stdout.
            local=LocalChannelConfig(enabled=True, echo=True)
        ),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """The event loop the app (and its container) runs on, in a thread of its own."""
    with start_blocking_portal(backend="asyncio") as running:
        yield running


@pytest.fixture
def sqlite_settings(migrated_sqlite_file: Path, tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(migrated_sqlite_file, data_dir / "barbershop.sqlite3")
    return make_settings(data_dir)


@pytest.fixture
def postgres_settings(postgres_database_url: str, tmp_path: Path, portal: BlockingPortal) -> Settings:
    async def reset() -> None:
        engine = create_engine(DatabaseSettings(postgres_database_url))
        try:
            async with engine.begin() as connection:
                await reset_postgres(connection)
        finally:
            await engine.dispose()

    portal.call(reset)
    return make_settings(tmp_path / "data", postgres_database_url)


@contextlib.contextmanager
def running_api(settings: Settings, clock: FakeClock, backend: str, portal: BlockingPortal) -> Iterator[Api]:
    """The app around a container built here, with a manager logged in; closed afterwards."""
    container = build_container(settings, clock=clock)
    try:
        portal.call(
            functools.partial(
                create_manager,
                CreateManager(MANAGER_LOGIN, MANAGER_PASSWORD, display_name="Анна"),
                container.managers(),
            )
        )
        client = TestClient(app=create_app(container=container))
        client.blocking_portal = portal  # the same loop as the container's
        with client:
            api = Api(client, container, clock, backend, portal)
            answer = api.login()
            assert answer.status_code == 200, answer.text
            api.token = answer.json()["access_token"]
            yield api
            api.drain()
    finally:
        portal.call(container.aclose)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, clock: FakeClock, portal: BlockingPortal) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL."""
    settings: Settings = request.getfixturevalue(f"{request.param}_settings")
    with running_api(settings, clock, request.param, portal) as ready:
        yield ready


@pytest.fixture
def sqlite_api(sqlite_settings: Settings, clock: FakeClock, portal: BlockingPortal) -> Iterator[Api]:
    """The API on SQLite only: for the HTTP layer's own behaviour."""
    with running_api(sqlite_settings, clock, "sqlite", portal) as ready:
        yield ready


async def _execute(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


_FAIL_CLIENT_INSERTS = {
    "sqlite": (
        ("CREATE TRIGGER fail_clients BEFORE INSERT ON clients BEGIN SELECT RAISE(ABORT, 'disk failure'); END",),
        ("DROP TRIGGER fail_clients",),
    ),
    "postgres": (
        (
            "CREATE FUNCTION fail_clients() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk failure'; END $$",
            "CREATE TRIGGER fail_clients BEFORE INSERT ON clients FOR EACH ROW EXECUTE FUNCTION fail_clients()",
        ),
        ("DROP TRIGGER fail_clients ON clients", "DROP FUNCTION fail_clients()"),
    ),
}


@contextlib.contextmanager
def clients_table_refusing_rows(api: Api) -> Iterator[None]:
    """A3: the database fails in the middle of a registration's transaction (after the person row)."""
    create, drop = _FAIL_CLIENT_INSERTS[api.backend]
    api.run(_execute, api.container.engine, *create)
    try:
        yield
    finally:
        api.run(_execute, api.container.engine, *drop)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A problem details answer with this status and code, and every member RFC 9457 names."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:barbershop:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["instance"].startswith("/")
    assert body["request_id"] == answer.headers["x-request-id"]
    assert "Traceback" not in answer.text
    return body
