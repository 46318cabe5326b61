"""The one place where database failures become the core's exceptions.

* a clash with a unique rule the core knows by name (``info["violation"]`` in
  :mod:`barbershop_adapters.sqlalchemy.tables`) becomes ``UniqueViolation(<name>)``;
* everything else the database or the network does wrong (lost connection, timeout,
  lock or serialization conflict, a refused row) becomes :class:`StorageUnavailable`:
  the transaction is gone, nothing of it was kept, and the core answers A3.

The driver's own exception never escapes. When its text may quote row values (an
integrity or data error echoes the offending key, e.g. a raw phone), it is not even
chained: the translated exception names only the constraint and the SQLSTATE.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable
from typing import Final, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from barbershop_adapters.sqlalchemy.tables import metadata
from barbershop_core.ports import StorageUnavailable, UniqueViolation

T = TypeVar("T")

_PG_UNIQUE_VIOLATION: Final = "23505"
_SQLITE_UNIQUE_CODES: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})
# "UNIQUE constraint failed: persons.phone_number" / "...: index 'ix_persons_phone_number'"
_SQLITE_UNIQUE_MESSAGE: Final = re.compile(r"^UNIQUE constraint failed: (?:index '(?P<index>[^']+)'|(?P<columns>.+))$")

FAULTS: Final = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    sa_exc.DisconnectionError,
    sa_exc.PendingRollbackError,  # the connection died earlier in this transaction
    OSError,  # includes TimeoutError and ConnectionError raised below the driver
)
"""What :func:`translated` catches; anything else is a bug and flies as it is."""


def _unique_rules() -> tuple[dict[str, str], dict[tuple[str, frozenset[str]], str]]:
    by_name: dict[str, str] = {}
    by_columns: dict[tuple[str, frozenset[str]], str] = {}
    for table in metadata.tables.values():
        rules: list[sa.Index | sa.UniqueConstraint | sa.PrimaryKeyConstraint] = [
            index for index in table.indexes if index.unique
        ]
        rules += [c for c in table.constraints if isinstance(c, sa.UniqueConstraint | sa.PrimaryKeyConstraint)]
        for rule in rules:
            violation = rule.info.get("violation")
            if violation is None:
                continue
            assert isinstance(rule.name, str)  # named by the metadata's naming convention
            by_name[rule.name] = violation
            by_columns[table.name, frozenset(column.name for column in rule.columns)] = violation
    return by_name, by_columns


_VIOLATION_BY_NAME, _VIOLATION_BY_COLUMNS = _unique_rules()


def _sqlite_unique_violation(orig: sqlite3.IntegrityError) -> str | None:
    if getattr(orig, "sqlite_errorname", None) not in _SQLITE_UNIQUE_CODES:
        return None
    match = _SQLITE_UNIQUE_MESSAGE.match(str(orig))
    if match is None:
        return None
    if match["index"]:
        return _VIOLATION_BY_NAME.get(match["index"])
    qualified = [part.strip() for part in match["columns"].split(",")]
    tables = {name.partition(".")[0] for name in qualified}
    if len(tables) != 1:
        return None
    columns = frozenset(name.partition(".")[2] for name in qualified)
    return _VIOLATION_BY_COLUMNS.get((tables.pop(), columns))


def _unique_violation(orig: BaseException) -> tuple[bool, str | None]:
    """Is this a uniqueness clash, and under which name does the core know it?"""
    if isinstance(orig, sqlite3.IntegrityError):
        name = _sqlite_unique_violation(orig)
        return getattr(orig, "sqlite_errorname", None) in _SQLITE_UNIQUE_CODES, name
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
        return True, _VIOLATION_BY_NAME.get(constraint) if isinstance(constraint, str) else None
    return False, None


def _describe(orig: BaseException) -> str:
    """A driver error named by class, SQLSTATE and constraint: never the row values it may quote."""
    parts = [type(orig).__name__]
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    if sqlstate:
        parts.append(str(sqlstate))
    constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
    if constraint:
        parts.append(f"constraint {constraint}")
    return ", ".join(parts)


def translate(error: BaseException) -> Exception:
    """The core's exception for one of :data:`FAULTS`."""
    if isinstance(error, sa_exc.DBAPIError):
        orig = error.orig if error.orig is not None else error
        connection_level = (
            isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) or error.connection_invalidated
        )
        return _translated_driver_error(
            orig, integrity=isinstance(error, sa_exc.IntegrityError), connection_level=connection_level, cause=error
        )
    return _unavailable(error)


def translate_psycopg(error: psycopg.Error | OSError) -> Exception:
    """The core's exception for psycopg's own error, met where no engine wraps it (a
    statement on a connection of :mod:`.psycopg_sessions`), as :func:`translate` gives it."""
    if not isinstance(error, psycopg.Error):
        return _unavailable(error)
    return _translated_driver_error(
        error,
        integrity=isinstance(error, psycopg.IntegrityError),
        connection_level=isinstance(error, psycopg.OperationalError | psycopg.InterfaceError),
        cause=error,
    )


def _unavailable(error: BaseException) -> StorageUnavailable:
    """Below the driver (a socket, a pool's timeout): named by class, the cause attached."""
    fault = StorageUnavailable(f"database unavailable ({type(error).__name__})")
    fault.__cause__ = error
    return fault


def _translated_driver_error(
    orig: BaseException, *, integrity: bool, connection_level: bool, cause: BaseException
) -> Exception:
    if integrity:
        is_unique, violation = _unique_violation(orig)
        if violation is not None:
            return UniqueViolation(violation)
        if is_unique:
            # A clash on a key the core has no name for: a concurrent writer got there
            # first (a notification's history row, say). Retrying is the answer.
            return StorageUnavailable(f"concurrent write conflict ({_describe(orig)})")
        return StorageUnavailable(f"the database refused the row ({_describe(orig)})")
    if connection_level:
        fault = StorageUnavailable(f"database unavailable ({_describe(orig)})")
        # Connection-level messages quote no row data (parameters are hidden by the
        # engine), so the cause stays attached for whoever debugs the outage.
        fault.__cause__ = cause
        return fault
    return StorageUnavailable(f"the database refused the statement ({_describe(orig)})")


async def translated(work: Awaitable[T]) -> T:
    """Await database work; its failures come out as ``UniqueViolation`` / ``StorageUnavailable``."""
    try:
        return await work
    except FAULTS as error:
        core_error = translate(error)
    # Raised outside the ``except`` block on purpose: the driver's exception (whose text
    # may quote a raw phone) must not ride along as ``__context__``.
    raise core_error
