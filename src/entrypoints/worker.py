"""``barbershop worker``: consume ``notifications.send`` from Redis."""

from __future__ import annotations

import sys

from taskiq.api import run_receiver_task

from entrypoints.bootstrap import Container


async def run_worker(container: Container, *, concurrency: int) -> int:
    if not container.settings.broker_url:
        print(
            "barbershop: no BARBERSHOP_BROKER_URL — on the embedded default the queue runs inside `barbershop serve`",
            file=sys.stderr,
        )
        return 2
    await container.broker.startup()
    await run_receiver_task(container.broker, max_async_tasks=concurrency, run_startup=False)
    return 0
