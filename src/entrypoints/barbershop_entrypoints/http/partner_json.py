"""The partner endpoints' JSON decoder: every number the body holds becomes a value the core can judge.

A number with a fraction or an exponent is a ``Decimal`` (``0.1`` stays 0.1). A number no
``Decimal`` can hold (``1e99999999999999999999``) or an integer longer than Python parses
(4,300 digits) is not malformed JSON: it becomes the nearest value that keeps its meaning
(±infinity, zero, or a tiny fraction), so the core refuses that one price with its own
Russian message and a bulk request loses only that participant.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Final, NoReturn

from barbershop_entrypoints.http.json_depth import MAX_JSON_DEPTH, json_depth
from barbershop_entrypoints.http.partner_errors import bad_request
from barbershop_entrypoints.http.partner_openapi import EMPTY_BODY, MALFORMED_JSON, NOT_AN_ARRAY, TOO_MANY_PARTICIPANTS

_LONGEST_INT: Final = 100
_SPACE: Final = re.compile(r"[ \t\n\r]*")
_NUMBER: Final = re.compile(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?")
_TINY: Final = Decimal("1E-1000")
"""Stands for a positive number too small for a ``Decimal``: more decimals than any price has."""


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        pass
    match = _NUMBER.fullmatch(text)
    if match is None:  # pragma: no cover - the JSON scanner hands over JSON numbers only
        raise ValueError(text)
    sign, whole, fraction, exponent = match.groups()
    negative = sign == "-"
    if not (whole + (fraction or "")).strip("0"):
        return Decimal("-0" if negative else "0")
    if exponent is not None and int(exponent) > 0:
        return Decimal("-Infinity" if negative else "Infinity")
    return -_TINY if negative else _TINY


def _integer(text: str) -> int | Decimal:
    # ``int()`` refuses more than 4,300 digits; a ``Decimal`` takes any, and is refused as a price.
    return int(text) if len(text) <= _LONGEST_INT else _decimal(text)


def decode_json(raw: bytes) -> object:
    """The body as Python values; a number with a fraction or exponent is a ``Decimal``."""
    if not raw.strip():
        raise bad_request(EMPTY_BODY)
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise bad_request(MALFORMED_JSON)
    try:
        return json.loads(raw, parse_float=_decimal, parse_int=_integer, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise bad_request(MALFORMED_JSON) from None


_DECODER: Final = json.JSONDecoder(parse_float=_decimal, parse_int=_integer, parse_constant=_reject_constant)


def decode_json_array(raw: bytes, max_items: int) -> list[object]:
    """A JSON array decoded element by element, refused once it holds more than ``max_items``.

    Only the elements up to the bound are ever built: a 4 MiB array of ``{}`` (a million
    dicts, ~100 MiB as Python objects) costs the text and ``max_items + 1`` of them.
    A body that is JSON but not an array is refused as such.
    """
    if not raw.strip():
        raise bad_request(EMPTY_BODY)
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise bad_request(MALFORMED_JSON)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise bad_request(MALFORMED_JSON) from None
    at = _SPACE.match(text).end()  # type: ignore[union-attr]  # the pattern matches the empty string
    if not text.startswith("[", at):
        decode_json(raw)  # malformed JSON is told as such
        raise bad_request(NOT_AN_ARRAY)
    try:
        return _elements(text, at + 1, max_items)
    except (ValueError, RecursionError):
        raise bad_request(MALFORMED_JSON) from None


def _elements(text: str, at: int, max_items: int) -> list[object]:
    items: list[object] = []
    at = _skip(text, at)
    if text.startswith("]", at):
        return _end(text, at + 1, items)
    while True:
        item, at = _DECODER.raw_decode(text, at)
        items.append(item)
        if len(items) > max_items:
            raise bad_request(TOO_MANY_PARTICIPANTS)
        at = _skip(text, at)
        if text.startswith("]", at):
            return _end(text, at + 1, items)
        if not text.startswith(",", at):
            raise ValueError("expected , or ]")
        at = _skip(text, at + 1)


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # the pattern matches the empty string


def _end(text: str, at: int, items: list[object]) -> list[object]:
    if _skip(text, at) != len(text):
        raise ValueError("data after the array")
    return items
