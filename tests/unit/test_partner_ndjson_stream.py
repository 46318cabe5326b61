"""The NDJSON stream reads the next batch while the last one is written, and answers each as it is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import attrs
import pytest

from barbershop_core.model import Partner
from barbershop_entrypoints.http import partner_ndjson
from barbershop_entrypoints.http.partner_ndjson import StreamCounts, register_stream
from tests.conftest import World
from tests.fakes import FakeUnitOfWork
from tests.unit.support import make_partner, rows


def line(n: int) -> bytes:
    return json.dumps(
        {
            "fio": "Иванов Иван",
            "phone": f"+7911{n:07d}",
            "email": "ivan@example.com",
            "purchases": [{"name": "Стрижка", "price": 1500}],
        },
        ensure_ascii=False,
    ).encode()


def refused(n: int) -> bytes:
    return line(n).replace(b'"+7911', b'"8911')  # not E.164


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 10: the in-memory store is slow at a thousand."""
    monkeypatch.setattr(partner_ndjson, "MAX_BATCH", 10)


@pytest.fixture
async def partner(world: World) -> Partner:
    return await make_partner(world)


def results_of(chunks: list[bytes]) -> list[dict[str, object]]:
    return [json.loads(text) for chunk in chunks for text in chunk.splitlines()]


@pytest.mark.parametrize("refused_at", [None, 3], ids=["every line valid", "a refused line in the batch"])
async def test_a_client_that_waits_for_a_batchs_results_before_sending_more_is_answered(
    world: World, partner: Partner, refused_at: int | None
) -> None:
    answered = asyncio.Event()

    async def lockstep() -> AsyncIterator[bytes | None]:
        for n in range(partner_ndjson.MAX_BATCH):
            yield refused(n) if n == refused_at else line(n)
        await answered.wait()  # the client reads the first batch's results before it sends more
        yield line(partner_ndjson.MAX_BATCH)

    chunks: list[bytes] = []

    async def client() -> None:
        async for out in register_stream(lockstep(), partner, world.promo(), None, "req-1", StreamCounts()):
            chunks.append(out)
            answered.set()

    await asyncio.wait_for(client(), timeout=10)

    results = results_of(chunks)
    refusals = 0 if refused_at is None else 1
    assert len(results) == partner_ndjson.MAX_BATCH + 1
    assert [list(result) for result in results].count(["error"]) == refusals
    assert sum("client_id" in result for result in results) == partner_ndjson.MAX_BATCH + 1 - refusals


class HeldUnitOfWork(FakeUnitOfWork):
    """Signals ``reached`` at its commit and waits there until ``release``."""

    def __init__(self, world: World, reached: asyncio.Event, release: asyncio.Event) -> None:
        super().__init__(world.db, world.queue)
        self._reached, self._release = reached, release

    async def commit(self) -> None:
        self._reached.set()
        await self._release.wait()
        await super().commit()


async def test_the_next_batch_is_read_and_checked_while_the_last_one_is_written(world: World, partner: Partner) -> None:
    reached, release = asyncio.Event(), asyncio.Event()
    deps = attrs.evolve(world.promo(), uow_factory=lambda: HeldUnitOfWork(world, reached, release))
    read = 0
    total = 2 * partner_ndjson.MAX_BATCH + 10

    async def lines() -> AsyncIterator[bytes | None]:
        nonlocal read
        for n in range(total):
            read += 1
            yield line(n)

    counts = StreamCounts()
    chunks: list[bytes] = []

    async def client() -> None:
        async for out in register_stream(lines(), partner, deps, None, "req-1", counts):
            chunks.append(out)

    streaming = asyncio.create_task(client())
    await asyncio.wait_for(reached.wait(), timeout=10)
    for _ in range(50):
        await asyncio.sleep(0)

    assert read > partner_ndjson.MAX_BATCH + 1  # the first batch is held at its commit
    assert rows(world, "clients") == []
    release.set()
    await asyncio.wait_for(streaming, timeout=10)
    results = results_of(chunks)
    assert len(results) == total
    clients = {c.id: c for c in rows(world, "clients")}
    persons = {p.id: p for p in rows(world, "persons")}
    phones = [str(persons[clients[r["client_id"]].person_id].phone) for r in results]  # type: ignore[index]
    assert phones == [f"+7911{n:07d}" for n in range(total)]
    assert (counts.registered, counts.refused) == (total, 0)


