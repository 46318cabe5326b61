"""Password hashing with argon2id (argon2-cffi), kept off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import argon2
import attrs
from argon2.exceptions import InvalidHashError, VerificationError


@attrs.frozen
class Argon2Parameters:
    """OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; never go below it in production."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1


class Argon2Hasher:
    """Implements ``PasswordHasher``; hashing runs in a bounded pool of threads.

    argon2-cffi releases the GIL while hashing, so a few threads give real parallelism
    and the bound keeps a burst of logins from eating all memory (each hash takes m KiB).
    """

    def __init__(self, parameters: Argon2Parameters = Argon2Parameters(), *, max_threads: int = 4) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            type=argon2.Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
