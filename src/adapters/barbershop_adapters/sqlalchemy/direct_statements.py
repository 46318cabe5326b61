"""Statements built once, run straight on the driver: SQLAlchemy compiles them, the driver runs them.

Every statement through SQLAlchemy's async engine pays for its execution context (the
compiled cache's key, the parameters processed into a new list, the cursor's result
metadata) and two greenlet switches: ~80 µs of Python on this machine for a one-row
SELECT that SQLite itself answers in ~10 µs (``docs/performance.md``). The embedded default
ran ~15 statements per registration on its event loop, and that layer was ~30 % of the
loop's CPU under load.

Here a statement a unit of work runs a second time (the same object: the module constants
and ``functools.cache`` builders of the repositories — a statement built per call never
is) is compiled once by SQLAlchemy for the engine's dialect, and from then on its SQL goes
straight to the connection's driver — SQLite's :mod:`.inline_sqlite` connection, or
psycopg's ``AsyncConnection`` — with the parameters and the rows converted by the type
processors SQLAlchemy itself would use. What comes back is a SQLAlchemy
:class:`~sqlalchemy.engine.Result`, so callers cannot tell the two paths apart (the SQL
contract tests run every repository on both databases this way).

SQLAlchemy keeps the transaction: it begins it (on SQLite with its ``BEGIN IMMEDIATE``)
before a statement runs here, and commits or rolls it back. A failure goes through
SQLAlchemy's own handling (its exception classes; a lost connection invalidated, and the
pool with it) before :func:`~.errors.translated` turns it into the core's. SQLAlchemy still
runs savepoints, a statement after a failed commit, a statement it would compile with
computed parameters or defaults, an ``IN`` of an empty list, and every statement of an
engine that logs them (``echo`` or the ``sqlalchemy.engine`` logger) or has listeners of
statements (``before_cursor_execute`` and the like) — those see every statement. On
PostgreSQL an ``IN`` list of integers is sent as one array (:func:`_as_any`; any other stays
with SQLAlchemy), and several parameter sets stay with SQLAlchemy (it batches them in fewer
round trips); on SQLite an ``IN`` list takes a placeholder per value and each of several
rows with RETURNING runs on its own (there are no round trips to save).
"""

from __future__ import annotations

import contextlib
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final, Protocol

import attrs
import psycopg
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, Result
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.util import greenlet_spawn

from barbershop_adapters.sqlalchemy.engine import SINGLE_STATEMENT, PerEngine
from barbershop_adapters.sqlalchemy.inline_sqlite import InlineSqliteConnection

