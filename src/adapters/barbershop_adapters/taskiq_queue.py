"""The notification queue on Taskiq: the hand-off kicks task ``notifications.send``.

The message carries only the notification id; everything personal stays in the database.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError
from taskiq import AsyncBroker
from taskiq.exceptions import SendTaskError
from taskiq.kicker import AsyncKicker

from barbershop_core.ports import QueueUnavailable

DEFAULT_ENQUEUE_TIMEOUT_SECONDS = 3.0


class TaskiqNotificationQueue:
    """Implements ``NotificationQueue``.

    Taskiq wraps whatever the broker raised in ``SendTaskError``; that, a Redis error, and
    a hand-off slower than ``timeout_seconds`` all become :class:`QueueUnavailable`, which
    the use cases swallow: the notification is committed and the scheduler's sweep queues
    it later. A hand-off cut short by the timeout may still have reached Redis; the
    duplicate is harmless, since a worker's claim skips a notification already leased or
    finished.

    The task is named, not held: the queue exists before the task's own dependencies
    (whose units of work hand off to this queue) are built.
    """

    def __init__(
        self, broker: AsyncBroker, task_name: str, *, timeout_seconds: float = DEFAULT_ENQUEUE_TIMEOUT_SECONDS
    ) -> None:
        self._kicker: AsyncKicker[[int], Any] = AsyncKicker(task_name=task_name, broker=broker, labels={})
        self._timeout = timeout_seconds

    async def enqueue(self, notification_id: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._kicker.kiq(notification_id)
        except (SendTaskError, RedisError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(f"could not queue notification {notification_id}") from exc
