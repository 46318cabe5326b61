"""Reference data (channels, templates) and the health endpoints."""

from __future__ import annotations

import attrs
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.http.conftest import Api, assert_problem


def test_channels_list_every_channel_with_its_active_flag(api: Api) -> None:
    answer = api.get("/api/channels")

    assert answer.status_code == 200
    channels = {channel["code"]: channel for channel in answer.json()}
    assert set(channels) == {"sms", "telegram", "whatsapp", "vk", "local"}
    assert channels["vk"] == {"code": "vk", "title": "ВКонтакте", "is_active": True, "address_kind": "account"}


def test_templates_list_the_welcome_template_of_every_channel(api: Api) -> None:
    answer = api.get("/api/notification-templates")

    templates = answer.json()
    assert {(t["code"], t["channel"]) for t in templates} >= {("REG_WELCOME", "local"), ("REG_WELCOME", "sms")}
    assert all(t["kind"] == "service" and t["is_active"] for t in templates)
    assert "{password}" in templates[0]["body"]


def test_live_answers_without_a_token(sqlite_api: Api) -> None:
    answer = sqlite_api.client.get("/health/live")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_ready_checks_the_database_and_the_broker(api: Api) -> None:
    answer = api.client.get("/health/ready")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_ready_is_503_when_the_database_cannot_be_reached(sqlite_api: Api) -> None:
    healthy = sqlite_api.container.engine
    broken = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/barbershop.sqlite3")
    sqlite_api.container.engine = broken
    try:
        answer = sqlite_api.client.get("/health/ready")
    finally:
        sqlite_api.container.engine = healthy
        sqlite_api.run(broken.dispose)

    problem = assert_problem(answer, 503, "not_ready")
    assert problem["checks"] == {"database": "unavailable", "broker": "ok"}
    assert answer.headers["retry-after"] == "5"


def test_the_container_is_reachable_from_app_state(sqlite_api: Api) -> None:
    app = sqlite_api.client.app
    assert attrs.has(type(app.state["container"]))
    assert app.state["container"] is sqlite_api.container