_Processor = Callable[[Any], Any] | None
_Arguments = tuple[Any, ...] | dict[str, Any]
_Outcome = tuple[Any, list[Any], int]
"""A cursor's description (or :data:`_UNDESCRIBED`), rows and rowcount."""
_MISSING: Final = object()
_UNDESCRIBED: Final = ()
"""A result with rows whose description was not asked for: the statement's shape is known."""


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
    """One statement compiled for a dialect, with what it takes to run it without SQLAlchemy."""

    sql: str
    binds: tuple[_Bind, ...]
    positional: bool
    """``?`` placeholders (SQLite) or ``%(name)s`` ones (psycopg)."""
    columns: Sequence[Any]
    """The compiled result columns (``ResultColumnsEntry``), in the statement's order."""
    by_position: bool
    keyed_by_cursor: bool
    """A text with its columns given in order: the rows keep the names the cursor gives."""
    returns_rows: bool
    """A write with RETURNING."""
    reads_only: bool
    """A SELECT that writes and locks nothing: no transaction needs to begin for it (see
    :meth:`DirectStatements.execute`)."""
    dialect: Dialect
    shape: tuple[SimpleResultMetaData, tuple[_Processor, ...]] | None = None
    """The rows' keys and processors, known at the first run (from the cursor's description)."""
    _expanded: dict[tuple[int, ...], str] = attrs.field(factory=dict)
    """The SQL for each count of the expanding parameters' values."""

    def arguments(self, parameters: dict[str, Any]) -> tuple[str, _Arguments] | None:
        """The SQL and its arguments for ``parameters``; None for an empty ``IN`` list, which
        SQLAlchemy renders as an expression of its own."""
        values: list[Any] = []
        counts: list[int] = []
        for bind in self.binds:
            value = parameters.get(bind.key, _MISSING)
            if value is _MISSING:
                value = parameters.get(bind.name, bind.fixed)
                if value is _MISSING:
                    raise sa_exc.InvalidRequestError(f"A value is required for bind parameter {bind.key!r}")
            if bind.expanding:
                if not value:
                    return None
                value = list(value) if bind.process is None else [bind.process(one) for one in value]
                if not self.positional:  # one array (see _as_any)
                    values.append(value)
                    continue
                counts.append(len(value))
                values += value
            else:
                values.append(value if bind.process is None else bind.process(value))
        if not self.positional:
            return self.sql, {bind.name: value for bind, value in zip(self.binds, values, strict=True)}
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
        if self.shape is None:  # the first run with rows: described (see _run)
            self.shape = self._shape([(entry[0], entry[1]) for entry in description])
        metadata, processors = self.shape
        if any(processors):
            rows = [
                tuple(
                    value if process is None else process(value) for value, process in zip(row, processors, strict=True)
                )
                for row in rows
            ]
        return DirectResult(metadata, rows, rowcount)

    def _shape(self, described: list[tuple[str, Any]]) -> tuple[SimpleResultMetaData, tuple[_Processor, ...]]:
        """Each cursor column matched to a compiled one, as SQLAlchemy matches them: by
        position when the statement's columns are its own, else by name; processed as the
        column's type says for the driver's type of it."""
        if self.by_position and len(self.columns) == len(described):
            matched = list(self.columns)
        else:
            by_name = {entry.keyname: entry for entry in self.columns}
            matched = [by_name.get(name) for name, _ in described]
        keys = [
            name if entry is None or self.keyed_by_cursor else entry.keyname
            for (name, _), entry in zip(described, matched, strict=True)
        ]
        extra = [() if entry is None else entry.objects for entry in matched]
        processors = tuple(
            None if entry is None else entry.type._cached_result_processor(self.dialect, type_code)
            for (_, type_code), entry in zip(described, matched, strict=True)
        )
        return SimpleResultMetaData(keys, extra=extra), processors


def prepare(
    statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...], *, many: bool, several: bool
) -> Prepared | None:
    """``statement`` compiled as SQLAlchemy compiles it for these parameter ``keys``, or None
    when running it takes more than its SQL and its parameters' type processors (or, unless
    the driver takes ``several``, more than one parameter set)."""
    if not isinstance(statement, sa.ClauseElement) or (many and not several):
        return None
    # Several rows with RETURNING: compiled for one, each run on its own (see the module).
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler):
        return None
    if many and not compiled.effective_returning:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    if not isinstance(compiled, SQLCompiler) or not _plain(compiled):
        return None
    sql = compiled.string if compiled.positional else _as_any(compiled, dialect)
    binds = _binds(compiled, dialect)
    if sql is None or binds is None:
        return None
    return Prepared(
        sql=sql,
        binds=binds,
        positional=compiled.positional,
        columns=compiled._result_columns,  # the columns SQLAlchemy matches rows by
        by_position=compiled._ordered_columns or compiled._textual_ordered_columns,  # as its CursorResult decides
        keyed_by_cursor=compiled._textual_ordered_columns,
        returns_rows=bool(compiled.effective_returning),
        reads_only=plain_read(statement),
        dialect=dialect,
    )


_READING_FUNCTIONS: Final = frozenset(
    {"count", "min", "max", "sum", "avg", "coalesce", "json_agg", "json_build_array", "lower", "upper", "pg_sleep"}
)
"""Functions a plain read may call: none writes, locks or sets anything."""


def plain_read(statement: object) -> bool:
    """A SELECT that writes, locks and sets nothing, anywhere inside it: no ``FOR UPDATE`` /
    ``FOR SHARE``, no CTE, no text fragment or literal column, no function but
    :data:`_READING_FUNCTIONS`.
    Anything else begins the unit of work's transaction (a false "no" only costs a BEGIN)."""
    if not isinstance(statement, sa.Select):
        return False
    for element in visitors.iterate(statement):
        if isinstance(element, (CTE, UpdateBase, sa.TextClause)):
            return False
        if isinstance(element, sa.ColumnClause) and element.is_literal and element.name != "*":  # SQL of its own
            return False
        if isinstance(element, sa.Select) and element._for_update_arg is not None:
            return False
        if isinstance(element, FunctionElement) and getattr(element, "name", "").lower() not in _READING_FUNCTIONS:
            return False
    return True


