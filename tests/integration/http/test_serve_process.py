"""The product as a person runs it: ``barbershop serve`` with nothing configured, over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

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
    env = environment(data_dir)
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
    messages = [json.loads(line) for line in (data_dir / "messages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(m["phone"], m["notification_id"]) for m in messages] == [(phone, notification["id"])]
    assert "Иван" in messages[0]["text"]
    assert [card["id"] for card in found] == [registered.json()["client_id"]]
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
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
    password = messages[0]["text"].split("временный пароль: ")[1].split(".")[0]
    assert password not in logs
