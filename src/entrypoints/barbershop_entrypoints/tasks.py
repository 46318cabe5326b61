"""The Taskiq side: the broker from settings and the task ``notifications.send``.

Who owns what. The database owns every notification's state: when it is due, who holds
the current attempt (a lease), how many attempts were made and when the next one is
(A4's backoff). Redis only carries "look at notification 42 now". So a lost, repeated
or late message costs nothing: the scheduler's sweep queues whatever the database says
is due, and a worker's claim skips a notification that is not due, leased or finished.
Taskiq's retry middleware is not used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, AsyncTaskiqDecoratedTask, BrokerMessage, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from barbershop_core.use_cases.delivery import (
    SENDS_OF_REGISTRATIONS,
    AttemptDelivery,
    AttemptResult,
    Batching,
    DeliveryDeps,
)
from barbershop_core.use_cases.fallback import FallbackDeps, WorkerDeps, deliver
from barbershop_entrypoints.metrics import count_attempt
from barbershop_entrypoints.settings import Settings

SEND_NOTIFICATION: Final = "notifications.send"
CONSUMER_GROUP: Final = "barbershop-workers"
STREAM_MAXLEN: Final = 100_000
RECLAIM_LOCK_TIMEOUT_SECONDS: Final = 30.0
XREAD_BLOCK_MS: Final = 2_000
REDIS_CONNECT_TIMEOUT_SECONDS: Final = 2.0
REDIS_SOCKET_TIMEOUT_SECONDS: Final = 10.0
"""Longer than ``XREAD_BLOCK_MS``: a blocking read must not time out by itself."""
_RECONNECT_FIRST_DELAY: Final = 0.5
_RECONNECT_MAX_DELAY: Final = 15.0

log = logging.getLogger("barbershop.queue")


class NotificationStreamBroker(RedisStreamBroker):
    """taskiq-redis's Stream broker, made to ride out Redis going away.

    * ``startup`` does not fail while Redis is down: the API starts, registrations
      succeed (their hand-off fails and the sweep queues them later), and the consumer
      group is declared when Redis answers.
    * ``listen`` reconnects with backoff instead of failing, and declares the consumer
      group again when Redis lost it (``NOGROUP``: a Redis without persistence restarted).
      The group starts at the beginning of the stream (``consumer_id="0"``), so messages
      added while it did not exist are read too; on an existing group the id is unused.
    * One Redis client over the broker's pool sends every hand-off (``XADD``) and every
      acknowledgement (``XACK``), where taskiq-redis builds a client for each message:
      the acknowledgements were ~9 % of a busy worker's Python, more than half of it
      building clients (``docs/performance.md``). The commands are taskiq-redis 1.2's own.
    """

    @functools.cached_property
    def _redis(self) -> Redis:
        return Redis(connection_pool=self.connection_pool)

    async def kick(self, message: BrokerMessage) -> None:
        queue_name = message.labels.get("queue_name") or self.queue_name
        await self._redis.xadd(queue_name, {b"data": message.message}, maxlen=self.maxlen, approximate=self.approximate)

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def acknowledge() -> None:
            await self._redis.xack(queue_name, self.consumer_group_name, id)

        return acknowledge

    async def startup(self) -> None:
        try:
            await super().startup()
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable at startup (%s); the queue is used once it answers", type(exc).__name__)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        delay = _RECONNECT_FIRST_DELAY
        while True:
            messages = super().listen()
            try:
                await self._declare_consumer_group()
                async for message in messages:
                    delay = _RECONNECT_FIRST_DELAY
                    yield message
            except ResponseError as exc:
                # NOGROUP: the group is gone; UNBLOCKED: the stream was deleted under a blocked read.
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                log.warning(
                    "stream %s lost its consumer group (Redis restarted empty?); declaring it again", self.queue_name
                )
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("Redis unavailable (%s); the worker reconnects in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_DELAY)
            finally:
                await messages.aclose()


def build_broker(settings: Settings) -> AsyncBroker:
    """Redis Stream broker when ``BARBERSHOP_BROKER_URL`` is set, the in-process one otherwise.

    Why the Stream broker: it acknowledges a message only after its task ran (the worker
    runs with ``AcknowledgeType.WHEN_EXECUTED``), so a message whose worker died stays in
    the consumer group's pending list; the list and pub/sub brokers drop it. Settings:

    * ``idle_timeout`` (``BARBERSHOP_BROKER_REDELIVERY_SECONDS``, default two minutes
      instead of taskiq-redis's ten): a message unacknowledged this long is reclaimed
      (``XAUTOCLAIM``) by another worker. taskiq-redis 1.2 reclaims only after a read
      that brought new messages, so on an idle queue the sweep's re-queue (after the
      send lease ran out) is what brings an abandoned notification back; the reclaimed
      copy that follows finds it finished and is acknowledged.
    * ``unacknowledged_lock_timeout``: the reclaim lock expires by itself, so a worker
      SIGKILLed while holding it cannot stop reclaiming for good (taskiq-redis #131).
    * ``maxlen``: the stream is trimmed (approximately) to this many entries instead of
      growing forever. Trimming drops acknowledged entries in practice; should a backlog
      ever exceed it, the dropped notifications are still due in the database and the
      sweep queues them again.
    * connect and socket timeouts, so that a Redis that hangs cannot hang a registration
      (the hand-off gives up and the sweep covers it).
    """
    if settings.queue.broker_url:
        return NotificationStreamBroker(
            url=settings.queue.broker_url,
            queue_name=settings.queue.broker_stream,
            consumer_group_name=CONSUMER_GROUP,
            consumer_id="0",
            maxlen=STREAM_MAXLEN,
            idle_timeout=int(settings.queue.broker_redelivery.total_seconds() * 1000),
            unacknowledged_lock_timeout=RECLAIM_LOCK_TIMEOUT_SECONDS,
            xread_block=XREAD_BLOCK_MS,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        )
    return InMemoryBroker(max_async_tasks=20, propagate_exceptions=False)


def batching_for(broker: AsyncBroker) -> Batching:
    """A server that sends itself gets one send per registration, on the CPUs that hash."""
    return SENDS_OF_REGISTRATIONS if isinstance(broker, InMemoryBroker) else Batching()


def register_send_task(
    broker: AsyncBroker, deps: DeliveryDeps, fallback: FallbackDeps | None = None
) -> AsyncTaskiqDecoratedTask[[int], Coroutine[Any, Any, str]]:
    worker = WorkerDeps(delivery=deps, fallback=fallback, batching=batching_for(broker))

    async def send_notification(notification_id: int) -> str:
        """One attempt (and, when it failed for good, the fallback step); the outcome is
        committed before the task returns and the message is acknowledged."""
        outcome: AttemptResult = await deliver(AttemptDelivery(notification_id), worker)
        log.info("notifications.send %s -> %s", notification_id, outcome)
        count_attempt(outcome.value)
        return outcome.value

    return broker.register_task(send_notification, task_name=SEND_NOTIFICATION)
