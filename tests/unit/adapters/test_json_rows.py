"""Rows sent as one JSON parameter (:mod:`barbershop_adapters.sqlalchemy.json_rows`): what
each kind of value becomes, and what is refused before anything is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from barbershop_adapters.sqlalchemy.json_rows import json_rows, recordset

_TABLE = sa.Table(
    "kinds",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(3)),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("doc", sa.JSON),
)
_GIVEN = [column for column in _TABLE.c if column.name != "id"]


def test_each_kind_of_value_becomes_what_postgresql_reads_back_as_the_same_value() -> None:
    moscow = timezone(timedelta(hours=3))
    rows = [
        {"name": "Иван", "at": datetime(2026, 12, 3, 14, 0, 0, 123456, tzinfo=moscow), "blob": b"\x00\xff",
         "price": Decimal("1499.90"), "doc": {"канал": "sms", "n": 1}, "id": 7},
        {"name": None, "at": None, "blob": None, "price": None, "doc": None, "id": 8},
    ]  # fmt: skip

    assert json.loads(json_rows(_GIVEN, rows)) == [
        {"name": "Иван", "at": "2026-12-03T14:00:00.123456+03:00", "blob": "\\x00ff", "price": "1499.90",
         "doc": {"канал": "sms", "n": 1}},
        {"name": None, "at": None, "blob": None, "price": None, "doc": None},
    ]  # fmt: skip


def test_a_naive_instant_is_refused_as_the_columns_type_refuses_it() -> None:
    row = {"name": "a", "at": datetime(2026, 12, 3, 14, 0), "blob": None, "price": None, "doc": None}

    with pytest.raises(ValueError, match="naive datetime"):
        json_rows(_GIVEN, [row])


def test_a_value_of_no_column_kind_is_refused_rather_than_sent_as_its_repr() -> None:
    row = {"name": "a", "at": datetime.now(UTC), "blob": None, "price": None, "doc": object()}

    with pytest.raises(TypeError, match="object is not a column value"):
        json_rows(_GIVEN, [row])


def test_the_rows_are_read_by_column_name_strings_as_text_and_numbered_in_the_order_given() -> None:
    sql = recordset("kinds_rows", _GIVEN, "given")

    assert "name TEXT" in sql
    assert sql.startswith("ROWS FROM (json_to_recordset(CAST(:kinds_rows AS json))")
    assert sql.endswith("WITH ORDINALITY AS given(name, at, blob, price, doc, n)")
