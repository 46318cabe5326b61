"""The notification pipeline end to end: the HTTP app in the test's process, and the
product's own ``barbershop worker`` / ``scheduler`` / ``sync-reference`` processes, over a
real Redis and a real database, sending through real channel adapters to fake providers
on 127.0.0.1.

Redis: the shared server (``BARBERSHOP_TEST_REDIS_URL``, default 127.0.0.1:6379/0), or,
for fault tests, a ``redis-server`` of the test's own on a free port. Each test has a
stream of its own (``BARBERSHOP_BROKER_STREAM``), deleted afterwards, so test sessions
running at once on the shared server do not read each other's messages. An unreachable Redis skips the tests,
or fails them under ``CI=true``. Time is real: the settings shrink the backoff, the
lease and the sweep interval so that the whole directory runs in well under a minute.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
import pytest
import redis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar import Litestar
from litestar.testing import TestClient

from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine
from barbershop_core.model import AuditEvent
from barbershop_core.use_cases.accounts import CreateManager, create_manager
from barbershop_entrypoints.bootstrap import Container, build_container
from barbershop_entrypoints.http.app import create_app
from barbershop_entrypoints.http.auth import MANAGER_API
from barbershop_entrypoints.http.jwt_auth import session_auth
from barbershop_entrypoints.settings import Settings
from barbershop_entrypoints.tasks import CONSUMER_GROUP
from tests.integration.pipeline.support import (
    DEFAULT_REDIS_URL,
    REDIS_URL_ENV,
    FakeSmsRu,
    Process,
    RedisServer,
    eventually,
    redis_answers,
    unreachable,
)
from tests.integration.sql_fixtures import reset_postgres

SECRET_KEY = "pipeline-test-secret-" + "k" * 32
SMSRU_API_ID = "A1B2C3D4-pipeline"
MANAGER_LOGIN = "frontdesk"
MANAGER_PASSWORD = "correct horse battery staple"
T = TypeVar("T")

FAST_ARGON2: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}

FAST: dict[str, str] = {
    "BARBERSHOP_SWEEP_INTERVAL_SECONDS": "0.1",
    "BARBERSHOP_RETRY_BASE_SECONDS": "0.25",
    "BARBERSHOP_SEND_LEASE_SECONDS": "30",
    "BARBERSHOP_BROKER_REDELIVERY_SECONDS": "30",
}
"""Backoff 0.25 s → 1 s → 4 s; a sweep every 0.1 s."""


def forget_queue(url: str, stream: str) -> None:
    """Delete a test's stream (and its reclaim lock), nothing else."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.delete(stream, f"autoclaim:{CONSUMER_GROUP}:{stream}")
    except redis.ConnectionError:
        pass  # a fault test's own server, stopped: nothing to clean
    finally:
        client.close()


@pytest.fixture
def shared_redis() -> str:
    url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    if not redis_answers(url):
        unreachable(f"Redis is unreachable at {url} (set {REDIS_URL_ENV})")
    return url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory).start()
    yield server
    server.stop()


@pytest.fixture
def fake_sms() -> Iterator[FakeSmsRu]:
    provider = FakeSmsRu().start()
    yield provider
    provider.stop()


