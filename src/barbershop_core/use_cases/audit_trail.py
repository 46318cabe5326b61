"""The audit trail's retention: events older than the retention period are purged."""

from __future__ import annotations

from datetime import timedelta

from barbershop_core.errors import ValidationError
from barbershop_core.ports import Clock, UnitOfWorkFactory
from barbershop_core.use_cases._shared import log

MIN_RETENTION = timedelta(days=30)
"""Below this a typo (days for years) would wipe the trail an operator must be able to show."""


async def purge_audit_trail(*, retention: timedelta, uow_factory: UnitOfWorkFactory, clock: Clock) -> int:
    """Delete the events older than ``retention``; the purge itself is recorded. Returns how many."""
    if retention < MIN_RETENTION:
        raise ValidationError(f"Срок хранения журнала — не меньше {MIN_RETENTION.days} дней", field="retention")
    now = clock.now()
    async with uow_factory() as uow:
        deleted = await uow.audit.purge_before(now - retention, now=now)
        await uow.commit()
    log.info("audit trail purged: %s events older than %s days", deleted, retention.days)
    return deleted
