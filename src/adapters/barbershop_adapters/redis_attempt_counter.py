"""``AttemptCounter`` on Redis: one counter key per (key, window), expiring with its window."""

from __future__ import annotations

from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from barbershop_core.ports import StorageUnavailable

PREFIX: Final = "barbershop:attempts:"


class RedisAttemptCounter:
    """Implements ``AttemptCounter``. INCR and EXPIRE go in one round trip (a pipeline);
    Redis being down is :class:`StorageUnavailable`, so a login fails closed (503), never
    unthrottled."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        name = self._name(key, window_start)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_seconds + 60)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"attempt counter unavailable ({type(exc).__name__})") from None
        return int(count)

    async def take_back(self, key: str, window_start: int) -> None:
        name = self._name(key, window_start)
        try:
            # Never below zero: a key that expired meanwhile stays gone.
            await self._redis.eval(_DECREMENT_IF_POSITIVE, 1, name)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"attempt counter unavailable ({type(exc).__name__})") from None

    async def reset(self, key: str, window_start: int) -> None:
        try:
            await self._redis.delete(self._name(key, window_start))
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"attempt counter unavailable ({type(exc).__name__})") from None

    @staticmethod
    def _name(key: str, window_start: int) -> str:
        return f"{PREFIX}{key}:{window_start}"


_DECREMENT_IF_POSITIVE: Final = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""
