"""Reading the audit trail: filters, pages, and the reading recorded (against the in-memory fakes)."""

from __future__ import annotations

import pytest

from barbershop_core.context import Context
from barbershop_core.errors import InvalidPhone, ValidationError
from barbershop_core.model import Actor, AuditAction
from barbershop_core.use_cases.audit_trail import ReadAuditTrail, read_audit_trail
from barbershop_core.use_cases.registration import RegisterClient, register_client
from tests.conftest import World
from tests.unit.support import audit_events

MANAGER = Context(Actor.manager(7), request_id="r-1")


async def _register(world: World, phone: str) -> int:
    result = await register_client(RegisterClient(phone, "Иван", MANAGER), world.registration())
    return result.client_id


async def test_a_client_filter_gives_only_that_clients_events_newest_first(world: World) -> None:
    client_id = await _register(world, "+79111234567")
    await _register(world, "+79111234568")

    page = await read_audit_trail(ReadAuditTrail(MANAGER, client_id=client_id), world.audit())

    assert page.events
    assert {event.client_id for event in page.events} == {client_id}
    assert [event.id for event in page.events] == sorted((event.id for event in page.events), reverse=True)


async def test_a_phone_narrows_to_its_person_and_the_reading_is_recorded_masked(world: World) -> None:
    await _register(world, "+79111234567")
    await _register(world, "+79111234568")

    page = await read_audit_trail(
        ReadAuditTrail(MANAGER, phone="8 911 123-45-67", action="client_created"), world.audit()
    )

    assert [event.masked_phone for event in page.events] == ["+7911*****67"]
    viewed = audit_events(world)[-1]
    assert viewed.action is AuditAction.AUDIT_VIEWED
    assert viewed.actor == "manager:7"
    assert viewed.details == {"phone": "+7911*****67", "action": "client_created"}
    assert "+79111234567" not in repr(viewed)


async def test_the_next_page_starts_below_the_cursor(world: World) -> None:
    for last in range(3):
        await _register(world, f"+7911123456{last}")
    ask = ReadAuditTrail(MANAGER, action="client_created", limit=2)

    first = await read_audit_trail(ask, world.audit())
    second = await read_audit_trail(
        ReadAuditTrail(MANAGER, action="client_created", limit=2, before_id=first.next_before_id), world.audit()
    )

    assert len(first.events) == 2
    assert first.next_before_id == first.events[-1].id
    assert len(second.events) == 1
    assert second.next_before_id is None


@pytest.mark.parametrize(
    ("ask", "error"),
    [
        (ReadAuditTrail(MANAGER, limit=0), ValidationError),
        (ReadAuditTrail(MANAGER, limit=201), ValidationError),
        (ReadAuditTrail(MANAGER, action="not_an_action"), ValidationError),
        (ReadAuditTrail(MANAGER, phone="12"), InvalidPhone),
    ],
)
async def test_a_bad_question_is_refused_and_nothing_is_recorded(
    world: World, ask: ReadAuditTrail, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await read_audit_trail(ask, world.audit())

    assert audit_events(world) == []
