"""``GET /api/audit``: the audit trail, masked, for managers; the reading is itself audited.

Answers what 152-FZ asks an operator to be able to show: who registered a client, who saw
their data, what was sent. Phones are shown masked only (the events never hold a raw one;
free-text details are masked once more on the way out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final

import attrs
from litestar import get
from litestar.di import NamedDependency
from litestar.params import Parameter

from barbershop_core.context import Context
from barbershop_core.model import AuditAction, AuditEvent
from barbershop_core.use_cases.audit_trail import MAX_PAGE, AuditDeps, AuditPage, ReadAuditTrail, read_audit_trail
from barbershop_entrypoints.http.openapi import MANAGER_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.params import MAX_ID, MAX_PHONE_INPUT
from barbershop_entrypoints.logging_setup import mask_phones

_PATH: Final = "/api/audit"


@attrs.frozen(kw_only=True)
class AuditEventOut:
    id: int
    action: str
    actor: str
    """``manager:<id>``, ``client:<id>``, ``partner:<name>``, ``system:<part>``."""
    occurred_at: datetime
    request_id: str | None = None
    person_id: int | None = None
    client_id: int | None = None
    notification_id: int | None = None
    masked_phone: str | None = None
    details: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AuditPageOut:
    items: list[AuditEventOut]
    next_before_id: int | None = None
    """Pass as ``before_id`` for the next (older) page; absent on the last page."""


def event_body(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=event.id,
        action=event.action.value,
        actor=event.actor,
        occurred_at=event.occurred_at,
        request_id=event.request_id,
        person_id=event.person_id,
        client_id=event.client_id,
        notification_id=event.notification_id,
        masked_phone=event.masked_phone,
        details={name: mask_phones(value) for name, value in event.details.items()},
    )


def _utc(moment: datetime | None) -> datetime | None:
    """A time given without an offset is read as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def page_body(page: AuditPage) -> AuditPageOut:
    return AuditPageOut(items=[event_body(event) for event in page.events], next_before_id=page.next_before_id)


_EXAMPLE: Final = {
    "items": [
        {
            "id": 120,
            "action": "client_created",
            "actor": "manager:1",
            "occurred_at": "2025-11-22T10:15:00Z",
            "request_id": "5f2c0a",
            "person_id": 41,
            "client_id": 42,
            "notification_id": None,
            "masked_phone": "+7911*****67",
            "details": {},
        }
    ],
    "next_before_id": 120,
}

_ACTIONS: Final = [action.value for action in AuditAction]


@get(
    _PATH,
    tags=["audit"],
    summary="Журнал действий (маскированный)",
    description=(
        "События журнала, новые первыми, страницами (`limit`, `before_id` из `next_before_id`). Фильтры: клиент, "
        "телефон (любой привычный вид), действие, период (`since` включительно, `until` исключая). Телефоны — "
        "только маскированные. Само чтение журнала записывается в журнал (`audit_viewed`)."
    ),
    responses={
        **ok(AuditPageOut, "Страница журнала", [example("page", _EXAMPLE)]),
        **problems(_PATH, (400, 422, *MANAGER_PROBLEMS)),
    },
)
async def audit_trail(
    context: NamedDependency[Context],
    audit: NamedDependency[AuditDeps],
    client_id: Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="Id клиента")] = None,
    phone: Annotated[
        str | None,
        Parameter(min_length=1, max_length=MAX_PHONE_INPUT, description="Телефон клиента в любом привычном виде"),
    ] = None,
    action: Annotated[
        str | None, Parameter(description="Действие", examples=[example("action", "client_created")])
    ] = None,
    since: Annotated[datetime | None, Parameter(description="Не раньше (ISO 8601)")] = None,
    until: Annotated[datetime | None, Parameter(description="Раньше чем (ISO 8601)")] = None,
    before_id: Annotated[int | None, Parameter(ge=1, le=MAX_ID, description="Курсор: события с id меньше")] = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Сколько событий на странице")] = 50,
) -> AuditPageOut:
    page = await read_audit_trail(
        ReadAuditTrail(
            context,
            client_id=client_id,
            phone=phone,
            action=action,
            since=_utc(since),
            until=_utc(until),
            before_id=before_id,
            limit=limit,
        ),
        audit,
    )
    return page_body(page)
