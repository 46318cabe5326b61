"""Helpers shared by the unit tests: reading committed rows, registering a client, interleaving."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from barbershop_core.context import Context
from barbershop_core.model import AuditAction, AuditEvent, NotificationTemplate, Partner, TemplateKind
from barbershop_core.use_cases.accounts import CreatePartner, create_partner
from barbershop_core.use_cases.registration import RegisterClient, RegistrationResult, register_client
from tests.conftest import MANAGER, World
from tests.fakes import FakeUnitOfWork, InMemoryDatabase, RecordingQueue

PHONE = "+79111234567"
MASKED_PHONE = "+7911*****67"
OTHER_PHONE = "+79217654321"

DATA_TABLES = ("persons", "clients", "consents", "notifications", "audit", "purchases", "idempotency")


def rows(world: World, table: str) -> list[Any]:
    """Committed rows of ``table`` in id order (the fake commits a set of changes, in no order)."""
    committed = world.db.tables.get(table, {})
    return [committed[key] for key in sorted(committed)]


def audit_events(world: World) -> list[AuditEvent]:
    return rows(world, "audit")


def audit_actions(world: World) -> list[AuditAction]:
    return [event.action for event in audit_events(world)]


def nothing_stored(world: World) -> bool:
    """No row in any table the use cases write (reference data aside)."""
    return all(not world.db.tables.get(table) for table in DATA_TABLES)


async def register(
    world: World,
    phone: str = PHONE,
    first_name: str = "Иван",
    *,
    context: Context = MANAGER,
    **options: Any,
) -> RegistrationResult:
    return await register_client(
        RegisterClient(phone=phone, first_name=first_name, context=context, **options), world.registration()
    )


async def save_template(world: World, template: NotificationTemplate) -> None:
    async with world.uow() as uow:
        await uow.reference.save_template(template)
        await uow.commit()


async def add_marketing_template(world: World, code: str = "PROMO_AUTUMN", channel: str = "sms") -> None:
    await save_template(world, NotificationTemplate(code, channel, TemplateKind.MARKETING, "{first_name}, скидка 20%!"))


async def make_partner(world: World, name: str = "retail-1") -> Partner:
    created = await create_partner(CreatePartner(name), world.partners())
    return created.partner


def remove_template(world: World, code: str, channel: str) -> None:
    """Make a template absent (not merely inactive), as on an installation that never had it."""
    del world.db.tables["templates"][(code, channel)]


class InterleavingUnitOfWork(FakeUnitOfWork):
    """Yields to the event loop around commit, so that concurrent use cases interleave there.

    ``before_commit``: every transaction reaches its commit before any of them commits, as two
    requests on two processes that both passed their checks. ``after_commit``: the other
    request runs right after this one's commit became visible.
    """

    def __init__(self, db: InMemoryDatabase, queue: RecordingQueue, *, before_commit: bool, after_commit: bool) -> None:
        super().__init__(db, queue)
        self._before = before_commit
        self._after = after_commit

    async def commit(self) -> None:
        if self._before:
            await asyncio.sleep(0)
        await super().commit()
        if self._after:
            await asyncio.sleep(0)


def interleaving(
    world: World, *, before_commit: bool = False, after_commit: bool = False
) -> Callable[[], InterleavingUnitOfWork]:
    def factory() -> InterleavingUnitOfWork:
        return InterleavingUnitOfWork(world.db, world.queue, before_commit=before_commit, after_commit=after_commit)

    return factory