def _binds(compiled: SQLCompiler, dialect: Dialect) -> tuple[_Bind, ...] | None:
    """The parameters in the order the driver takes them, each with its type's processor;
    None when one is computed when the statement runs."""
    binds = []
    processors = compiled._bind_processors  # the processors SQLAlchemy itself applies
    names = compiled.positiontup if compiled.positional else list(dict.fromkeys(compiled.bind_names.values()))
    for name in names or ():
        bind = compiled.binds[name]
        if bind.callable is not None or bind.literal_execute or bind.type._is_tuple_type:
            return None
        process = bind.type._cached_bind_processor(dialect) if bind.expanding else processors.get(name)
        if process is not None and not callable(process):
            return None
        fixed = _MISSING if bind.required else bind.value
        binds.append(_Bind(bind.key, name, fixed, process, bind.expanding))
    return tuple(binds)


def _plain(compiled: SQLCompiler) -> bool:
    """A statement whose SQL and parameters are all there is to it: no literal parameters
    rendered when it runs, no Python-side defaults or output parameters."""
    return bool(
        (compiled.positiontup is not None or not compiled.positional)
        and not compiled.escaped_bind_names
        and not compiled.literal_execute_params
        and all(bind.expanding for bind in compiled.post_compile_params)
        and not compiled.insert_prefetch
        and not compiled.update_prefetch
        and not compiled.has_out_parameters
    )


def _as_any(compiled: SQLCompiler, dialect: Dialect) -> str | None:
    """psycopg's SQL with each ``IN (…)`` list as one array, ``= ANY(CAST(%(name)s AS type[]))``:
    the same rows, and one text of the statement however many values it gets (SQLAlchemy
    renders a placeholder per value). None for a form this does not rewrite: ``NOT IN``, or
    values other than integers (a cast to ``VARCHAR(n)[]`` or ``NUMERIC(p, s)[]`` would cut
    or round them, where SQLAlchemy's casts carry no length)."""
    sql = compiled.string
    for bind in compiled.post_compile_params:
        if not isinstance(bind.type, sa.Integer):
            return None
        name = compiled.bind_names[bind]
        marker = f"__[POSTCOMPILE_{name}]"
        in_list = f" IN ({marker})"
        if f" NOT{in_list}" in sql or sql.count(marker) != sql.count(in_list):
            return None
        sql = sql.replace(in_list, f" = ANY(CAST(%({name})s AS {bind.type.compile(dialect)}[]))")
    return sql


class _Driver(Protocol):
    @property
    def several(self) -> bool:
        """Runs several parameter sets (see the module)."""

    @property
    def error(self) -> type[Exception]:
        """The driver's base exception."""

    async def one(self, sql: str, arguments: _Arguments, *, describe: bool, alone: bool = False) -> _Outcome:
        """The statement's outcome; unless ``describe``, a result with rows may come with
        :data:`_UNDESCRIBED` instead of its description. ``alone``: a statement that may be
        a transaction of its own when none is open (see :meth:`DirectStatements.execute`)."""

    async def many(self, sql: str, arguments: list[_Arguments]) -> _Outcome: ...


@attrs.frozen
class _Sqlite:
    connection: InlineSqliteConnection
    several: bool = True
    error: type[Exception] = sqlite3.Error

    async def one(self, sql: str, arguments: _Arguments, *, describe: bool, alone: bool = False) -> _Outcome:
        # The transaction (BEGIN IMMEDIATE) is SQLAlchemy's here; a BEGIN costs no round trip.
        return await self.connection.execute_direct(sql, arguments)

    async def many(self, sql: str, arguments: list[_Arguments]) -> _Outcome:
        return await self.connection.execute_direct_many(sql, arguments)


