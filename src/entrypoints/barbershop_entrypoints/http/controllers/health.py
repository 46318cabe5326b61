"""``GET /health/live`` and ``GET /health/ready`` for load balancers and orchestrators.

Readiness checks, each named in the answer (``checks``) and in a 503's ``detail``:
``database`` answers; ``broker`` (Redis) answers PING; ``migrations``: the database is at the
code's head revision (``current`` when it is, ``behind`` / ``unknown`` otherwise: run
``barbershop db upgrade``); ``channel:<code>``: each channel this installation is set to use
(the default channel and the fallback chain) has an adapter, i.e. its provider's credentials
are present (``missing_credentials`` otherwise).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Final

from litestar import Request, get
from litestar.di import NamedDependency
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from taskiq import AsyncBroker

from barbershop_adapters.sqlalchemy.migrate import head_revision
from barbershop_core.errors import TemporaryError
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.openapi import example, ok, problems
from barbershop_entrypoints.http.problems import ApiProblem, example_document
from barbershop_entrypoints.http.schemas import LiveOut, ReadyOut

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


_head: Final = functools.cache(head_revision)
"""Read from the migration scripts once per process."""
_PASSING: Final = frozenset({"ok", "current"})


def not_ready(checks: dict[str, str]) -> ApiProblem:
    failing = ", ".join(f"{name}: {state}" for name, state in checks.items() if state not in _PASSING)
    return ApiProblem(
        503,
        "not_ready",
        "Сервис не готов",
        f"Не готово — {failing}",
        headers={"Retry-After": "5"},
        checks=checks,
        retry_after=5,
    )


@get(
    "/health/ready",
    tags=["health"],
    summary="Готовность: база данных, очередь, миграции, учётные данные каналов",
    responses={
        **ok(
            ReadyOut,
            "Готов",
            [
                example(
                    "ok",
                    {
                        "status": "ok",
                        "checks": {"database": "ok", "broker": "ok", "migrations": "current", "channel:local": "ok"},
                    },
                )
            ],
        ),
        **problems(
            "/health/ready",
            (500, 503),
            examples={
                503: [
                    example(
                        "not_ready",
                        example_document(
                            not_ready(
                                {
                                    "database": "ok",
                                    "broker": "unavailable",
                                    "migrations": "current",
                                    "channel:sms": "ok",
                                }
                            ),
                            "/health/ready",
                        ),
                    ),
                    example("temporary_error", example_document(TemporaryError(), "/health/ready")),
                ]
            },
            descriptions={
                503: "База данных, очередь, миграции или учётные данные канала не в порядке "
                "(`not_ready`, с `checks`; неготовая часть названа в `detail`)"
            },
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
    checks["migrations"] = await _migrations(container) if checks["database"] == "ok" else "unknown"
    checks.update(_channel_credentials(container))
    if any(state not in _PASSING for state in checks.values()):
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


async def _migrations(container: Container) -> str:
    """``current`` when the database's Alembic revision is the code's head."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), container.engine.connect() as connection:
            found = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("readiness: migrations unknown (%s)", type(exc).__name__)
        return "unknown"
    return "current" if list(found) == [_head()] else "behind"


def _channel_credentials(container: Container) -> dict[str, str]:
    """Each channel the settings send through has its adapter (its provider's credentials are set)."""
    settings = container.settings
    used = dict.fromkeys((settings.registration.default_channel, *settings.registration.fallback_channels))
    return {
        f"channel:{code}": "ok" if container.channels.get(code) is not None else "missing_credentials" for code in used
    }


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
