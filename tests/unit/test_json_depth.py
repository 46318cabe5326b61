"""The JSON nesting limit counts arrays and objects, never brackets inside strings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barbershop_entrypoints.http.json_depth import json_depth

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b'"plain"', 0),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),
        (b'{"a": "\\"[[[", "b": "\\\\"}', 1),
        (b"[" * 3000 + b"]" * 3000, 3000),
        (b"[[[", 3),
    ],
)
def test_depth_counts_structure_outside_strings(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


@given(_json)
def test_depth_matches_the_decoded_value(value: object) -> None:
    assert json_depth(json.dumps(value).encode()) == _depth(value)
    assert json_depth(json.dumps(value, ensure_ascii=False).encode()) == _depth(value)
