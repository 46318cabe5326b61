"""Contract of ``AttemptCounter``: the in-memory fake, SQLite, PostgreSQL and Redis alike.

Two counter objects on one store stand for two processes (or hosts): they must see each
other's counts, which is what makes the brute-force limits hold under ``--workers N``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.redis_attempt_counter import RedisAttemptCounter
from barbershop_adapters.sqlalchemy.attempt_counter import SqlAttemptCounter
from barbershop_core.ports import AttemptCounter, StorageUnavailable
from barbershop_entrypoints.attempt_counting import RedisFirstAttemptCounter
from tests.fakes import InMemoryAttemptCounter
from tests.integration.pipeline.support import DEFAULT_REDIS_URL, REDIS_URL_ENV, redis_answers, unreachable

Counters = Callable[[], AttemptCounter]
"""Each call: another counter object on the same store."""


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    if not redis_answers(url):
        unreachable(f"Redis is unreachable at {url} (set {REDIS_URL_ENV})")
    client = Redis.from_url(url)
    yield client
    await client.aclose()


@pytest.fixture(
    params=[
        pytest.param("fake"),
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def counters(request: pytest.FixtureRequest) -> Counters:
    if request.param == "fake":
        shared = InMemoryAttemptCounter()
        return lambda: shared
    if request.param == "redis":
        client: Redis = request.getfixturevalue("redis_client")
        return lambda: RedisAttemptCounter(client)
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return lambda: SqlAttemptCounter(engine)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_counter(request: pytest.FixtureRequest) -> SqlAttemptCounter:
    return SqlAttemptCounter(request.getfixturevalue(f"{request.param}_engine"))


def a_key() -> str:
    return f"test:{uuid.uuid4().hex}"  # Redis is shared between runs: every test its own keys


async def test_attempts_are_counted_per_key_and_window(counters: Counters) -> None:
    counter, key, other = counters(), a_key(), a_key()

    assert [await counter.add(key, 900, 900) for _ in range(3)] == [1, 2, 3]
    assert await counter.add(other, 900, 900) == 1
    assert await counter.add(key, 1800, 900) == 1  # the next window starts over


async def test_two_processes_share_the_counts(counters: Counters) -> None:
    first, second, key = counters(), counters(), a_key()

    await first.add(key, 900, 900)
    await second.add(key, 900, 900)

    assert await first.add(key, 900, 900) == 3


async def test_taking_back_uncounts_one_attempt_never_below_zero(counters: Counters) -> None:
    counter, key = counters(), a_key()
    await counter.add(key, 900, 900)
    await counter.add(key, 900, 900)

    await counter.take_back(key, 900)
    assert await counter.add(key, 900, 900) == 2
    for _ in range(4):
        await counter.take_back(key, 900)
    await counter.take_back(a_key(), 900)  # an unknown key is nothing to take back
    assert await counter.add(key, 900, 900) == 1


async def test_a_reset_drops_the_window_of_the_key_only(counters: Counters) -> None:
    counter, key, other = counters(), a_key(), a_key()
    await counter.add(key, 900, 900)
    await counter.add(other, 900, 900)

    await counter.reset(key, 900)

    assert await counter.add(key, 900, 900) == 1
    assert await counter.add(other, 900, 900) == 2


async def test_the_database_drops_the_counts_of_passed_windows(sql_counter: SqlAttemptCounter) -> None:
    counter = sql_counter
    old, current = a_key(), a_key()
    await counter.add(old, 0, 900)
    await counter.add(current, 900, 900)

    assert await counter.purge(now=900) == 1

    assert await counter.add(old, 0, 900) == 1
    assert await counter.add(current, 900, 900) == 2


async def test_redis_down_is_storage_unavailable_so_a_login_fails_closed() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    counter = RedisAttemptCounter(client)
    try:
        for attempt in (counter.add(a_key(), 900, 900), counter.take_back(a_key(), 900), counter.reset(a_key(), 900)):
            with pytest.raises(StorageUnavailable):
                await attempt
    finally:
        await client.aclose()


class DownCounter(InMemoryAttemptCounter):
    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        raise StorageUnavailable("redis is down")

    async def take_back(self, key: str, window_start: int) -> None:
        raise StorageUnavailable("redis is down")

    async def reset(self, key: str, window_start: int) -> None:
        raise StorageUnavailable("redis is down")


async def test_with_redis_down_counting_goes_on_in_the_database_so_logins_neither_stop_nor_go_unlimited() -> None:
    database = InMemoryAttemptCounter()
    counter = RedisFirstAttemptCounter(DownCounter(), database)
    key = a_key()

    assert [await counter.add(key, 900, 900) for _ in range(3)] == [1, 2, 3]
    await counter.take_back(key, 900)
    assert database.counts[key, 900] == 2
    await counter.reset(key, 900)
    assert (key, 900) not in database.counts


async def test_while_redis_answers_the_database_is_not_touched() -> None:
    redis_like, database = InMemoryAttemptCounter(), InMemoryAttemptCounter()
    counter = RedisFirstAttemptCounter(redis_like, database)
    key = a_key()

    await counter.add(key, 900, 900)
    await counter.add(key, 900, 900)
    await counter.take_back(key, 900)
    await counter.reset(a_key(), 900)

    assert redis_like.counts == {(key, 900): 1}
    assert database.counts == {}


async def test_a_key_of_a_scope_and_a_full_digest_is_counted(counters: Counters) -> None:
    """The phone check's key: ``phone_check:`` and an HMAC-SHA256 in hex (76 characters)."""
    counter, key = counters(), f"phone_check:{uuid.uuid4().hex * 2}{'x' * 20}"

    assert await counter.add(key, 900, 900) == 1
    assert await counter.add(key, 900, 900) == 2
