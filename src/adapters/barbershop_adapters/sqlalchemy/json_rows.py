"""A few rows sent to PostgreSQL as one JSON parameter, read back by ``json_to_recordset``.

The hand-written statements of the hot paths (a registration's consents and status history,
the audit events and notification changes a unit of work writes at its commit, a partner's
purchases) used to take their rows as one array per column. psycopg dumps a list in Python,
element by element, looking up each element's dumper: for the eight audit events of a
registration, nine arrays cost more of the event loop's CPU than the statement's round trip
(``docs/performance.md``, thirteenth session). One JSON text is encoded by the standard
library's C encoder and sent as a single string; the server turns it back into typed rows.

Only small row sets go this way. The set-based statements of a promo batch keep their binary
arrays (:mod:`.arrays`): for thousands of rows the binary format is what the server reads
cheapest.

Each column is read as its table's type, strings as ``text``: a value too long for its column
is refused by the column when it is stored, with the error an insert of it gives (as with
the arrays, which were cast to ``text[]``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_PG_DIALECT: Final = postgresql.dialect()  # type: ignore[no-untyped-call]
ORDER: Final = "n"
"""The column numbering the rows in the order given (``ORDER BY`` it to keep that order)."""


def pg_type(column: sa.Column[Any]) -> str:
    """The type a column's values are read as: its own, strings as ``text`` (see the module)."""
    if isinstance(column.type, sa.String):
        return "TEXT"
    return str(column.type.compile(dialect=_PG_DIALECT))


def recordset(parameter: str, columns: Sequence[sa.Column[Any]], alias: str) -> str:
    """A FROM item of the rows given in ``parameter`` (see :func:`json_rows`): a column per
    column named alike, and :data:`ORDER`."""
    definitions = ", ".join(f"{column.name} {pg_type(column)}" for column in columns)
    aliases = ", ".join(column.name for column in columns)
    return (
        f"ROWS FROM (json_to_recordset(CAST(:{parameter} AS json)) AS ({definitions})) "
        f"WITH ORDINALITY AS {alias}({aliases}, {ORDER})"
    )


def json_rows(columns: Sequence[sa.Column[Any]], rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows' values of ``columns`` as one JSON array of objects, for :func:`recordset`.

    Instants go as ISO 8601 with their offset (a naive one is refused, as ``UtcDateTime``
    refuses it), bytes in ``bytea``'s hex form, decimals as their exact text, documents
    (dicts) nested as they are.
    """
    names = [column.name for column in columns]
    return _ENCODER.encode([{name: row[name] for name in names} for row in rows])


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            # PostgreSQL would read it in the session's time zone.
            raise ValueError("naive datetime given where a timezone-aware one is required")
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value this module sends")


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=_json_value)
"""Built once (``json.dumps`` with options builds an encoder per call); rows hold no cycles."""
