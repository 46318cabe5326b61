"""The audit trail: read by managers (masked, audited itself), and purged after the retention period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import ValidationError
from barbershop_core.model import AuditAction, AuditEvent
from barbershop_core.ports import AuditQuery, Clock, UnitOfWorkFactory
from barbershop_core.use_cases._shared import Trail, log
from barbershop_core.values import PhoneNumber

MIN_RETENTION = timedelta(days=30)
"""Below this a typo (days for years) would wipe the trail an operator must be able to show."""


@attrs.frozen
class AuditDeps:
    """The ports of the audit-trail use cases."""

    uow_factory: UnitOfWorkFactory
    clock: Clock


@attrs.frozen
class PurgeAuditTrail:
    retention: timedelta


async def purge_audit_trail(command: PurgeAuditTrail, deps: AuditDeps) -> int:
    """Delete the events older than ``retention``; the purge itself is recorded. Returns how many."""
    retention, uow_factory, clock = command.retention, deps.uow_factory, deps.clock
    if retention < MIN_RETENTION:
        raise ValidationError(f"Срок хранения журнала — не меньше {MIN_RETENTION.days} дней", field="retention")
    now = clock.now()
    async with uow_factory() as uow:
        deleted = await uow.audit.purge_before(now - retention, now=now)
        await uow.commit()
    log.info("audit trail purged: %s events older than %s days", deleted, retention.days)
    return deleted


MAX_PAGE = 200


@attrs.frozen
class ReadAuditTrail:
    """A manager's question to the trail; ``phone`` is parsed like everywhere else and
    narrows the events to that person's (an unknown phone has none)."""

    context: Context
    client_id: int | None = None
    phone: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


@attrs.frozen
class AuditPage:
    events: Sequence[AuditEvent]
    next_before_id: int | None
    """Pass it as ``before_id`` for the next (older) page; None on the last one."""


async def read_audit_trail(command: ReadAuditTrail, deps: AuditDeps) -> AuditPage:
    """The events that match, newest first, a page at a time. The reading is itself recorded
    (``audit_viewed``, with the filters, the phone masked): who looked at whose data."""
    request, uow_factory, clock = command, deps.uow_factory, deps.clock
    if not 1 <= request.limit <= MAX_PAGE:
        raise ValidationError(f"limit — от 1 до {MAX_PAGE}", field="limit")
    action = _action(request.action)
    phone = PhoneNumber.parse(request.phone) if request.phone is not None else None
    async with uow_factory() as uow:
        person = await uow.persons.get_by_phone(phone) if phone is not None else None
        events: Sequence[AuditEvent] = []
        if phone is None or person is not None:
            events = await uow.audit.search(
                AuditQuery(
                    client_id=request.client_id,
                    person_id=person.id if person is not None else None,
                    action=action,
                    since=request.since,
                    until=request.until,
                    before_id=request.before_id,
                    limit=request.limit + 1,
                )
            )
        filters = {
            name: str(value)
            for name, value in (
                ("client_id", request.client_id),
                ("phone", phone.masked if phone is not None else None),
                ("action", action),
                ("since", request.since.isoformat() if request.since else None),
                ("until", request.until.isoformat() if request.until else None),
                ("before_id", request.before_id),
            )
            if value is not None
        }
        viewed = Trail(request.context, clock.now()).event(AuditAction.AUDIT_VIEWED)
        # Filed under the client / person read about, so their own trail shows who looked.
        uow.record(
            attrs.evolve(
                viewed,
                client_id=request.client_id,
                person_id=person.id if person is not None else None,
                masked_phone=phone.masked if phone is not None else None,
                details=filters,
            )
        )
        await uow.commit()
    page = list(events[: request.limit])
    more = len(events) > request.limit
    return AuditPage(page, page[-1].id if more and page else None)


def _action(raw: str | None) -> AuditAction | None:
    if raw is None:
        return None
    try:
        return AuditAction(raw)
    except ValueError:
        raise ValidationError(f"Неизвестное действие журнала: {raw[:64]}", field="action") from None
