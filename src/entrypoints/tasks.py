"""The Taskiq side: the broker from settings and the task ``notifications.send``."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from barbershop_core.use_cases.notifications import AttemptResult, DeliveryDeps, attempt_delivery
from entrypoints.settings import Settings

SEND_NOTIFICATION = "notifications.send"
STREAM = "barbershop:notifications"
CONSUMER_GROUP = "barbershop-workers"

log = logging.getLogger("barbershop.worker")


def build_broker(settings: Settings) -> AsyncBroker:
    """Redis Stream broker when ``BARBERSHOP_BROKER_URL`` is set, the in-process one otherwise.

    The Stream broker acknowledges a message only after its task ran, so a worker that
    dies mid-task leaves it to be reclaimed: ``idle_timeout`` is how long a message may
    stay unacknowledged before another worker reclaims it (ours: two minutes, longer than
    any send attempt with its timeouts); ``unacknowledged_lock_timeout`` bounds the reclaim
    lock so a SIGKILLed worker cannot block reclaiming forever (taskiq-redis #131); and
    ``maxlen`` keeps the stream from growing without end.
    """
    if settings.broker_url:
        return RedisStreamBroker(
            url=settings.broker_url,
            queue_name=STREAM,
            consumer_group_name=CONSUMER_GROUP,
            maxlen=100_000,
            idle_timeout=120_000,
            unacknowledged_lock_timeout=30.0,
        )
    return InMemoryBroker(max_async_tasks=20, propagate_exceptions=False)


def register_send_task(
    broker: AsyncBroker, deps: DeliveryDeps
) -> AsyncTaskiqDecoratedTask[[int], Coroutine[Any, Any, str]]:
    async def send_notification(notification_id: int) -> str:
        outcome: AttemptResult = await attempt_delivery(notification_id, deps)
        log.info("notifications.send %s -> %s", notification_id, outcome)
        return outcome.value

    return broker.register_task(send_notification, task_name=SEND_NOTIFICATION)
