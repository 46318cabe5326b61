"""Statements built once, run straight on SQLite: SQLAlchemy compiles them, sqlite3 runs them.

Every statement through SQLAlchemy's async engine pays for its execution context (the
compiled cache's key, the parameters processed into a new list, the cursor's result
metadata) and two greenlet switches: ~80 µs of Python on this machine for a one-row
SELECT that SQLite itself answers in ~10 µs (``docs/performance.md``). The embedded default
runs ~15 statements per registration on its event loop, so that layer was ~40 % of the
loop's CPU under load.

Here a statement the unit of work runs a second time (the same object: the module's
constants and ``functools.cache`` builders — a statement built per call never is) is
compiled once for SQLite by SQLAlchemy, and from then on its SQL runs on the connection's
``sqlite3`` connection through :meth:`~.inline_sqlite.InlineSqliteConnection.execute_direct`,
with the parameters and the rows converted by the same type processors SQLAlchemy would
use. What comes back is a SQLAlchemy :class:`~sqlalchemy.engine.Result`, so callers cannot
tell the two paths apart (the SQL contract tests run every repository on both).

SQLAlchemy keeps the transaction: it begins it (with its ``BEGIN IMMEDIATE``) before a
statement runs here, and commits or rolls it back. It runs savepoints, an ``IN`` of an
empty list, a statement it would compile with computed parameters or defaults, and every
statement of an engine that logs them (``echo``) or has ``before_cursor_execute``
listeners — those see every statement.
Failures are raised as SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`, as on its own path.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Result
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from barbershop_adapters.sqlalchemy.engine import SINGLE_STATEMENT
from barbershop_adapters.sqlalchemy.inline_sqlite import InlineSqliteConnection

_Processor = Callable[[Any], Any] | None
_MISSING: Final = object()


class DirectResult(IteratorResult[Any]):
    """The rows of a statement run directly, with the cursor's ``rowcount``."""

    def __init__(self, metadata: SimpleResultMetaData, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        super().__init__(metadata, iter(rows))
        self.rowcount = rowcount


_NO_ROWS: Final = SimpleResultMetaData([])


@attrs.frozen
class _Bind:
    key: str
    name: str
    fixed: Any
    """The statement's own value (``_MISSING`` when the caller must give one)."""
    process: _Processor
    expanding: bool
    """A list of values for ``IN (…)``: a placeholder each, processed one by one."""


@attrs.define
class Prepared:
    """One statement compiled for SQLite, with what it takes to run it without SQLAlchemy."""

    sql: str
    binds: tuple[_Bind, ...]
    columns: Sequence[Any]
    """The compiled result columns (``ResultColumnsEntry``), in the statement's order."""
    by_position: bool
    returns_rows: bool
    """A write with RETURNING."""
    dialect: Dialect
    shape: tuple[SimpleResultMetaData, tuple[_Processor, ...]] | None = None
    """The rows' keys and processors, known at the first run (from the cursor's description)."""
    _expanded: dict[tuple[int, ...], str] = attrs.field(factory=dict)
    """The SQL for each count of the expanding parameters' values."""

    def arguments(self, parameters: dict[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
        """The SQL and its positional arguments for ``parameters``; None for an empty ``IN``
        list, which SQLAlchemy renders as an expression of its own."""
        values: list[Any] = []
        counts: list[int] = []
        for bind in self.binds:
            value = parameters.get(bind.key, _MISSING)
            if value is _MISSING:
                value = parameters.get(bind.name, bind.fixed)
                if value is _MISSING:
                    raise sa_exc.ArgumentError(f"no value for the bound parameter {bind.key!r}")
            if bind.expanding:
                if not value:
                    return None
                counts.append(len(value))
                values += value if bind.process is None else map(bind.process, value)
            else:
                values.append(value if bind.process is None else bind.process(value))
        return self._sql(tuple(counts)), tuple(values)

    def _sql(self, counts: tuple[int, ...]) -> str:
        if not counts:
            return self.sql
        sql = self._expanded.get(counts)
        if sql is None:
            sql = self.sql
            expanding = [bind.name for bind in self.binds if bind.expanding]
            for name, count in zip(expanding, counts, strict=True):
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * count), 1)
            self._expanded[counts] = sql
        return sql

    def result(self, description: Any, rows: list[tuple[Any, ...]], rowcount: int) -> DirectResult:
        if description is None:
            return DirectResult(_NO_ROWS, [], rowcount)
        if self.shape is None:
            self.shape = self._shape([entry[0] for entry in description])
        metadata, processors = self.shape
        if any(processors):
            rows = [
                tuple(
                    value if process is None else process(value) for value, process in zip(row, processors, strict=True)
                )
                for row in rows
            ]
        return DirectResult(metadata, rows, rowcount)

    def _shape(self, names: list[str]) -> tuple[SimpleResultMetaData, tuple[_Processor, ...]]:
        """Each cursor column matched to a compiled one, as SQLAlchemy matches them: by
        position when the statement's columns are its own, else by name."""
        if self.by_position and len(self.columns) == len(names):
            matched = list(self.columns)
        else:
            by_name = {entry.keyname: entry for entry in self.columns}
            matched = [by_name.get(name) for name in names]
        keys = [name if entry is None else entry.keyname for name, entry in zip(names, matched, strict=True)]
        extra = [() if entry is None else entry.objects for entry in matched]
        processors = tuple(
            None if entry is None else entry.type._cached_result_processor(self.dialect, None) for entry in matched
        )
        return SimpleResultMetaData(keys, extra=extra), processors


def prepare(statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...], *, many: bool) -> Prepared | None:
    """``statement`` compiled as SQLAlchemy compiles it for these parameter ``keys``, or None
    when running it takes more than its SQL and its parameters' type processors.

    Several parameter sets with RETURNING are compiled for one set: each runs on its own
    (SQLAlchemy would batch them in one statement of many rows; SQLite has no round trips
    to save)."""
    if not isinstance(statement, sa.ClauseElement):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
    if not isinstance(compiled, SQLCompiler):
        return None
    if many and compiled.effective_returning:
        compiled = cast("SQLCompiler", statement.compile(dialect=dialect, column_keys=list(keys)))
    if not _plain(compiled):
        return None
    binds = []
    processors = compiled._bind_processors  # the processors SQLAlchemy itself applies
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if bind.callable is not None or bind.literal_execute or bind.type._is_tuple_type:
            return None
        process = bind.type._cached_bind_processor(dialect) if bind.expanding else processors.get(name)
        if process is not None and not callable(process):
            return None
        fixed = _MISSING if bind.required else bind.value
        binds.append(_Bind(bind.key, name, fixed, process, bind.expanding))
    return Prepared(
        sql=compiled.string,
        binds=tuple(binds),
        columns=compiled._result_columns,  # the columns SQLAlchemy matches rows by
        by_position=compiled._ordered_columns and not compiled._textual_ordered_columns,  # as its CursorResult decides
        returns_rows=bool(compiled.effective_returning),
        dialect=dialect,
    )


