"""A limit on how deeply a JSON body may nest, checked before any decoder sees it.

msgspec (behind Litestar's ``data``) decodes recursively: a 6 KB body of 3,000 nested
arrays raises ``RecursionError``, which is not a decoding error to Litestar. No body of
this API nests beyond a few levels, so anything deeper is refused as malformed JSON.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request

from barbershop_entrypoints.http.problems import json_too_deep

MAX_JSON_DEPTH: Final = 32

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

_OPEN: Final = frozenset(b"[{")
_CLOSE: Final = frozenset(b"]}")
_QUOTE: Final = ord('"')
_NOT_STRUCTURAL: Final = bytes(byte for byte in range(256) if byte not in b'"[]{}')


def json_depth(raw: bytes) -> int:
    """How deeply ``raw`` nests arrays and objects (brackets inside strings do not count)."""
    # Escaped backslashes first, then escaped quotes: what is left of a string is its two quotes.
    structural = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURAL)
    depth = deepest = 0
    in_string = False
    for byte in structural:
        if byte == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


async def limit_json_depth(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of every route that decodes a JSON body: deep nesting is 400, not a crash."""
    if request.method in _BODY_METHODS and json_depth(await request.body()) > MAX_JSON_DEPTH:
        raise json_too_deep(MAX_JSON_DEPTH)
