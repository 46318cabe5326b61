"""``GET /health/live`` and ``GET /health/ready`` for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from litestar import Request, get
from litestar.di import NamedDependency
from redis.asyncio import Redis
from sqlalchemy import text
from taskiq import AsyncBroker

from barbershop_core.errors import TemporaryError
from entrypoints.bootstrap import Container
from entrypoints.http.openapi import example, ok, problems
from entrypoints.http.problems import ApiProblem, example_document
from entrypoints.http.schemas import LiveOut, ReadyOut

log = logging.getLogger("barbershop.http")

CHECK_TIMEOUT: Final = 3.0
BROKER_STARTED: Final = "broker_started"


@get(
    "/health/live",
    tags=["health"],
    summary="Процесс жив",
    description="Отвечает, пока цикл событий процесса не занят (хеширование паролей идёт в отдельных потоках).",
    responses=ok(LiveOut, "Жив", [example("ok", {"status": "ok"})]),
)
async def live() -> LiveOut:
    return LiveOut(status="ok")


def not_ready(checks: dict[str, str]) -> ApiProblem:
    return ApiProblem(
        503,
        "not_ready",
        "Сервис не готов",
        "База данных или очередь недоступны",
        headers={"Retry-After": "5"},
        checks=checks,
        retry_after=5,
    )


@get(
    "/health/ready",
    tags=["health"],
    summary="Готовность: база данных и очередь",
    responses={
        **ok(ReadyOut, "Готов", [example("ok", {"status": "ok", "checks": {"database": "ok", "broker": "ok"}})]),
        **problems(
            "/health/ready",
            (500, 503),
            examples={
                503: [
                    example(
                        "not_ready",
                        example_document(not_ready({"database": "ok", "broker": "unavailable"}), "/health/ready"),
                    ),
                    example("temporary_error", example_document(TemporaryError(), "/health/ready")),
                ]
            },
            descriptions={503: "База данных или очередь недоступны (`not_ready`, с `checks`)"},
        ),
    },
)
async def ready(request: Request[Any, Any, Any], container: NamedDependency[Container]) -> ReadyOut:
    checks = {
        "database": await _check("database", _database(container)),
        "broker": await _check("broker", _broker(container.broker))
        if request.app.state.get(BROKER_STARTED)
        else "not_started",
    }
    if any(state != "ok" for state in checks.values()):
        raise not_ready(checks)
    return ReadyOut(status="ok", checks=checks)


async def _check(name: str, probe: Any) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await probe
    except Exception as exc:  # noqa: BLE001 -- any failure means "not ready"; the type is logged
        log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"
    return "ok"


async def _database(container: Container) -> None:
    async with container.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _broker(broker: AsyncBroker) -> None:
    """A Redis broker must answer PING; the in-process one is up while this process is."""
    pool = getattr(broker, "connection_pool", None)
    if pool is None:
        return
    async with Redis(connection_pool=pool) as redis:
        await redis.ping()
