"""The product as a person runs it: ``barbershop serve`` with nothing configured, over real HTTP."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from barbershop_core.values import PhoneNumber
from tests.integration.console import shown_passwords
from tests.integration.http.conftest import new_phone
from tests.integration.http.server import create_manager, environment, running_server

PASSWORD = "a long password for the front desk"


def _wait_for_status(client: httpx.Client, notification_id: int, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/api/notifications/{notification_id}").json()
        if body["status"] == status or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def test_serve_runs_the_whole_product_on_the_embedded_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Nothing configured but the console: serve's stdout is a file here, not a terminal, so
    # the local channel shows the temporary password there only when asked to.
    env = environment(data_dir, BARBERSHOP_LOCAL_CHANNEL_ECHO="true")
    phone = new_phone()

    with running_server(data_dir, tmp_path, env) as server:
        created = create_manager(env, "admin", PASSWORD)
        assert created.returncode == 0, created.stderr
        assert "admin" in created.stdout
        assert PASSWORD not in created.stdout

        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"login": "admin", "password": PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

            assert client.post("/api/persons/check", json={"phone": phone}).json()["exists"] is False
            registered = client.post("/api/registrations", json={"phone": phone, "first_name": "Иван"})
            assert registered.status_code == 201, registered.text
            notification = _wait_for_status(client, registered.json()["notification_id"], "sent")
            found = client.get(f"/api/clients?phone={quote(phone)}").json()
            ready = client.get("/health/ready")
            schema = client.get("/schema/openapi.json")

    assert notification["status"] == "sent", notification
    assert notification["channel"] == "local"
    kept = (data_dir / "messages.jsonl").read_text(encoding="utf-8")
    messages = [json.loads(line) for line in kept.splitlines()]
    assert [(m["phone"], m["notification_id"]) for m in messages] == [(PhoneNumber(phone).masked, notification["id"])]
    assert "Иван" in messages[0]["text"]
    password = shown_passwords(server.stdout)[notification["id"]]  # shown once, on the console
    assert password not in kept, "the file of messages keeps no usable password"
    assert phone not in kept
    assert [card["id"] for card in found] == [registered.json()["client_id"]]
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "migrations": "current", "channel:local": "ok"},
    }
    assert schema.json()["info"]["title"] == "barbershop-core API"
    assert "Менеджеров ещё нет" in server.stdout
    assert server.process.returncode == 0, server.stderr
    # The log (stderr: uvicorn's access log included) never shows the raw phone or the password.
    logs = server.stderr
    assert "GET /api/clients?phone=" in logs
    assert phone not in logs
    assert quote(phone) not in logs
    assert phone[1:] not in logs
    assert PASSWORD not in logs
    assert password not in logs


def test_serve_with_stdout_in_a_file_prints_the_welcome_message_with_the_password_masked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = environment(data_dir)  # nothing set: BARBERSHOP_LOCAL_CHANNEL_ECHO=auto, stdout is a file
    phone = new_phone()

    with running_server(data_dir, tmp_path, env) as server:
        assert create_manager(env, "admin", PASSWORD).returncode == 0
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            login = client.post("/api/auth/login", json={"login": "admin", "password": PASSWORD})
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            registered = client.post("/api/registrations", json={"phone": phone, "first_name": "Иван"}).json()
            _wait_for_status(client, registered["notification_id"], "sent")

    shown = [line for line in server.stdout.splitlines() if line.startswith("Сообщение ")]
    assert len(shown) == 1
    assert f"Сообщение {registered['notification_id']} (local) для {PhoneNumber(phone).masked}: " in shown[0]
    assert "временный пароль: ********." in shown[0]
    assert shown[0].endswith("[пароль скрыт: вывод идёт не в терминал]")
    assert shown_passwords(server.stdout) == {}
    assert phone not in server.stdout
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "barbershop.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "secret.key").stat().st_mode) == 0o600
