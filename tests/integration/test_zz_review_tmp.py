from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.integration.sql_fixtures import NOW, Backend, a_notification, add_client


async def one(backend: Backend) -> int:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        n = a_notification(client.id, now=NOW)
        await uow.notifications.add(n)
        await uow.commit()
    return n.id


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_waiter_sees_holders_children(backend: Backend) -> None:
    nid = await one(backend)
    async with backend.uow_factory() as holder:
        held = await holder.notifications.get_for_update(nid)
        assert held is not None

        async def second() -> tuple:
            async with backend.uow_factory() as uow:
                n = await uow.notifications.get_for_update(nid)
                assert n is not None
                seen = (n.status, len(n.history), len(n.attempts))
                return seen

        if backend.name == "sqlite":
            held.claim(NOW, NOW + timedelta(minutes=2))
            held.record_sent(NOW, "p-1")
            await holder.notifications.save(held)
            await holder.commit()
            expected = (held.status, len(held.history), len(held.attempts))
            result = await second()
        else:
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.3)
            held.claim(NOW, NOW + timedelta(minutes=2))
            held.record_sent(NOW, "p-1")
            await holder.notifications.save(held)
            await holder.commit()
            expected = (held.status, len(held.history), len(held.attempts))
            result = await asyncio.wait_for(waiting, timeout=5)
    print("expected", expected, "got", result)
    assert result == expected
