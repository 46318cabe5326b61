"""Whom a session names: an active manager, a client with an account; nobody otherwise."""

from __future__ import annotations

from barbershop_core.use_cases.accounts import create_manager, deactivate_manager, end_manager_sessions
from barbershop_core.use_cases.sessions import signed_in_client, signed_in_manager
from tests.conftest import World
from tests.fakes import FakeSessionReader
from tests.unit.support import PHONE, register


async def test_a_session_names_an_active_manager_with_the_current_session_version(world: World) -> None:
    sessions = FakeSessionReader(world.db)
    created = await create_manager(
        "anna", None, uow_factory=world.uow, hasher=world.hasher, passwords=world.passwords, clock=world.clock
    )
    manager = created.manager
    await end_manager_sessions(manager.id, uow_factory=world.uow)

    found = await signed_in_manager(manager.id, sessions=sessions)
    assert found is not None
    assert (found.id, found.session_version, found.must_change_password) == (manager.id, 1, True)
    assert await signed_in_manager(manager.id + 1, sessions=sessions) is None
    await deactivate_manager("anna", uow_factory=world.uow)
    assert await signed_in_manager(manager.id, sessions=sessions) is None


async def test_a_session_names_a_client_only_while_its_person_has_a_password(world: World) -> None:
    sessions = FakeSessionReader(world.db)
    registered = await register(world)

    account = await signed_in_client(registered.client_id, sessions=sessions)
    assert account is not None
    assert (account.client.id, account.person.phone.e164) == (registered.client_id, PHONE)
    assert await signed_in_client(registered.client_id + 1, sessions=sessions) is None
    world.db.tables["persons"][account.person.id].password_hash = None
    assert await signed_in_client(registered.client_id, sessions=sessions) is None
