"""Brute-force limits on passwords: per (login, address) and per address, shared by all processes.

Why these two keys and not "per login": a limit per login alone lets anyone lock a known
manager out by guessing wrong on purpose. Per (login, address), an attacker is slowed
down on the logins it tries and the real manager, at another address, is not; per
address, one address cannot spray guesses over many logins. A distributed attack on one
login still costs a slow argon2 hash per guess.

Counts live in an :class:`~barbershop_core.ports.AttemptCounter`: Redis when the
installation has a broker, the database otherwise, so ``serve --workers N`` and several
hosts share them and a restart forgets nothing. Windows are fixed (aligned to the window
length): simple to share, at the price of up to twice the limit around a window's edge.
Keys are digests, so the store never holds a login or an address in clear.

Behind a reverse proxy the client address is the proxy's unless the ASGI server is told
to trust ``X-Forwarded-For`` (uvicorn ``--proxy-headers``/``--forwarded-allow-ips``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final

import attrs

from barbershop_core.ports import AttemptCounter

LOGIN_SCOPE: Final = "login"
"""The scope of a manager's sign-in (the default); other attempts name their own."""


@attrs.frozen
class ThrottlePolicy:
    failures_per_login_and_address: int = 5
    failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]


class LoginThrottle:
    """Counts password attempts that have not succeeded; refuses once a key has too many.

    An attempt is counted when it starts (so a burst of parallel guesses cannot all slip
    through while their hashes run) and taken back when it succeeds.
    """

    def __init__(
        self,
        counter: AttemptCounter,
        policy: ThrottlePolicy = ThrottlePolicy(),
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._counter = counter
        self._policy = policy
        self._now = now

    async def begin(self, login: str, address: str, *, scope: str = LOGIN_SCOPE) -> int | None:
        """Count an attempt; return seconds to wait instead when either key is over its limit."""
        now = self._now()
        window = int(self._policy.window.total_seconds())
        start = int(now // window * window)
        over = False
        for key, limit in self._keys(login, address, scope):
            count = await self._counter.add(key, start, window)
            over = over or count > limit
        if not over:
            return None
        return max(1, int(start + window - now + 0.999))

    async def succeeded(self, login: str, address: str, *, scope: str = LOGIN_SCOPE) -> None:
        """A correct password: the (login, address) failures are forgiven, the address's attempt is taken back."""
        (pair, _), (by_address, _) = self._keys(login, address, scope)
        window = int(self._policy.window.total_seconds())
        start = int(self._now() // window * window)
        await self._counter.reset(pair, start)
        await self._counter.take_back(by_address, start)

    def _keys(self, login: str, address: str, scope: str) -> tuple[tuple[str, int], tuple[str, int]]:
        return (
            (f"{scope}:la:{_digest(login.strip().casefold(), address)}", self._policy.failures_per_login_and_address),
            (f"{scope}:a:{_digest(address)}", self._policy.failures_per_address),
        )
