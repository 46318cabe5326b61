"""Password hashing never blocks the event loop: liveness keeps answering while registrations hash."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from litestar.testing import TestClient

from entrypoints.settings import Settings
from tests.fakes import FakeClock
from tests.integration.http.conftest import Api, make_settings, new_phone, running_api

REGISTRATIONS = 20
LIVENESS_BUDGET_SECONDS = 0.050


@pytest.fixture
def real_argon2_api(
    migrated_sqlite_file: Path, tmp_path: Path, clock: FakeClock, portal: BlockingPortal
) -> Iterator[Api]:
    """OWASP's argon2id parameters (the defaults: m=19 MiB, t=2, p=1) in a pool of 4 threads."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(migrated_sqlite_file, data_dir / "barbershop.sqlite3")
    defaults = Settings()
    settings = make_settings(
        data_dir,
        argon2_time_cost=defaults.argon2_time_cost,
        argon2_memory_kib=defaults.argon2_memory_kib,
        argon2_parallelism=defaults.argon2_parallelism,
        hash_threads=defaults.hash_threads,
    )
    with running_api(settings, clock, "sqlite", portal) as api:
        yield api


def _register(api: Api) -> httpx.Response:
    # A client per thread over the same app and event loop (httpx clients are not shared across threads).
    client: TestClient[Any] = TestClient(api.client.app)
    client.blocking_portal = api.portal
    return client.post("/api/registrations", json={"phone": new_phone(), "first_name": "Иван"}, headers=api.auth)


def test_liveness_answers_within_50_ms_while_20_registrations_hash(real_argon2_api: Api) -> None:
    api = real_argon2_api
    latencies: list[float] = []
    with ThreadPoolExecutor(max_workers=REGISTRATIONS) as pool:
        started = time.perf_counter()
        pending = [pool.submit(_register, api) for _ in range(REGISTRATIONS)]
        while not all(future.done() for future in pending):
            before = time.perf_counter()
            answer = api.client.get("/health/live")
            latencies.append(time.perf_counter() - before)
            assert answer.status_code == 200
        registering = time.perf_counter() - started
        answers = [future.result() for future in pending]

    assert [answer.status_code for answer in answers] == [201] * REGISTRATIONS
    assert api.rows("persons") == REGISTRATIONS
    # The hashing took long enough for liveness to be asked many times while it ran...
    assert len(latencies) >= 10, (len(latencies), registering)
    # ...and the event loop answered every time within budget.
    assert max(latencies) < LIVENESS_BUDGET_SECONDS, [round(x * 1000) for x in latencies]