@pytest.fixture
def sqlite_url(migrated_sqlite_file: Path, tmp_path: Path) -> str:
    path = tmp_path / "db" / "barbershop.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(migrated_sqlite_file, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    """The event loop the app and its container run on, in a thread of its own (as in the HTTP tests)."""
    with start_blocking_portal(backend="asyncio") as running:
        yield running


@pytest.fixture
def postgres_url(postgres_database_url: str, portal: BlockingPortal) -> str:
    async def reset() -> None:
        engine = create_engine(DatabaseSettings(postgres_database_url))
        try:
            async with engine.begin() as connection:
                await reset_postgres(connection)
        finally:
            await engine.dispose()

    portal.call(reset)
    return postgres_database_url


@attrs.define
class Pipeline:
    """The API (in this process, a manager logged in) and the processes a test starts."""

    env: dict[str, str]
    container: Container
    client: TestClient[Litestar]
    portal: BlockingPortal
    directory: Path
    processes: list[Process] = attrs.field(factory=list)
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def messages_file(self) -> Path:
        return self.container.settings.local_messages_file

    def run(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the app's event loop, where the container's connections live."""
        return self.portal.call(functools.partial(function, *args, **kwargs))

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, args, self.env, self.directory)
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker") -> Process:
        process = self.start(name, "worker", "--concurrency", "4")
        process.wait_for_output("worker started")
        return process

    def scheduler(self) -> Process:
        process = self.start("scheduler", "scheduler")
        process.wait_for_output("scheduler started")
        return process

    def output(self) -> str:
        """Everything the product's processes printed or logged."""
        return "\n".join(process.output() for process in self.processes)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.auth)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers=self.auth)

    def register(self, phone: str, **fields: Any) -> dict[str, Any]:
        answer = self.post("/api/registrations", {"phone": phone, "first_name": "Иван", **fields})
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def notification(self, notification_id: int) -> dict[str, Any]:
        answer = self.get(f"/api/notifications/{notification_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def wait_for_status(self, notification_id: int, status: str, *, within: float) -> dict[str, Any]:
        return eventually(
            lambda: self.notification(notification_id),
            lambda body: body["status"] == status,
            within=within,
            what=f"notification {notification_id} to be {status}",
        )

    def alerts(self) -> list[dict[str, Any]]:
        answer = self.get("/api/notifications/alerts")
        assert answer.status_code == 200, answer.text
        body: list[dict[str, Any]] = answer.json()
        return body

    def delivery_callback(self, notification_id: int, report: dict[str, Any], channel: str) -> httpx.Response:
        """Signed as a provider signs: HMAC-SHA256 of "<id>." + raw body with the channel's secret."""
        raw = json.dumps(report).encode()
        signed = f"{notification_id}.".encode() + raw
        signature = hmac.new(self.container.callback_secret(channel), signed, hashlib.sha256).hexdigest()
        return self.client.post(
            f"/api/notifications/{notification_id}/delivery-callback",
            content=raw,
            headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"},
        )

    def audit(self, notification_id: int) -> list[AuditEvent]:
        async def read() -> list[AuditEvent]:
            async with self.container.uow_factory() as uow:
                return list(await uow.audit.list_recent(notification_id=notification_id, limit=1000))

        return self.run(read)[::-1]  # stored newest first; oldest first here

    @property
    def stream(self) -> str:
        return self.env["BARBERSHOP_BROKER_STREAM"]

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.env["BARBERSHOP_BROKER_URL"])

    def stream_entries(self) -> list[bytes]:
        """The raw task messages in the stream, as Redis keeps them."""
        with contextlib.closing(self.redis()) as client:
            return [fields[b"data"] for _, fields in client.xrange(self.stream)]

    def pending(self) -> int:
        """Messages delivered to a worker and not acknowledged yet."""
        with contextlib.closing(self.redis()) as client:
            summary = client.xpending(self.stream, CONSUMER_GROUP)
        return int(summary["pending"])

    def stop_processes(self) -> None:
        for process in self.processes:
            process.stop()


OpenPipeline = Callable[..., contextlib.AbstractContextManager[Pipeline]]


@pytest.fixture
def open_pipeline(tmp_path: Path, fake_sms: FakeSmsRu, portal: BlockingPortal) -> OpenPipeline:
    """``with open_pipeline(database_url, broker_url, **env) as pipeline``."""

    @contextlib.contextmanager
    def opened(database_url: str, broker_url: str, **env: str) -> Iterator[Pipeline]:
        data_dir = tmp_path / "data"
        data_dir.mkdir(exist_ok=True)
        environment = {name: value for name, value in os.environ.items() if not name.startswith("BARBERSHOP_")}
        environment |= {
            "BARBERSHOP_DATA_DIR": str(data_dir),
            "BARBERSHOP_DATABASE_URL": database_url,
            "BARBERSHOP_BROKER_URL": broker_url,
            "BARBERSHOP_BROKER_STREAM": f"barbershop-test:{uuid.uuid4().hex[:12]}:notifications",
            "BARBERSHOP_SECRET_KEY": SECRET_KEY,
            "BARBERSHOP_DEFAULT_CHANNEL": "sms",
            "BARBERSHOP_SMSRU_API_ID": SMSRU_API_ID,
            "BARBERSHOP_SMSRU_BASE_URL": fake_sms.url,
            "BARBERSHOP_LOCAL_CHANNEL": "true",  # the fallback a manager picks when SMS fails (A4, A7)
            "BARBERSHOP_LOCAL_CHANNEL_ECHO": "false",
            "PYTHONUNBUFFERED": "1",
            **FAST,
            **env,
        }
        configured = Settings.from_env(environment)
        settings = attrs.evolve(configured, security=attrs.evolve(configured.security, **FAST_ARGON2))
        container = build_container(settings)
        pipeline: Pipeline | None = None
        try:
            created = portal.call(
                functools.partial(create_manager, CreateManager(MANAGER_LOGIN, MANAGER_PASSWORD), container.managers())
            )
            client = TestClient(app=create_app(container=container))
            client.blocking_portal = portal  # the same loop as the container's
            with client:
                pipeline = Pipeline(environment, container, client, portal, tmp_path)
                # Issued, not logged in: a login needs the attempt counter, which lives in the Redis
                # some tests stop on purpose (a login then fails closed, 503 — tested in test_auth).
                manager = created.manager
                sessions = session_auth(client.app.state, MANAGER_API)
                pipeline.token = sessions.issue(manager.id, manager.session_version, container.clock.now()).token
                yield pipeline
        finally:
            if pipeline is not None:
                pipeline.stop_processes()
            portal.call(container.aclose)
            forget_queue(broker_url, environment["BARBERSHOP_BROKER_STREAM"])

    return opened
