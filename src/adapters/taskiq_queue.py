"""The notification queue on Taskiq: the hand-off kicks task ``notifications.send``.

The message carries only the notification id; everything personal stays in the database.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError
from taskiq import AsyncTaskiqDecoratedTask
from taskiq.exceptions import SendTaskError

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
    """

    def __init__(
        self, task: AsyncTaskiqDecoratedTask[[int], Any], *, timeout_seconds: float = DEFAULT_ENQUEUE_TIMEOUT_SECONDS
    ) -> None:
        self._task = task
        self._timeout = timeout_seconds

    async def enqueue(self, notification_id: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._task.kiq(notification_id)
        except (SendTaskError, RedisError, OSError, TimeoutError) as exc:
            raise QueueUnavailable(f"could not queue notification {notification_id}") from exc