@attrs.frozen
class _Psycopg:
    connection: psycopg.AsyncConnection[Any]
    several: bool = False
    error: type[Exception] = psycopg.Error

    async def one(self, sql: str, arguments: _Arguments, *, describe: bool, alone: bool = False) -> _Outcome:
        if not alone or not _idle(self.connection):
            return await self._one(sql, arguments, describe=describe)
        async with _in_autocommit(self.connection):
            return await self._one(sql, arguments, describe=describe)

    async def _one(self, sql: str, arguments: _Arguments, *, describe: bool) -> _Outcome:
        cursor = self.connection.cursor()
        try:
            await cursor.execute(sql, arguments)
            description: Sequence[Any] | None
            if describe:
                description = cursor.description
            else:
                # psycopg builds a Column object per column for each ``description``: for the
                # registration's 32 columns that was ~3 % of the loop (docs/performance.md).
                result = cursor.pgresult
                has_rows = result is not None and (result.nfields or result.status == pq.ExecStatus.TUPLES_OK)
                description = _UNDESCRIBED if has_rows else None
            rows = await cursor.fetchall() if description is not None else []
            return description, rows, cursor.rowcount
        finally:
            await cursor.close()

    async def many(self, sql: str, arguments: list[_Arguments]) -> _Outcome:
        raise NotImplementedError  # never prepared: SQLAlchemy batches several sets (see the module)


def _idle(connection: psycopg.AsyncConnection[Any]) -> bool:
    """No transaction open: psycopg would send BEGIN first, a round trip of its own (with
    its COMMIT or ROLLBACK ~150 µs of the loop's CPU). Only under READ COMMITTED (the
    engine's), where a statement outside the transaction reads what it would inside."""
    return (
        not connection.autocommit
        and connection.isolation_level == psycopg.IsolationLevel.READ_COMMITTED
        and connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
    )


@contextlib.asynccontextmanager
async def _in_autocommit(connection: psycopg.AsyncConnection[Any]) -> AsyncIterator[None]:
    """The statements of the block are each a transaction of their own. Afterwards the
    connection is out of autocommit again, or closed: left in autocommit it would commit
    every later statement of whichever unit of work checks it out next."""
    try:
        await connection.set_autocommit(True)
        yield
    finally:
        try:
            await connection.set_autocommit(False)
        except Exception:  # noqa: BLE001 -- not idle (cancelled mid-statement) or broken: never reused
            await connection.close()


@contextlib.asynccontextmanager
async def outside_a_transaction(
    connection: AsyncConnection, statement: sa.Executable, *, alone: bool = False
) -> AsyncIterator[None]:
    """Around a statement SQLAlchemy runs itself: on psycopg with no transaction open, a
    :func:`plain_read`, or a statement that may stand ``alone``, runs in autocommit, as one
    run here does (:meth:`DirectStatements.execute`)."""
    sync = connection.sync_connection
    driver = None if sync is None or sync.closed or sync.invalidated else sync.connection.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection) or not _idle(driver) or not (alone or plain_read(statement)):
        yield
        return
    async with _in_autocommit(driver):
        yield


_Cache = weakref.WeakKeyDictionary[Any, dict[tuple[tuple[str, ...], bool], Prepared | None]]


