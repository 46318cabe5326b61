"""The bulk body is decoded element by element and refused past its bound."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from barbershop_entrypoints.http.partner_errors import PartnerRefusal
from barbershop_entrypoints.http.partner_json import decode_json_array
from barbershop_entrypoints.http.partner_ndjson import lines
from barbershop_entrypoints.http.partner_openapi import EMPTY_BODY, MALFORMED_JSON, NOT_AN_ARRAY, TOO_MANY_PARTICIPANTS

MiB = 1024 * 1024


def refusal(raw: bytes, max_items: int = 3) -> str:
    with pytest.raises(PartnerRefusal) as refused:
        decode_json_array(raw, max_items)
    return refused.value.message


def test_a_four_mib_array_of_empty_objects_is_refused_without_building_it() -> None:
    raw = b"[" + b"{}," * (4 * MiB // 3 - 1) + b"{}]"
    tracemalloc.start()
    try:
        message = refusal(raw, 1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert message == TOO_MANY_PARTICIPANTS
    assert peak < 12 * MiB  # the decoded text (4 MiB) and 1001 dicts, not a million of them


def test_elements_come_back_in_order_with_decimal_prices() -> None:
    assert decode_json_array(b' [ {"a": 1.10} , [2], "x" ] \n', 3) == [{"a": Decimal("1.10")}, [2], "x"]
    assert decode_json_array(b"[]", 3) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1, 2, 3, 4]", TOO_MANY_PARTICIPANTS),
        (b'{"a": 1}', NOT_AN_ARRAY),
        (b"[{}, ]", MALFORMED_JSON),
        (b"[{} {}]", MALFORMED_JSON),
        (b"[{}] []", MALFORMED_JSON),
        (b"[{}", MALFORMED_JSON),
        (b"{", MALFORMED_JSON),
        (b"[\xff]", MALFORMED_JSON),
        (b"  ", EMPTY_BODY),
    ],
)
def test_a_body_that_is_not_a_bounded_json_array_is_refused_with_its_message(raw: bytes, message: str) -> None:
    assert refusal(raw) == message


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_lines_are_cut_across_chunks_and_an_overlong_line_is_dropped_as_it_arrives() -> None:
    source = chunks(b'{"a"', b": 1}\n\n  \n[2", b"]\n" + b"x" * 5, b"x" * 10, b"xx\n{}")

    found = [line async for line in lines(source, max_line=8)]

    assert found == [b'{"a": 1}', b"[2]", None, b"{}"]
