"""Whom a session names: the check behind every request with a manager's or a client's token.

Each is one read through :class:`~barbershop_core.ports.SessionReader`, outside any unit of
work: it writes nothing, and every authenticated request asks. Whether the session itself is
still current (its version) is the caller's comparison with what is returned here.
"""

from __future__ import annotations

import attrs

from barbershop_core.model import Manager
from barbershop_core.ports import SessionReader
from barbershop_core.use_cases.client_accounts import ClientAccount


@attrs.frozen
class SessionDeps:
    sessions: SessionReader


@attrs.frozen
class SignedInManager:
    manager_id: int


@attrs.frozen
class SignedInClient:
    client_id: int


async def signed_in_manager(command: SignedInManager, deps: SessionDeps) -> Manager | None:
    """The manager, while active: a deactivated one is as gone as one that never was."""
    manager = await deps.sessions.manager(command.manager_id)
    return manager if manager is not None and manager.is_active else None


async def signed_in_client(command: SignedInClient, deps: SessionDeps) -> ClientAccount | None:
    """The client and its person, while the person has a password (an account to sign in to)."""
    found = await deps.sessions.client_with_person(command.client_id)
    if found is None or found[1].password_hash is None:
        return None
    return ClientAccount(*found)
