"""Group commit: concurrent callers share one run of a batch operation.

A worker sends many notifications at once, each in a task of its own; each send claims its
attempt and records its outcome in a transaction. Run one by one, those transactions cost
a dozen statements per send. :class:`GroupCommit` lets the tasks share them: a caller
hands in its item and waits; one run takes every item handed in so far; items that arrive
while a run is going wait for the next run. An idle worker therefore runs batches of one
with no delay, and a busy one batches exactly as much as piled up meanwhile — no timer,
no batch size to tune beyond an upper bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """Runs ``run`` over batches of the items callers :meth:`submit`, one run at a time.

    ``linger_seconds``: while busy (the last run, less than this long ago, took more than
    one item), a run that is not full first waits for more items — as long as they keep
    coming (no quiet spell of ``quiet_seconds``), up to ``linger_seconds``. A batch grows
    by the rate of items times the wait, so on a worker whose sends keep its CPU busy a
    few dozen milliseconds turn batches of three into batches of dozens, and the CPU the
    runs save goes to the sends; when every caller is already waiting, the quiet spell
    ends the wait at once. An idle caller never waits: after a quiet spell the first run
    takes what is there at once.

    ``run`` answers each item of a batch, in order. When it raises, every caller of that
    batch gets the error. A caller that is cancelled while it waits leaves its item in the
    batch (its answer is dropped); the run itself is never cancelled by a caller.
    """

    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        max_batch: int,
        linger_seconds: float = 0.0,
        quiet_seconds: float = 0.005,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger_seconds < 0 or quiet_seconds <= 0:
            raise ValueError("linger_seconds must not be negative, quiet_seconds must be positive")
        self._run = run
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._quiet = quiet_seconds
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._arrived = asyncio.Event()
        self._last_batch = 0
        self._last_ended = 0.0
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        answer: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        self._arrived.set()
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_batches())
        return await answer

    async def _run_batches(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                if self._last_batch > 1 and loop.time() - self._last_ended < self._linger:
                    await self._linger_for_more(loop.time() + self._linger)
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run_one(batch)
                self._last_batch, self._last_ended = len(batch), loop.time()
        finally:
            self._runner = None
            _cancel(self._waiting)  # only left here when this task itself was cancelled
            self._waiting = []

    async def _linger_for_more(self, deadline: float) -> None:
        """Wait while items keep coming, until the batch is full or ``deadline``: a quiet
        spell of ``quiet_seconds`` means whoever else was coming is here."""
        loop = asyncio.get_running_loop()
        while len(self._waiting) < self._max_batch:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(self._quiet, left))
            except TimeoutError:
                return

    async def _run_one(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
        # Whatever the run raised is each caller's error, as it would be without batching.
        except Exception as error:  # noqa: BLE001
            _fail(batch, error)
            return
        except BaseException:
            _cancel(batch)
            raise
        if len(answers) != len(batch):
            _fail(batch, RuntimeError(f"a batch of {len(batch)} got {len(answers)} answers"))
            return
        for (_, answer), value in zip(batch, answers, strict=True):
            if not answer.done():
                answer.set_result(value)


def _fail(waiting: list[tuple[In, asyncio.Future[Out]]], error: Exception) -> None:
    for _, answer in waiting:
        if not answer.done():
            answer.set_exception(error)


def _cancel(waiting: list[tuple[In, asyncio.Future[Out]]]) -> None:
    for _, answer in waiting:
        answer.cancel()