class DirectStatements:
    """Runs the statements of one engine straight on its driver where it can (see the module)."""

    def __init__(self) -> None:
        self._prepared: _Cache = weakref.WeakKeyDictionary()
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()

    async def execute(
        self,
        connection: AsyncConnection,
        statement: sa.Executable,
        parameters: dict[str, Any] | list[dict[str, Any]] | None,
        *,
        alone: bool = False,
    ) -> Result[Any] | None:
        """The statement's result, or None when SQLAlchemy must run it (nothing was sent).

        On PostgreSQL a statement that reads only (:attr:`Prepared.reads_only`), or one the
        caller says may stand ``alone``, runs as a transaction of its own when none is open
        yet: the unit of work's transaction begins with its first write or locking read.
        Under READ COMMITTED every statement reads its own snapshot, in a transaction or
        not, so a read before the first write sees what it would have seen inside one; it
        saves BEGIN, and a unit of work that only reads ends with no ROLLBACK to send."""
        sync = connection.sync_connection
        driver = _driver(sync)
        many = isinstance(parameters, list)
        given: list[dict[str, Any]] = parameters if isinstance(parameters, list) else [parameters or {}]
        if sync is None or driver is None or not given:
            return None
        prepared = self._lookup(
            statement, connection.dialect, tuple(sorted(given[0])), many=many, several=driver.several
        )
        if prepared is None:
            return None
        try:
            statements = [prepared.arguments(one) for one in given]
        except Exception as error:
            # As SQLAlchemy reports a parameter it cannot process (a naive datetime, say).
            raise sa_exc.StatementError(str(error), prepared.sql, None, error) from error
        if any(statement is None for statement in statements):
            return None
        if not (sync.in_transaction() or sync.get_execution_options().get(SINGLE_STATEMENT)):
            if sync.get_transaction() is not None:  # failed, not rolled back: SQLAlchemy refuses
                return None
            await connection.begin()
        try:
            outcome = await _run(
                driver,
                prepared,
                [statement for statement in statements if statement is not None],
                alone=alone or prepared.reads_only,
            )
        except driver.error as error:
            # SQLAlchemy's own handling: its exception class, and a lost connection invalidated.
            await greenlet_spawn(sync._handle_dbapi_exception, error, prepared.sql, None, None, None)
            raise  # not reached: the handling raises
        return prepared.result(*outcome)

    def for_autocommit(
        self, dialect: Dialect, statement: sa.Executable, parameters: dict[str, Any]
    ) -> tuple[Prepared, tuple[str, _Arguments]] | None:
        """``statement`` ready to run on a psycopg connection in autocommit (a transaction of
        its own, with no SQLAlchemy connection at all: :meth:`run_in_autocommit`), or None
        when SQLAlchemy must run it — told before any connection is taken for it."""
        # psycopg takes one parameter set per call (several=False).
        prepared = self._lookup(statement, dialect, tuple(sorted(parameters)), many=False, several=False)
        if prepared is None:
            return None
        try:
            run = prepared.arguments(parameters)
        except Exception as error:
            raise sa_exc.StatementError(str(error), prepared.sql, None, error) from error
        return None if run is None else (prepared, run)

    @staticmethod
    async def run_in_autocommit(
        connection: psycopg.AsyncConnection[Any], ready: tuple[Prepared, tuple[str, _Arguments]]
    ) -> Result[Any]:
        """The result of a statement :meth:`for_autocommit` made ready; its failure is psycopg's own."""
        prepared, run = ready
        return prepared.result(*await _Psycopg(connection).one(*run, describe=prepared.shape is None))

    def _lookup(
        self, statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...], *, many: bool, several: bool
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
            variants[variant] = prepare(statement, dialect, keys, many=many, several=several)
        return variants[variant]


async def _run(
    driver: _Driver, prepared: Prepared, statements: list[tuple[str, _Arguments]], *, alone: bool
) -> _Outcome:
    """One statement, several parameter sets in one call, or — RETURNING rows — each apart."""
    describe = prepared.shape is None
    if len(statements) == 1:
        return await driver.one(*statements[0], describe=describe, alone=alone)
    if not prepared.returns_rows:
        sqls = {sql for sql, _ in statements}
        if len(sqls) == 1:
            return await driver.many(sqls.pop(), [arguments for _, arguments in statements])
    description, rows, rowcount = None, [], 0
    for sql, arguments in statements:
        description, some, count = await driver.one(sql, arguments, describe=describe)
        rows += some
        rowcount += max(count, 0)
    return description, rows, rowcount


direct_statements: Final = PerEngine(DirectStatements)
"""The direct runner of an engine (one per engine: it holds the compiled statements)."""


def _watched(dispatch: Any) -> bool:
    """Listeners of statements (not of connections or transactions, as the engine's own)."""
    return bool(
        dispatch.before_execute
        or dispatch.after_execute
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    )


def watched(engine: AsyncEngine) -> bool:
    """Whether the engine logs its statements (``echo``, the ``sqlalchemy.engine`` logger)
    or has listeners of them: then SQLAlchemy must run every one."""
    sync = engine.sync_engine
    return bool(sync._should_log_info() or _watched(sync.dispatch))


def _driver(sync: Connection | None) -> _Driver | None:
    """The connection's driver, when a statement may go straight to it: not in a savepoint,
    and with nobody watching SQLAlchemy's statements."""
    if sync is None or sync.closed or sync.invalidated or sync.in_nested_transaction():
        return None
    if sync._echo or _watched(sync.engine.dispatch) or _watched(sync.dispatch):
        return None
    driver = sync.connection.driver_connection
    if isinstance(driver, InlineSqliteConnection):
        return _Sqlite(driver)
    if isinstance(driver, psycopg.AsyncConnection):
        return _Psycopg(driver)
    return None
