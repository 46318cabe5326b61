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

from entrypoints.http.json_depth import MAX_JSON_DEPTH, json_depth
from entrypoints.http.partner_errors import bad_request
from entrypoints.http.partner_openapi import EMPTY_BODY, MALFORMED_JSON

_LONGEST_INT: Final = 100
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