async def test_a_body_that_cannot_be_read_fails_the_stream_after_the_batches_before_it(
    world: World, partner: Partner
) -> None:
    async def broken() -> AsyncIterator[bytes | None]:
        for n in range(partner_ndjson.MAX_BATCH):
            yield line(n)
        raise ConnectionResetError("the client went away")

    async def client() -> list[bytes]:
        return [out async for out in register_stream(broken(), partner, world.promo(), None, "req-1", StreamCounts())]

    with pytest.raises(ConnectionResetError):
        await client()

    assert len(rows(world, "clients")) <= partner_ndjson.MAX_BATCH


async def test_a_client_gone_stops_the_reading(world: World, partner: Partner) -> None:
    stopped = asyncio.Event()

    async def endless() -> AsyncIterator[bytes | None]:
        n = 0
        try:
            while True:
                yield line(n)
                n += 1
                await asyncio.sleep(0)
        finally:
            stopped.set()

    stream = register_stream(endless(), partner, world.promo(), None, "req-1", StreamCounts())
    first = await anext(stream)
    await stream.aclose()

    assert len(results_of([first])) == partner_ndjson.MAX_BATCH
    await asyncio.wait_for(stopped.wait(), timeout=5)


async def test_bad_lines_are_answered_in_their_places(world: World, partner: Partner) -> None:
    bad_phone = line(1).replace(b"+79110000001", b"89110000001")
    source = [line(0), b"{not json", None, bad_phone, line(2)]

    async def lines() -> AsyncIterator[bytes | None]:
        for item in source:
            yield item

    counts = StreamCounts()
    chunks = [out async for out in register_stream(lines(), partner, world.promo(), None, "req-1", counts)]

    assert [list(result) for result in results_of(chunks)] == [
        ["client_id"],
        ["error"],
        ["error"],
        ["error"],
        ["client_id"],
    ]
    assert (counts.registered, counts.refused) == (2, 3)


async def test_refused_lines_are_held_no_longer_than_valid_ones(world: World, partner: Partner) -> None:
    read = 0

    async def all_refused() -> AsyncIterator[bytes | None]:
        nonlocal read
        for n in range(20 * partner_ndjson.MAX_BATCH):
            read += 1
            yield refused(n)

    stream = register_stream(all_refused(), partner, world.promo(), None, "req-1", StreamCounts())
    first = await anext(stream)  # the client then stops reading
    for _ in range(200):
        await asyncio.sleep(0)

    assert len(results_of([first])) == partner_ndjson.MAX_BATCH
    assert read <= 4 * partner_ndjson.MAX_BATCH + 1  # the batch answered, one queued, one being read
    await stream.aclose()


async def test_a_stream_cancelled_while_it_waits_for_lines_leaves_no_task_behind(
    world: World, partner: Partner
) -> None:
    never = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes | None]:
        for n in range(partner_ndjson.MAX_BATCH):
            yield line(n)
        await never.wait()
        yield line(partner_ndjson.MAX_BATCH)

    async def client() -> None:
        async for _ in register_stream(stalled(), partner, world.promo(), None, "req-1", StreamCounts()):
            pass

    streaming = asyncio.create_task(client())
    for _ in range(200):
        await asyncio.sleep(0)
    streaming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await streaming
    for _ in range(5):
        await asyncio.sleep(0)

    assert asyncio.all_tasks() == {asyncio.current_task()}


class FailingUnitOfWork(FakeUnitOfWork):
    """Fails at its commit (not a storage failure: a bug), once ``after`` is set."""

    def __init__(self, world: World, after: asyncio.Event) -> None:
        super().__init__(world.db, world.queue)
        self._after = after

    async def commit(self) -> None:
        await self._after.wait()
        raise RuntimeError("a bug in the store")


async def test_a_body_failing_while_a_failing_batch_is_written_is_logged_not_lost(
    world: World, partner: Partner, caplog: pytest.LogCaptureFixture
) -> None:
    body_failed = asyncio.Event()
    deps = attrs.evolve(world.promo(), uow_factory=lambda: FailingUnitOfWork(world, body_failed))

    async def broken() -> AsyncIterator[bytes | None]:
        for n in range(partner_ndjson.MAX_BATCH):
            yield line(n)
        body_failed.set()
        raise ConnectionResetError("the client went away")

    async def client() -> list[bytes]:
        return [out async for out in register_stream(broken(), partner, deps, None, "req-1", StreamCounts())]

    with pytest.raises(RuntimeError, match="a bug in the store"):
        await client()

    assert "the stream's body could not be read: ConnectionResetError" in caplog.text
