"""Group commit: concurrent callers share one run of a batch operation.

A worker sends many notifications at once, each in a task of its own; each send claims its
attempt and records its outcome in a transaction. Run one by one, those transactions cost
a dozen statements per send. :class:`GroupCommit` lets the tasks share them: a caller
hands in its item and waits; one run takes every item handed in so far; items that arrive
while a run is going wait for the next run.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

log = logging.getLogger("barbershop.group_commit")


class GroupCommit(Generic[In, Out]):
    """Runs ``run`` over batches of the items callers :meth:`submit`, one run at a time.

    ``linger_seconds``: while busy (the last run ended less than ``busy_seconds`` ago, by
    default ``linger_seconds``), a run that is not full first waits for more items — as long
    as they keep coming (each within ``quiet_seconds`` of the last), up to
    ``linger_seconds``. A batch grows by the rate of items times the wait, so on a worker
    whose sends keep its CPU busy a few dozen milliseconds turn batches of three into
    batches of dozens, and a steady stream of single items (one send per registration, on a
    server that sends itself) into batches of several: the CPU the runs save goes to the
    work. When every caller is already waiting, a quiet spell of ``quiet_seconds`` ends the
    wait. After a quiet spell of ``busy_seconds`` a caller is run at once.

    ``run`` answers each item of a batch, in order. When a run of several items raises,
    each item is run again alone, so that one item's failure (or a transaction that could
    not commit) fails only its own caller; ``run`` must therefore be safe to run again
    for an item whose run failed. A caller that is cancelled while it waits leaves its
    item to be run and its answer dropped — or, with ``skip_cancelled``, taken out of any
    batch that has not started yet. The run itself is never cancelled by a caller, and it
    runs in a context of its own (not the first caller's: its log lines carry no request).
    """

    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        max_batch: int,
        linger_seconds: float = 0.0,
        quiet_seconds: float = 0.005,
        busy_seconds: float | None = None,
        skip_cancelled: bool = False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if linger_seconds < 0 or quiet_seconds <= 0 or (busy_seconds is not None and busy_seconds < 0):
            raise ValueError("linger_seconds and busy_seconds must not be negative, quiet_seconds must be positive")
        self._run = run
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._busy = linger_seconds if busy_seconds is None else busy_seconds
        self._quiet = quiet_seconds
        self._skip_cancelled = skip_cancelled
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._arrived: asyncio.Event | None = None
        self._last_ended = float("-inf")  # idle at first
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        answer: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if self._arrived is not None:
            self._arrived.set()
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_batches(), context=contextvars.Context())
        return await answer

    async def _run_batches(self) -> None:
        loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()  # bound to this loop: a new runner, a new event
        try:
            while self._waiting:
                if loop.time() - self._last_ended < self._busy:
                    await self._linger_for_more(self._arrived, loop.time() + self._linger)
                batch = self._next_batch()
                if batch:
                    await self._run_one(batch)
                    self._last_ended = loop.time()
        except Exception as error:  # a bug of ours: the callers must not hang on it
            log.exception("a group commit's runner failed")
            _fail(self._waiting, error)
        finally:
            self._runner = None
            self._arrived = None
            _cancel(self._waiting)  # only left here when this task itself was cancelled
            self._waiting = []

    def _next_batch(self) -> list[tuple[In, asyncio.Future[Out]]]:
        if self._skip_cancelled:
            self._waiting = [(item, answer) for item, answer in self._waiting if not answer.done()]
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        return batch

    async def _linger_for_more(self, arrived: asyncio.Event, deadline: float) -> None:
        """Wait while items keep coming, until the batch is full or ``deadline``."""
        loop = asyncio.get_running_loop()
        while len(self._waiting) < self._max_batch:
            left = deadline - loop.time()
            if left <= 0:
                return
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), min(self._quiet, left))
            except TimeoutError:
                return

    async def _run_one(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(answers)} answers")  # noqa: TRY301 -- a bug of run's
        # Whatever the run raised is the callers' error, as it would be without batching.
        except Exception as error:  # noqa: BLE001
            if len(batch) == 1:
                _fail(batch, error)
                return
            log.warning("a batch of %s failed (%s); each item is run alone", len(batch), type(error).__name__)
            for alone in batch:
                if not (self._skip_cancelled and alone[1].done()):
                    await self._run_one([alone])
            return
        except BaseException:
            _cancel(batch)
            raise
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
