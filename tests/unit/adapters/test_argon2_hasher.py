"""The argon2id password hasher (argon2-cffi), with small parameters except where the defaults are the point."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator

import argon2
import pytest

from barbershop_adapters.argon2_hasher import Argon2Hasher, Argon2Parameters

FAST = Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1)


@pytest.fixture
def hasher() -> Iterator[Argon2Hasher]:
    hasher = Argon2Hasher(FAST, max_threads=2)
    yield hasher
    hasher.close()


def test_the_default_parameters_are_at_least_owasps_minimum() -> None:
    parameters = Argon2Parameters()

    assert parameters.memory_cost_kib >= 19456
    assert parameters.time_cost >= 2
    assert parameters.parallelism >= 1


async def test_a_hash_with_the_default_parameters_is_argon2id_with_them() -> None:
    hasher = Argon2Hasher()
    try:
        password_hash = await hasher.hash("correct-horse-1")
    finally:
        hasher.close()

    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    parameters = argon2.extract_parameters(password_hash)
    assert (parameters.type, parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        argon2.Type.ID,
        19456,
        2,
        1,
    )


async def test_a_hash_is_salted_and_never_contains_the_password(hasher: Argon2Hasher) -> None:
    first = await hasher.hash("correct-horse-1")
    second = await hasher.hash("correct-horse-1")

    assert first.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert first != second
    assert "correct-horse-1" not in first


async def test_the_right_password_verifies(hasher: Argon2Hasher) -> None:
    password_hash = await hasher.hash("пароль-с-кириллицей")

    assert await hasher.verify(password_hash, "пароль-с-кириллицей") is True


async def test_a_wrong_password_does_not_verify(hasher: Argon2Hasher) -> None:
    password_hash = await hasher.hash("correct-horse-1")

    assert await hasher.verify(password_hash, "correct-horse-2") is False
    assert await hasher.verify(password_hash, "") is False


@pytest.mark.parametrize("garbage", ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken", "fake$abc"])
async def test_a_garbage_hash_does_not_verify_and_needs_rehash(hasher: Argon2Hasher, garbage: str) -> None:
    assert await hasher.verify(garbage, "correct-horse-1") is False
    assert hasher.needs_rehash(garbage) is True


async def test_a_hash_made_with_the_current_parameters_needs_no_rehash(hasher: Argon2Hasher) -> None:
    assert hasher.needs_rehash(await hasher.hash("correct-horse-1")) is False


@pytest.mark.parametrize(
    "grown",
    [
        Argon2Parameters(time_cost=2, memory_cost_kib=8, parallelism=1),
        Argon2Parameters(time_cost=1, memory_cost_kib=16, parallelism=1),
        Argon2Parameters(time_cost=1, memory_cost_kib=16, parallelism=2),
    ],
)
async def test_a_hash_needs_rehash_when_the_parameters_grow(hasher: Argon2Hasher, grown: Argon2Parameters) -> None:
    old_hash = await hasher.hash("correct-horse-1")
    stronger = Argon2Hasher(grown)
    try:
        assert stronger.needs_rehash(old_hash) is True
        assert await stronger.verify(old_hash, "correct-horse-1") is True  # old hashes still log in
    finally:
        stronger.close()


async def test_hashing_runs_off_the_event_loop_in_parallel(hasher: Argon2Hasher) -> None:
    hashes = await asyncio.gather(*(hasher.hash(f"password-{i}") for i in range(8)))

    assert len(set(hashes)) == 8
    assert all([await hasher.verify(h, f"password-{i}") for i, h in enumerate(hashes)])


async def niceness_of_the_hash_thread(hasher: Argon2Hasher) -> int:
    loop = asyncio.get_running_loop()
    await hasher.hash("Xk7mPq2s")  # the pool's only thread starts (and is made nicer) here
    thread = await loop.run_in_executor(hasher._pool, threading.get_native_id)  # the hash thread itself
    return os.getpriority(os.PRIO_PROCESS, thread)


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is a Linux feature")
async def test_hash_threads_run_nicer_than_the_event_loop_so_that_the_loop_gets_a_cpu_first() -> None:
    hasher = Argon2Hasher(FAST, max_threads=1, niceness=5)
    try:
        niceness = await niceness_of_the_hash_thread(hasher)
    finally:
        hasher.close()

    assert niceness == min(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + 5, 19)  # 19: Linux's last


async def test_hash_threads_may_keep_the_process_priority() -> None:
    hasher = Argon2Hasher(FAST, max_threads=1, niceness=0)
    try:
        niceness = await niceness_of_the_hash_thread(hasher)
    finally:
        hasher.close()

    assert niceness == os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
