"""Reference data (channels, templates) and the health endpoints."""

from __future__ import annotations

import attrs
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from barbershop_adapters.sqlalchemy.migrate import head_revision
from barbershop_entrypoints.tasks import build_broker
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
    assert answer.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "migrations": "current", "channel:local": "ok"},
    }


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
    assert problem["checks"] == {
        "database": "unavailable",
        "broker": "ok",
        "migrations": "unknown",
        "channel:local": "ok",
    }
    assert "database: unavailable" in problem["detail"]
    assert answer.headers["retry-after"] == "5"


def test_ready_is_503_naming_the_broker_when_redis_cannot_be_reached(sqlite_api: Api) -> None:
    container = sqlite_api.container
    working = container.broker
    container.broker = build_broker(
        attrs.evolve(
            container.settings, queue=attrs.evolve(container.settings.queue, broker_url="redis://127.0.0.1:1/0")
        )
    )
    try:
        answer = sqlite_api.client.get("/health/ready")
    finally:
        container.broker = working

    problem = assert_problem(answer, 503, "not_ready")
    assert problem["checks"]["broker"] == "unavailable"
    assert problem["checks"]["database"] == "ok"
    assert "broker: unavailable" in problem["detail"]


def test_ready_is_503_when_the_database_is_not_at_the_codes_migration_head(api: Api) -> None:
    head = head_revision()
    api.run(_set_revision, api, "0003")
    try:
        answer = api.client.get("/health/ready")
    finally:
        api.run(_set_revision, api, head)

    problem = assert_problem(answer, 503, "not_ready")
    assert problem["checks"]["migrations"] == "behind"
    assert "migrations: behind" in problem["detail"]
    assert api.client.get("/health/ready").status_code == 200


async def _set_revision(api: Api, revision: str) -> None:
    async with api.container.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_ready_is_503_when_a_channel_in_use_has_no_credentials(sqlite_api: Api) -> None:
    container = sqlite_api.container
    configured = container.settings
    container.settings = attrs.evolve(
        configured, registration=attrs.evolve(configured.registration, fallback_channels=("sms",))
    )
    try:
        answer = sqlite_api.client.get("/health/ready")
    finally:
        container.settings = configured

    problem = assert_problem(answer, 503, "not_ready")
    assert problem["checks"]["channel:sms"] == "missing_credentials"
    assert problem["checks"]["channel:local"] == "ok"


def test_the_container_is_reachable_from_app_state(sqlite_api: Api) -> None:
    app = sqlite_api.client.app
    assert attrs.has(type(app.state["container"]))
    assert app.state["container"] is sqlite_api.container
