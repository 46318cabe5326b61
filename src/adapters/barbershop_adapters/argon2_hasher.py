"""Password hashing with argon2id (argon2-cffi), kept off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import argon2
import attrs
from argon2.exceptions import InvalidHashError, VerificationError


@attrs.frozen
class Argon2Parameters:
    """OWASP's minimum for argon2id is m=19 MiB, t=2, p=1; never go below it in production."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1


HASH_THREAD_NICENESS: Final = 4
"""How much lower than the rest of the process the hash threads run (Linux ``nice``).

Measured (``bench/uc04_bench.py``, 8 in flight, back to back): 0 → 64 registrations/s, loop
lag p99 12 ms; 10 → 56/s, 7–9 ms (the hashes also yield to every other process of the box);
4 → 71/s, 8 ms."""


class Argon2Hasher:
    """Implements ``PasswordHasher``; hashing runs in a bounded pool of threads.

    argon2-cffi releases the GIL while hashing, so a few threads give real parallelism
    and the bound keeps a burst of logins from eating all memory (each hash takes m KiB).

    The hash threads run ``niceness`` steps below the event loop's thread (Linux keeps a
    nice value per thread). With one hash thread per CPU, every CPU is busy hashing under
    load, and the event loop — the thread that answers every request — waited for a CPU
    like any other thread: its lag grew with the hashes. At a lower priority the hashes
    still take every CPU nobody else wants, but the loop (and the database) get one the
    moment they need it.
    """

    def __init__(
        self,
        parameters: Argon2Parameters = Argon2Parameters(),
        *,
        max_threads: int = 4,
        niceness: int = HASH_THREAD_NICENESS,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            type=argon2.Type.ID,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="argon2", initializer=_lower_priority, initargs=(niceness,)
        )

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


def _lower_priority(niceness: int) -> None:
    """Make the calling thread ``niceness`` steps nicer, where the system keeps a nice value
    per thread (Linux); elsewhere, or when refused, the thread keeps the process's priority."""
    # Only Linux takes a thread id where setpriority() takes a process id.
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + niceness)
