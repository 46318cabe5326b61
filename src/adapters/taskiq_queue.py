"""The notification queue on Taskiq: the hand-off kicks task ``notifications.send``.

The message carries only the notification id; everything personal stays in the database.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from taskiq import AsyncTaskiqDecoratedTask

from barbershop_core.ports import QueueUnavailable


class TaskiqNotificationQueue:
    """Implements ``NotificationQueue``."""

    def __init__(self, task: AsyncTaskiqDecoratedTask[[int], Any]) -> None:
        self._task = task

    async def enqueue(self, notification_id: int) -> None:
        try:
            await self._task.kiq(notification_id)
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(f"could not queue notification {notification_id}") from exc
