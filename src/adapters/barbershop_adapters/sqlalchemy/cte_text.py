"""Pieces of the hand-written PostgreSQL statements (data-modifying CTEs), made from the
schema's own names so that they follow the tables.

Each column given to such a statement is a parameter named ``<table>__<column>``: one
value (:func:`row_parameters`) or an array of them (:func:`rows_parameters`).
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from barbershop_adapters.sqlalchemy.repositories import Values

_PG_DIALECT: Final = postgresql.dialect()  # type: ignore[no-untyped-call]


def given_columns(table: sa.Table, *left_out: str) -> list[sa.Column[Any]]:
    """The columns of ``table`` a new row gives (``left_out``: its id, its link to its parent)."""
    return [column for column in table.c if column.name not in ("id", *left_out)]


def parameter(column: sa.Column[Any]) -> str:
    return f"{column.table.name}__{column.name}"


def names(columns: list[sa.Column[Any]]) -> str:
    return ", ".join(column.name for column in columns)


def cast(column: sa.Column[Any], suffix: str = "") -> str:
    """A parameter cast to its column's type (``[]``: an array of it): untyped, a parameter in
    a SELECT list would be taken for text. Strings stay ``text``: an explicit cast to
    ``varchar(n)`` cuts a longer value silently, where storing it in the column refuses it."""
    type_name = "TEXT" if isinstance(column.type, sa.String) else column.type.compile(dialect=_PG_DIALECT)
    return f"CAST(:{parameter(column)} AS {type_name}{suffix})"


def casts(columns: list[sa.Column[Any]], suffix: str = "") -> str:
    return ", ".join(cast(column, suffix) for column in columns)


def typed(columns: list[sa.Column[Any]]) -> list[sa.BindParameter[Any]]:
    """The columns' parameters typed like them, so their values are converted as an ordinary
    insert's are (an aware instant to UTC, a dict to JSON)."""
    return [sa.bindparam(parameter(column), type_=column.type) for column in columns]


def row_parameters(columns: list[sa.Column[Any]], values: Values) -> Values:
    return {parameter(column): values[column.name] for column in columns}


def rows_parameters(columns: list[sa.Column[Any]], rows: list[Values]) -> Values:
    return {parameter(column): [row[column.name] for row in rows] for column in columns}
