"""``barbershop serve --workers 2`` on PostgreSQL + Redis, with ``barbershop worker``: every
process logs, through the same phone-masking handler, whatever encoding a phone came in, and
``/metrics`` of any serve process counts the work of all of them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.http.conftest import new_phone
from tests.integration.http.server import Server, barbershop, create_manager, environment, running_server
from tests.integration.pipeline.conftest import forget_queue
from tests.integration.pipeline.support import DEFAULT_REDIS_URL, REDIS_URL_ENV, Process, redis_answers, unreachable

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PASSWORD = "a long password for the workers test"
METRICS_TOKEN = "workers-metrics-token"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}
SECRET_KEY = "workers-log-test-secret-" + "w" * 32


def _spellings(phone: str) -> list[str]:
    """How a phone may be written in a URL or a body: E.164, national, dotted, form-encoded…"""
    national = "8" + phone[2:]
    area, exchange, tail = phone[2:5], phone[5:8], phone[8:]
    return [
        quote(phone, safe=""),
        quote(quote(phone, safe=""), safe=""),
        f"8+{area}+{exchange}-{tail[:2]}-{tail[2:]}",
        f"%2B7+{area}+{exchange}+{tail[:2]}+{tail[2:]}",
        f"8.{area}.{exchange}.{tail[:2]}.{tail[2:]}",
        national,
        phone,
    ]


def _raw_forms(phone: str) -> list[str]:
    digits = phone[2:]
    area, exchange, tail = digits[:3], digits[3:6], digits[6:]
    return [
        digits,
        f"{area} {exchange}",
        f"{area}+{exchange}",
        f"{area}.{exchange}",
        f"{area}-{exchange}",
        f"{exchange}-{tail[:2]}-{tail[2:]}",
        f"{exchange}.{tail[:2]}.{tail[2:]}",
        f"{exchange}+{tail[:2]}",
    ]


@pytest.fixture
def env(postgres_database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    redis_url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    if not redis_answers(redis_url):
        unreachable(f"Redis is unreachable at {redis_url} (set {REDIS_URL_ENV})")
    stream = f"barbershop-test:{uuid.uuid4().hex[:12]}:notifications"
    yield environment(
        tmp_path / "data",
        BARBERSHOP_DATABASE_URL=postgres_database_url,
        BARBERSHOP_BROKER_URL=redis_url,
        BARBERSHOP_BROKER_STREAM=stream,
        BARBERSHOP_SECRET_KEY=SECRET_KEY,
        BARBERSHOP_LOCAL_CHANNEL_ECHO="false",
        BARBERSHOP_LOCAL_CHANNEL="true",  # the welcome messages go to the local channel on PostgreSQL too
        BARBERSHOP_METRICS_TOKEN=METRICS_TOKEN,
    )
    forget_queue(redis_url, stream)


def _partner_key(env: dict[str, str]) -> str:
    created = subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
        barbershop("partner", "create", "--name", f"shop-{uuid.uuid4().hex[:6]}"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = re.search(r"bsk_[\w-]+", created.stdout)
    assert key is not None, created.stdout
    return key.group(0)


def _requests(server: Server, env: dict[str, str], phones: list[str]) -> int:
    """Phones in bodies and in query strings; each request on a new connection, so both workers serve some."""
    login = httpx.post(f"{server.base_url}/api/auth/login", json={"login": "admin", "password": PASSWORD})
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    partner = {"X-API-Key": _partner_key(env)}
    sent = 1
    for phone in phones:
        national = f"8 ({phone[2:5]}) {phone[5:8]}-{phone[8:10]}-{phone[10:]}"
        registered = httpx.post(
            f"{server.base_url}/api/registrations", json={"phone": national, "first_name": "Иван"}, headers=auth
        )
        assert registered.status_code == 201, registered.text
        promo = {"fio": "Иванов Иван", "phone": phone, "email": "i@mail.ru", "purchases": [{"name": "a", "price": 1}]}
        assert httpx.post(f"{server.base_url}/api/register-client", json=promo, headers=partner).status_code == 200
        sent += 2
        for spelling in _spellings(phone):
            for path in ("/api/clients", "/api/persons", "/clients", "/"):
                answer = httpx.get(f"{server.base_url}{path}?phone={spelling}", headers=auth)
                assert answer.status_code < 500, answer.text
                sent += 1
        assert httpx.get(f"{server.base_url}/api/clients/{_spellings(phone)[4]}", headers=auth).status_code == 404
        sent += 1
    return sent


def _samples(text: str, name: str, **labels: str) -> list[float]:
    return [
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_worker_sends(port: int, wanted: int) -> float:
    """The worker's own ``/metrics``: notifications it sent, once at least ``wanted`` (or 60 s)."""
    sent = 0.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=SCRAPER)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert answer.status_code == 200, answer.text
        found = re.search(r'^barbershop_notification_attempts_total\{result="sent"\} (\S+)$', answer.text, re.M)
        sent = float(found.group(1)) if found else 0.0
        if sent >= wanted:
            break
        time.sleep(0.2)
    return sent


def test_every_process_logs_access_lines_with_every_phone_masked(env: dict[str, str], tmp_path: Path) -> None:
    data_dir = Path(env["BARBERSHOP_DATA_DIR"])
    phones = [new_phone() for _ in range(3)]
    worker: Process | None = None
    metrics_port = _free_port()
    with running_server(data_dir, tmp_path, env, "--workers", "2") as server:
        worker = Process("worker", ["worker", "--concurrency", "2", "--metrics-port", str(metrics_port)], env, tmp_path)
        assert create_manager(env, "admin", PASSWORD).returncode == 0
        sent = _requests(server, env, phones)
        worker.wait_for_output("worker started")
        # Each scrape on a new connection, so both serve processes answer some: each counts all.
        scrapes = [httpx.get(f"{server.base_url}/metrics", headers=SCRAPER) for _ in range(6)]
        worker_sent = _wait_for_worker_sends(metrics_port, len(phones))
        worker.stop()
    for scrape in scrapes:
        assert scrape.status_code == 200, scrape.text
        assert _samples(scrape.text, "barbershop_registrations_total", outcome="created") == [3.0]
        assert _samples(scrape.text, "barbershop_partner_registrations_total", outcome="created") == [3.0]
    assert worker_sent >= len(phones)
    logs = server.stderr + server.stdout + worker.output()

    access_lines = [line for line in logs.splitlines() if " uvicorn.access: " in line]
    assert len(access_lines) >= sent, "\n".join(access_lines)
    assert len({line.split(" - ")[0].split()[-1] for line in access_lines}) > 1  # several connections
    assert logs.count("barbershop.partner.audit") >= len(phones)
    assert "GET /api/clients?phone=+7911*****" in logs
    assert "Started server process" in logs
    leaks = [raw for phone in phones for raw in _raw_forms(phone) if raw in logs]
    assert not leaks, f"raw phones in the logs: {leaks}"
