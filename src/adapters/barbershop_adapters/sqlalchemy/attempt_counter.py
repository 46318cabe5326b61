"""``AttemptCounter`` in the database, for installations without Redis (the embedded default)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.errors import translated

_counts = t.attempt_counts


class SqlAttemptCounter:
    """Implements ``AttemptCounter``: an upsert per attempt, each in a short transaction of
    its own (never inside a use case's unit of work)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(_counts)
            .values(key=key, window_start=window_start, count=1, expires_at=window_start + window_seconds)
            .on_conflict_do_update(
                index_elements=[_counts.c.key, _counts.c.window_start], set_={"count": _counts.c.count + 1}
            )
            .returning(_counts.c.count)
        )
        return await translated(self._count(statement))

    async def take_back(self, key: str, window_start: int) -> None:
        await translated(
            self._run(
                sa.update(_counts)
                .where(_counts.c.key == key, _counts.c.window_start == window_start, _counts.c.count > 0)
                .values(count=_counts.c.count - 1)
            )
        )

    async def reset(self, key: str, window_start: int) -> None:
        await translated(
            self._run(sa.delete(_counts).where(_counts.c.key == key, _counts.c.window_start == window_start))
        )

    async def purge(self, now: int) -> int:
        """Drop the counts of windows that have passed; returns how many."""
        result = await translated(self._run(sa.delete(_counts).where(_counts.c.expires_at <= now)))
        return int(result.rowcount)

    async def _count(self, statement: sa.Executable) -> int:
        async with self._engine.begin() as connection:
            return int((await connection.execute(statement)).scalar_one())

    async def _run(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        async with self._engine.begin() as connection:
            return await connection.execute(statement)
