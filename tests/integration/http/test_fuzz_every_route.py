"""Hypothesis fuzzes headers, cookies, query strings, path ids and bodies on every route of the app.

In process (Litestar's test client on SQLite), so nothing in front of the app (uvicorn's
parser) filters the bytes out first: non-ASCII and NUL in headers and cookies, garbage
``Content-Type``, deep or huge JSON, non-UTF-8 bodies, ids far beyond int64; with a valid
bearer token, a valid page session, a partner key, or none. No answer may be a 5xx and
nothing may be logged at ERROR.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute

from tests.integration.http.conftest import Api
from tests.integration.partner.conftest import PartnerApi, sqlite_partner
from tests.integration.web.conftest import Pages, csrf_of, logged_in, pages

__all__ = ["logged_in", "pages", "sqlite_partner"]

EXAMPLES = 400
_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")

_header_text = st.binary(max_size=80) | st.text(st.characters(max_codepoint=255), max_size=80).map(
    lambda text: text.encode("latin-1")
)
_number = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([0, 1, 2**31, 2**63, 10**30, -1])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_field_names = st.sampled_from(["phone", "first_name", "login", "password", "channel", "price", "purchases", "fio"])
_bodies = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(_field_names, _json_values, max_size=5).map(lambda value: json.dumps(value).encode()),
    st.integers(min_value=40, max_value=4000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.sampled_from([b'{"price": 1e99999999999999999999}', b'{"phone": "\\u0000"}', b"\xff\xfe\x00", b"9" * 5000]),
)
_content_types = (
    st.sampled_from(
        [b"application/json", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x", b"text/plain"]
    )
    | _header_text
)


def _routes(api: Api) -> list[tuple[str, str]]:
    routes = [route for route in api.client.app.routes if isinstance(route, HTTPRoute)]
    return sorted((method, route.path) for route in routes for method in route.methods if method != "OPTIONS")


@st.composite
def _requests(draw: st.DrawFn, routes: list[tuple[str, str]]) -> dict[str, Any]:
    method, template = draw(st.sampled_from(routes))
    path = _PARAMETER.sub(lambda match: str(draw(_number)) if match[2] == "int" else "x%00%ff", template)
    query = draw(st.lists(st.tuples(_field_names | st.text(max_size=8), st.text(max_size=40)), max_size=3))
    headers: list[tuple[bytes, bytes]] = []
    for name in draw(
        st.lists(
            st.sampled_from(["authorization", "cookie", "x-api-key", "x-request-id", "x-signature", "idempotency-key"]),
            max_size=4,
            unique=True,
        )
    ):
        value = draw(_header_text)
        headers.append((name.encode(), b"Bearer " + value if name == "authorization" else value))
    if method in {"POST", "PATCH", "PUT"}:
        headers.append((b"content-type", draw(_content_types)))
    return {
        "method": method,
        "url": path,
        "params": query,
        "headers": headers,
        "content": draw(_bodies) if method in {"POST", "PATCH", "PUT"} else None,
        "credentials": draw(st.sampled_from(["none", "bearer", "session", "partner"])),
    }


@pytest.fixture
def credentials(logged_in: Pages, sqlite_partner: PartnerApi) -> dict[str, list[tuple[bytes, bytes]]]:
    api = logged_in.api
    session = api.client.cookies.get("barbershop_session") or ""
    csrf = csrf_of(logged_in.get("/"))
    cookie = f"barbershop_session={session}; barbershop_csrf={csrf}".encode()
    api.client.cookies.clear()  # every request below carries exactly the credentials it drew
    return {
        "none": [],
        "bearer": [(b"authorization", f"Bearer {api.token}".encode())],
        "session": [(b"cookie", cookie), (b"x-csrf-token", csrf.encode())],
        "partner": [(b"x-api-key", sqlite_partner.key.encode())],
    }


def test_no_input_on_any_route_is_a_server_error(
    logged_in: Pages, credentials: dict[str, list[tuple[bytes, bytes]]], caplog: pytest.LogCaptureFixture
) -> None:
    api = logged_in.api
    routes = _routes(api)
    assert len(routes) > 30
    caplog.set_level(logging.WARNING)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_requests(routes))
    def answers_without_a_server_error(request: dict[str, Any]) -> None:
        caplog.clear()
        headers = credentials[request.pop("credentials")] + request.pop("headers")
        answer = api.client.request(**request, headers=headers, follow_redirects=False)
        errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
        assert answer.status_code < 500, (request, answer.status_code, answer.text[:500], errors)
        assert not errors, (request, errors)

    answers_without_a_server_error()
