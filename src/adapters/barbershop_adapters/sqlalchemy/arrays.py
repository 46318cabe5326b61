"""Arrays sent to PostgreSQL in its binary format.

psycopg sends a Python list as a text array: every element is formatted and quoted in
Python, then parsed again by the server's ``array_in``. For the set-based statements of a
promo batch (arrays of 1,000–2,000 timestamps, keys, prices) that was the larger part of
their cost: ~6 ms of client CPU per 1,000 timestamps, where the binary format takes
~0.5 ms and the server reads it without parsing (docs/performance.md, "Set-based bulk").

Only lists wrapped in :class:`BinaryArray` go binary; every other list keeps psycopg's
default, so no other statement changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg.types.array import ListBinaryDumper


class BinaryArray(list[Any]):
    """A statement parameter PostgreSQL receives as a binary array (cast it in the SQL:
    ``CAST(:values AS bigint[])``)."""


def array(values: Iterable[Any]) -> BinaryArray:
    return BinaryArray(values)


def send_binary_arrays(driver_connection: Any) -> None:
    """Make ``driver_connection`` (a psycopg connection) dump :class:`BinaryArray` binary."""
    driver_connection.adapters.register_dumper(BinaryArray, ListBinaryDumper)
