"""Whom a session names: an active manager, a client with an account; nobody otherwise."""

from __future__ import annotations

from barbershop_core.use_cases.accounts import (
    CreateManager,
    DeactivateManager,
    EndManagerSessions,
    create_manager,
    deactivate_manager,
    end_manager_sessions,
)
from barbershop_core.use_cases.sessions import (
    SignedInClient,
    SignedInManager,
    signed_in_client,
    signed_in_manager,
)
from tests.conftest import World
from tests.unit.support import PHONE, register


async def test_a_session_names_an_active_manager_with_the_current_session_version(world: World) -> None:
    sessions = world.container.session_deps()
    created = await create_manager(CreateManager("anna", None), world.managers())
    manager = created.manager
    await end_manager_sessions(EndManagerSessions(manager.id), world.managers())

    found = await signed_in_manager(SignedInManager(manager.id), sessions)
    assert found is not None
    assert (found.id, found.session_version, found.must_change_password) == (manager.id, 1, True)
    assert await signed_in_manager(SignedInManager(manager.id + 1), sessions) is None
    await deactivate_manager(DeactivateManager("anna"), world.managers())
    assert await signed_in_manager(SignedInManager(manager.id), sessions) is None


async def test_a_session_names_a_client_only_while_its_person_has_a_password(world: World) -> None:
    sessions = world.container.session_deps()
    registered = await register(world)

    account = await signed_in_client(SignedInClient(registered.client_id), sessions)
    assert account is not None
    assert (account.client.id, account.person.phone.e164) == (registered.client_id, PHONE)
    assert await signed_in_client(SignedInClient(registered.client_id + 1), sessions) is None
    world.db.tables["persons"][account.person.id].password_hash = None
    assert await signed_in_client(SignedInClient(registered.client_id), sessions) is None
