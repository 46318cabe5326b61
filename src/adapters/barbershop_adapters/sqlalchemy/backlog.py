"""The notifications due and not sent, for the metrics: how many, and since when the oldest is due."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.tables import UtcDateTime
from barbershop_core.model import NotificationStatus


async def notification_backlog(engine: AsyncEngine, now: datetime) -> tuple[int, datetime | None]:
    """Scheduled notifications whose time has come (leased ones included: not sent yet)."""
    notifications = t.client_notifications
    statement = sa.select(sa.func.count(), sa.func.min(notifications.c.next_attempt_at, type_=UtcDateTime())).where(
        notifications.c.status == NotificationStatus.SCHEDULED.value,
        notifications.c.next_attempt_at <= now,
    )
    async with engine.connect() as connection:
        count, oldest = (await connection.execute(statement)).one()
    return int(count), oldest