def _plain(compiled: SQLCompiler) -> bool:
    """A statement whose SQL and parameters are all there is to it: no literal parameters
    rendered when it runs, no Python-side defaults or output parameters."""
    return bool(
        compiled.positional
        and compiled.positiontup is not None
        and not compiled.escaped_bind_names
        and not compiled.literal_execute_params
        and all(bind.expanding for bind in compiled.post_compile_params)
        and not compiled.insert_prefetch
        and not compiled.update_prefetch
        and not compiled.has_out_parameters
    )


_Cache = weakref.WeakKeyDictionary[Any, dict[tuple[tuple[str, ...], bool], Prepared | None]]


class DirectSqlite:
    """Runs the statements of one SQLite engine straight on sqlite3 where it can (see the module)."""

    def __init__(self) -> None:
        self._prepared: _Cache = weakref.WeakKeyDictionary()
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()

    async def execute(
        self,
        connection: AsyncConnection,
        statement: sa.Executable,
        parameters: dict[str, Any] | list[dict[str, Any]] | None,
    ) -> Result[Any] | None:
        """The statement's result, or None when SQLAlchemy must run it (nothing was sent)."""
        many = isinstance(parameters, list)
        given: list[dict[str, Any]] = parameters if isinstance(parameters, list) else [parameters or {}]
        if not given:
            return None
        prepared = self._lookup(statement, connection.dialect, tuple(sorted(given[0])), many=many)
        driver = _driver(connection)
        if prepared is None or driver is None:
            return None
        statements = [prepared.arguments(one) for one in given]
        if any(statement is None for statement in statements):
            return None
        await _in_transaction(connection)
        try:
            description, rows, rowcount = await _run(
                driver, prepared, cast("list[tuple[str, tuple[Any, ...]]]", statements)
            )
        except sqlite3.Error as error:
            raise sa_exc.DBAPIError.instance(
                prepared.sql, None, error, sqlite3.Error, hide_parameters=True, dialect=connection.dialect, ismulti=many
            ) from error
        return prepared.result(description, rows, rowcount)

    def _lookup(
        self, statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...], *, many: bool
    ) -> Prepared | None:
        try:
            variants = self._prepared.get(statement)
        except TypeError:  # not weakly referable: never cached
            return None
        if variants is None:
            if statement not in self._seen:
                self._seen.add(statement)
                return None
            variants = self._prepared[statement] = {}
        variant = (keys, many)
        if variant not in variants:
            variants[variant] = prepare(statement, dialect, keys, many=many)
        return variants[variant]


