"""Rows given as one JSON parameter (:mod:`barbershop_adapters.sqlalchemy.json_rows`) arrive in
PostgreSQL as the same typed values, in the order given, and a value too long for its column
is refused there, not cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy.json_rows import ORDER, json_rows, recordset

pytestmark = pytest.mark.postgres

_TABLE = sa.Table(
    "json_rows_kinds",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(5)),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("doc", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")),
)
_GIVEN = [column for column in _TABLE.c if column.name != "id"]
_NAMES = ", ".join(column.name for column in _GIVEN)
_INSERT = sa.text(
    f"INSERT INTO {_TABLE.name} ({_NAMES}) SELECT {_NAMES} FROM {recordset('rows', _GIVEN, 'given')} "  # noqa: S608 -- the test table's own names
    f"ORDER BY {ORDER} RETURNING id, {_NAMES}"
)


async def _inserted(engine: AsyncEngine, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    async with engine.begin() as connection:
        await connection.run_sync(_TABLE.create)
        try:
            result = await connection.execute(_INSERT, {"rows": json_rows(_GIVEN, rows)})
            return [dict(row) for row in result.mappings()]
        finally:
            await connection.rollback()


async def test_every_kind_of_value_is_stored_as_given_in_the_order_given(postgres_engine: AsyncEngine) -> None:
    moscow = timezone(timedelta(hours=3))
    rows: list[dict[str, object]] = [
        {
            "name": f"Ив{number:03d}",
            "at": datetime(2026, 12, 3, 14, 0, 0, number, tzinfo=moscow),
            "blob": bytes([number % 256, 0, 255]),
            "price": Decimal(f"{number}.05"),
            "doc": {"канал": "sms", "n": number, "quote": 'a "b" \\ c'},
        }
        for number in range(200)
    ]
    rows.append({"name": None, "at": None, "blob": None, "price": None, "doc": None})

    stored = await _inserted(postgres_engine, rows)

    ids = [row.pop("id") for row in stored]
    assert ids == sorted(ids)  # ids given in the order of the rows, as the audit trail is read
    assert stored == rows
    assert stored[5]["at"] == datetime(2026, 12, 3, 11, 0, 0, 5, tzinfo=UTC)


async def test_a_string_too_long_for_its_column_is_refused_not_cut(postgres_engine: AsyncEngine) -> None:
    row: dict[str, object] = {"name": "длинное", "at": None, "blob": None, "price": None, "doc": None}

    with pytest.raises(sa.exc.DataError, match="value too long"):
        await _inserted(postgres_engine, [row])
