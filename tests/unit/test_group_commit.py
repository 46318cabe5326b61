"""GroupCommit: concurrent callers share runs of a batch operation, one run at a time."""

from __future__ import annotations

import asyncio

import pytest

from barbershop_core.group_commit import GroupCommit


class Doubler:
    """Doubles numbers, one batch at a time, and remembers the batches it was given."""

    def __init__(self, *, gate: asyncio.Event | None = None, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self._gate = gate
        self._fail_on = fail_on

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            if self._gate is not None:
                await self._gate.wait()
            await asyncio.sleep(0)
            if self._fail_on in items:
                raise LookupError(f"no answer for {self._fail_on}")
            return [item * 2 for item in items]
        finally:
            self.running -= 1


async def test_a_lone_caller_is_run_at_once_as_a_batch_of_one() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=10)

    assert await group.submit(21) == 42
    assert doubler.batches == [[21]]


async def test_callers_arriving_together_share_one_run_and_each_gets_its_own_answer() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=10)

    answers = await asyncio.gather(*(group.submit(n) for n in range(5)))

    assert answers == [0, 2, 4, 6, 8]
    assert doubler.batches == [[0, 1, 2, 3, 4]]


async def test_callers_arriving_during_a_run_wait_for_the_next_one_and_runs_never_overlap() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate)
    group = GroupCommit(doubler, max_batch=10)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0.01)  # the first run has started and waits at the gate
    later = [asyncio.ensure_future(group.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert doubler.batches == [[1]]

    gate.set()

    assert [await first] + [await f for f in later] == [2, 4, 6, 8]
    assert doubler.batches == [[1], [2, 3, 4]]
    assert doubler.most_running == 1


async def test_a_batch_is_never_larger_than_its_bound() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=2)

    assert await asyncio.gather(*(group.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert doubler.batches == [[0, 1], [2, 3], [4]]


async def test_a_failed_batch_is_run_again_item_by_item_so_only_the_failing_caller_fails() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate, fail_on=2)
    group = GroupCommit(doubler, max_batch=10)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0.01)
    failing, fine = asyncio.ensure_future(group.submit(2)), asyncio.ensure_future(group.submit(3))
    await asyncio.sleep(0)
    gate.set()
    assert await first == 2

    with pytest.raises(LookupError, match="no answer for 2"):
        await failing
    assert await fine == 6
    assert doubler.batches == [[1], [2, 3], [2], [3]]
    assert await group.submit(5) == 10


async def test_a_cancelled_caller_leaves_the_run_and_the_others_alone() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate)
    group = GroupCommit(doubler, max_batch=10)
    leaving = asyncio.ensure_future(group.submit(1))
    staying = asyncio.ensure_future(group.submit(2))
    await asyncio.sleep(0.01)

    leaving.cancel()
    gate.set()

    assert await staying == 4
    assert leaving.cancelled()
    assert doubler.batches == [[1, 2]]


async def test_a_run_that_answers_the_wrong_number_of_items_fails_its_callers() -> None:
    async def forgetful(items: list[int]) -> list[int]:
        return []

    group = GroupCommit(forgetful, max_batch=10)

    with pytest.raises(RuntimeError, match="a batch of 1 got 0 answers"):
        await asyncio.gather(group.submit(1), group.submit(2))


async def test_with_skip_cancelled_an_item_whose_caller_left_before_its_run_is_not_run() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate)
    group = GroupCommit(doubler, max_batch=10, skip_cancelled=True)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0.01)  # the first run waits at the gate
    leaving, staying = asyncio.ensure_future(group.submit(2)), asyncio.ensure_future(group.submit(3))
    await asyncio.sleep(0)

    leaving.cancel()
    gate.set()

    assert (await first, await staying) == (2, 6)
    assert doubler.batches == [[1], [3]]


def test_one_group_commit_serves_one_event_loop_after_another() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=10, linger_seconds=0.05)

    async def busy() -> list[int]:
        return list(await asyncio.gather(*(group.submit(n) for n in range(3))))

    assert asyncio.run(busy()) == [0, 2, 4]
    assert asyncio.run(busy()) == [0, 2, 4]


async def test_when_the_run_is_cancelled_its_callers_are_cancelled_too() -> None:
    async def hanging(items: list[int]) -> list[int]:
        await asyncio.Event().wait()
        return items

    group = GroupCommit(hanging, max_batch=10)
    caller = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0.01)
    runner = group._runner  # the run's own task, as a shutdown would cancel it
    assert runner is not None

    runner.cancel()

    with pytest.raises(asyncio.CancelledError):
        await caller


def test_a_bound_below_one_is_refused() -> None:
    async def run(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(run, max_batch=0)


async def test_while_busy_a_run_lingers_for_more_items_and_an_idle_one_does_not() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=10, linger_seconds=0.3, quiet_seconds=0.2)
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await group.submit(1) == 2  # idle: at once
    assert loop.time() - started < 0.1

    async def trickle(first: int) -> list[int]:
        """One item every 50 ms (well within the quiet 0.2 s): a steady stream of singles."""
        callers = []
        for n in range(first, first + 4):
            callers.append(asyncio.ensure_future(group.submit(n)))
            await asyncio.sleep(0.05)
        return list(await asyncio.gather(*callers))

    # Busy (a run ended just now): the singles share one run instead of four.
    assert await trickle(10) == [20, 22, 24, 26]
    assert doubler.batches[1:] == [[10, 11, 12, 13]]

    await asyncio.sleep(0.35)  # longer than the linger since the last run: idle again
    started = loop.time()
    assert await group.submit(5) == 10
    assert loop.time() - started < 0.1
    assert doubler.batches[-1] == [5]


async def test_a_lingering_run_starts_as_soon_as_its_batch_is_full() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=3, linger_seconds=10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()

    answers = await asyncio.gather(*(group.submit(n) for n in range(6)))

    assert answers == [0, 2, 4, 6, 8, 10]
    assert doubler.batches == [[0, 1, 2], [3, 4, 5]]
    assert loop.time() - started < 1.0


def test_a_negative_linger_is_refused() -> None:
    async def run(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="must not be negative"):
        GroupCommit(run, max_batch=1, linger_seconds=-1)
    with pytest.raises(ValueError, match="must be positive"):
        GroupCommit(run, max_batch=1, quiet_seconds=0)
    with pytest.raises(ValueError, match="must not be negative"):
        GroupCommit(run, max_batch=1, busy_seconds=-1)


async def test_a_lingering_run_stops_waiting_when_nobody_else_comes() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=100, linger_seconds=10.0, quiet_seconds=0.01)
    loop = asyncio.get_running_loop()
    assert await asyncio.gather(group.submit(1), group.submit(2)) == [2, 4]  # now busy
    started = loop.time()

    assert await asyncio.gather(group.submit(3), group.submit(4)) == [6, 8]

    assert doubler.batches == [[1, 2], [3, 4]]
    assert loop.time() - started < 1.0  # a quiet spell, not the ten seconds of lingering


async def test_an_item_after_the_busy_window_runs_at_once_though_the_linger_is_longer() -> None:
    doubler = Doubler()
    group = GroupCommit(doubler, max_batch=10, linger_seconds=5.0, quiet_seconds=0.3, busy_seconds=0.05)
    loop = asyncio.get_running_loop()
    assert await group.submit(1) == 2

    await asyncio.sleep(0.15)  # past the busy window, well within the linger
    started = loop.time()
    assert await group.submit(2) == 4

    assert loop.time() - started < 0.1  # not the quiet spell of 0.3 s
    assert doubler.batches == [[1], [2]]
