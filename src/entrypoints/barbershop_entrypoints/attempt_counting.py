"""Where brute-force counts live: Redis when the installation has a broker, the database otherwise.

With a broker, Redis is the primary store (fast, expiring by itself). When Redis does not
answer, counting goes on in the database, which every process shares as well: a Redis
outage must neither stop managers from logging in (registrations go on meanwhile, the
sweep delivers later) nor lift the limits.
"""

from __future__ import annotations

import logging

from barbershop_core.ports import AttemptCounter, StorageUnavailable

log = logging.getLogger("barbershop.security")


class RedisFirstAttemptCounter:
    """Implements ``AttemptCounter`` over two: ``primary`` while it answers, ``fallback`` when not.

    Counts made during an outage stay in the fallback and are not merged back: for a window
    of 15 minutes an attacker gains at most one window's worth of attempts.
    """

    def __init__(self, primary: AttemptCounter, fallback: AttemptCounter) -> None:
        self._primary = primary
        self._fallback = fallback

    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        try:
            return await self._primary.add(key, window_start, window_seconds)
        except StorageUnavailable as outage:
            log.warning("attempt counter: %s; counting in the database", outage)
            return await self._fallback.add(key, window_start, window_seconds)

    async def take_back(self, key: str, window_start: int) -> None:
        try:
            await self._primary.take_back(key, window_start)
        except StorageUnavailable:
            await self._fallback.take_back(key, window_start)

    async def reset(self, key: str, window_start: int) -> None:
        try:
            await self._primary.reset(key, window_start)
        except StorageUnavailable:
            await self._fallback.reset(key, window_start)