async def _run(
    driver: InlineSqliteConnection, prepared: Prepared, statements: list[tuple[str, tuple[Any, ...]]]
) -> tuple[Any, list[Any], int]:
    """One statement, several parameter sets in one call, or — RETURNING rows — each apart."""
    if len(statements) == 1:
        return await driver.execute_direct(*statements[0])
    if not prepared.returns_rows:
        sqls = {sql for sql, _ in statements}
        if len(sqls) == 1:
            return await driver.execute_direct_many(sqls.pop(), [arguments for _, arguments in statements])
    description, rows, rowcount = None, [], 0
    for sql, arguments in statements:
        description, some, count = await driver.execute_direct(sql, arguments)
        rows += some
        rowcount += max(count, 0)
    return description, rows, rowcount


_BY_ENGINE: Final[weakref.WeakKeyDictionary[AsyncEngine, DirectSqlite]] = weakref.WeakKeyDictionary()


def direct_sqlite(engine: AsyncEngine) -> DirectSqlite | None:
    """The direct runner of a SQLite ``engine`` (one per engine), None for any other database."""
    if engine.dialect.name != "sqlite":
        return None
    direct = _BY_ENGINE.get(engine)
    if direct is None:
        direct = _BY_ENGINE[engine] = DirectSqlite()
    return direct


def _driver(connection: AsyncConnection) -> InlineSqliteConnection | None:
    """The connection's SQLite connection, when a statement may go straight to it: not in a
    savepoint, and with nobody watching SQLAlchemy's statements."""
    sync = connection.sync_connection
    if sync is None or sync.closed or sync.invalidated or sync.in_nested_transaction():
        return None
    engine = sync.engine
    if engine.echo or engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute:
        return None
    driver = sync.connection.driver_connection
    return driver if isinstance(driver, InlineSqliteConnection) else None


async def _in_transaction(connection: AsyncConnection) -> None:
    """SQLAlchemy's transaction begun (SQLite's ``BEGIN IMMEDIATE``, see :mod:`.engine`) unless
    it is, or the connection runs lone reads: SQLAlchemy commits and rolls back what the
    statements run here write."""
    sync = connection.sync_connection
    assert sync is not None
    if not (sync.in_transaction() or sync.get_execution_options().get(SINGLE_STATEMENT)):
        await connection.begin()
