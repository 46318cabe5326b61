"""Brute-force limits on manager login: per login and per client address, in a sliding window.

**In-process**: each API process counts on its own, so ``serve --workers N`` allows up to N
times the attempts in the worst case, and a restart forgets the counts. That is acceptable
for a front-desk login guarded by argon2 (every guess costs the attacker a slow hash);
a shared store (Redis) can replace this class without touching the login handler.

Behind a reverse proxy the client address is the proxy's unless the ASGI server is told
to trust ``X-Forwarded-For`` (uvicorn ``--proxy-headers``/``--forwarded-allow-ips``).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import timedelta

import attrs


@attrs.frozen
class ThrottlePolicy:
    failures_per_login: int = 5
    failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    max_tracked_keys: int = 100_000
    """Bounds memory under a flood of made-up logins: the stalest keys are forgotten first."""


class LoginThrottle:
    """Counts login attempts that have not succeeded; refuses once a key has too many.

    An attempt is counted when it starts (so a burst of parallel guesses cannot all slip
    through while their hashes run) and taken back when it succeeds.
    """

    def __init__(self, policy: ThrottlePolicy = ThrottlePolicy(), *, now: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._now = now
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def begin(self, login: str, address: str) -> int | None:
        """Count an attempt; return seconds to wait instead when either key is over its limit."""
        now = self._now()
        keys = (
            (self._login_key(login), self._policy.failures_per_login),
            (f"a:{address}", self._policy.failures_per_address),
        )
        waits = [wait for key, limit in keys if (wait := self._wait(key, limit, now)) is not None]
        if waits:
            return max(waits)
        for key, _ in keys:
            self._hits(key).append(now)
        self._forget_overflow()
        return None

    def succeeded(self, login: str, address: str) -> None:
        """A correct password: the login's failures are forgiven, the address's attempt is taken back."""
        self._attempts.pop(self._login_key(login), None)
        hits = self._attempts.get(f"a:{address}")
        if hits:
            hits.pop()

    def _wait(self, key: str, limit: int, now: float) -> int | None:
        hits = self._attempts.get(key)
        if hits is None:
            return None
        window = self._policy.window.total_seconds()
        while hits and hits[0] <= now - window:
            hits.popleft()
        if not hits:
            del self._attempts[key]
            return None
        if len(hits) < limit:
            return None
        return max(1, math.ceil(hits[len(hits) - limit] + window - now))

    def _hits(self, key: str) -> deque[float]:
        hits = self._attempts.get(key)
        if hits is None:
            hits = self._attempts[key] = deque()
        self._attempts.move_to_end(key)
        return hits

    def _forget_overflow(self) -> None:
        while len(self._attempts) > self._policy.max_tracked_keys:
            self._attempts.popitem(last=False)

    @staticmethod
    def _login_key(login: str) -> str:
        return f"l:{login.strip().casefold()}"
