"""The Stream broker's hand-off and acknowledgement on the shared Redis: one client for all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from taskiq import BrokerMessage

from barbershop_entrypoints.tasks import CONSUMER_GROUP, NotificationStreamBroker

pytestmark = pytest.mark.redis


@pytest.fixture
async def broker(shared_redis: str) -> AsyncIterator[NotificationStreamBroker]:
    stream = f"test-broker-{uuid.uuid4().hex[:8]}"
    made = NotificationStreamBroker(
        url=shared_redis, queue_name=stream, consumer_group_name=CONSUMER_GROUP, consumer_id="0", xread_block=200
    )
    await made.startup()
    yield made
    client = redis.asyncio.Redis.from_url(shared_redis)
    try:
        await client.delete(stream)
    finally:
        await client.aclose()
    await made.shutdown()


def a_message(number: int) -> BrokerMessage:
    return BrokerMessage(task_id=f"t{number}", task_name="notifications.send", message=b"%d" % number, labels={})


async def test_hand_offs_and_acknowledgements_share_one_client_and_leave_nothing_pending(
    broker: NotificationStreamBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    built = redis.asyncio.Redis.__init__

    def counted(self: redis.asyncio.Redis, *args: Any, **kwargs: Any) -> None:
        made.append(1)
        built(self, *args, **kwargs)

    monkeypatch.setattr(redis.asyncio.Redis, "__init__", counted)
    await asyncio.gather(*(broker.kick(a_message(number)) for number in range(10)))
    received = []
    listening = broker.listen()
    async for message in listening:
        received.append(message)
        if len(received) == 10:
            break
    await listening.aclose()
    await asyncio.gather(*(message.ack() for message in received))

    assert sorted(int(message.data) for message in received) == list(range(10))
    # The listener makes two of its own (declaring the group, reading); the 10 hand-offs and
    # 10 acknowledgements one between them, where taskiq-redis's own methods make one each.
    assert len(made) <= 3
    pending = await broker._redis.xpending(broker.queue_name, CONSUMER_GROUP)
    assert pending["pending"] == 0
