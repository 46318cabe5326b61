"""Hostile input anywhere in a request gets a 4xx problem document, never a 5xx or a traceback.

Headers, cookies, query strings, path ids and bodies an attacker or a broken client may
send: each is answered as the API answers any bad input (RFC 9457, Russian text, a stable
code), and nothing is logged at ERROR.
"""

from __future__ import annotations

import logging

import pytest

from barbershop_entrypoints.http.problems import MAX_BODY_BYTES
from tests.integration.http.conftest import Api, assert_problem

DEEP_JSON = b'{"login": ' + b"[" * 3000 + b"]" * 3000 + b', "password": "x"}'


@pytest.fixture(autouse=True)
def _no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


def _assert_nothing_logged_at_error(caplog: pytest.LogCaptureFixture) -> None:
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors, [record.getMessage() for record in errors]


def test_a_non_ascii_bearer_token_is_401(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    answer = sqlite_api.client.get("/api/channels", headers=[(b"authorization", "Bearer abc.\u00e9".encode("latin-1"))])

    assert_problem(answer, 401, "unauthorized")
    _assert_nothing_logged_at_error(caplog)


def test_a_non_latin1_bearer_token_is_401(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    raw = "Bearer abc.\u0436".encode()
    answer = sqlite_api.client.get("/api/channels", headers=[(b"authorization", raw)])

    assert_problem(answer, 401, "unauthorized")
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "token",
    [
        "x" * 20_000,
        "a.b.c",
        "..",
        "eyJhbGciOiJub25lIn0.e30.",  # alg: none, an empty payload, no signature
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",  # a payload that is not JSON
        "eyJ" + "\u00e9" * 10,
    ],
    ids=["huge", "three-dots", "empty-parts", "alg-none", "payload-not-json", "non-ascii"],
)
def test_a_huge_or_malformed_token_is_the_apis_own_401(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    for path in ("/api/channels", "/api/client/me"):
        answer = sqlite_api.client.get(path, headers=[(b"authorization", f"Bearer {token}".encode("latin-1"))])

        assert_problem(answer, 401, "unauthorized")  # problem+json: Litestar's own 401 body never shows
        assert answer.headers["www-authenticate"] == "Bearer"
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/login",
        "/api/auth/change-password",
        "/api/registrations",
        "/api/persons/check",
        "/api/persons",
        "/api/notifications/1/resend",
    ],
)
def test_deeply_nested_json_is_400(sqlite_api: Api, caplog: pytest.LogCaptureFixture, path: str) -> None:
    answer = sqlite_api.post(path, content=DEEP_JSON, headers={"Content-Type": "application/json"})

    assert_problem(answer, 400, "malformed_json")
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "body",
    [b'{"login": "\xff\xfe", "password": "x"}', b'{"login": "a\\u0000b", "password": "x\\u0000"}'],
    ids=["not-utf8", "nul"],
)
def test_a_login_body_with_bad_bytes_is_4xx(sqlite_api: Api, caplog: pytest.LogCaptureFixture, body: bytes) -> None:
    answer = sqlite_api.client.post("/api/auth/login", content=body, headers={"Content-Type": "application/json"})

    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "body",
    [b'{"phone": "+7911\\u00001234567"}', b'{"phone": "\xc3\x28"}', b'{"phone": 1e999999999999999999999}'],
    ids=["nul", "not-utf8", "huge-number"],
)
def test_a_phone_check_body_with_bad_values_is_4xx(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    answer = sqlite_api.post("/api/persons/check", content=body, headers={"Content-Type": "application/json"})

    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    _assert_nothing_logged_at_error(caplog)


def test_an_oversize_body_is_413(sqlite_api: Api) -> None:
    answer = sqlite_api.post(
        "/api/registrations", content=b" " * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}
    )

    assert_problem(answer, 413, "request_too_large")


@pytest.mark.parametrize(
    "content_type", ["\u00e9/json", "application/json; charset=\u00ff", ";;;", "application/json; charset=utf-7"]
)
def test_a_garbage_content_type_is_4xx(sqlite_api: Api, caplog: pytest.LogCaptureFixture, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"authorization", f"Bearer {sqlite_api.token}".encode())]
    answer = sqlite_api.client.post("/api/persons/check", content=b'{"phone": "+79111234567"}', headers=headers)

    assert 200 <= answer.status_code < 500, answer.text
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "query",
    [
        "phone=%00",
        "phone=" + "9" * 5000,
        "phone=%ff%fe",
        "limit=99999999999999999999999999",
        "limit=-1",
        "phone=%2B7911&phone=%2B7912",
    ],
)
def test_a_malformed_query_is_4xx(sqlite_api: Api, caplog: pytest.LogCaptureFixture, query: str) -> None:
    answer = sqlite_api.get(f"/api/clients?{query}")

    assert 200 <= answer.status_code < 500, answer.text
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "path",
    [
        "/api/clients/99999999999999999999999",
        "/api/clients/-99999999999999999999999",
        "/api/notifications/99999999999999999999999",
        "/api/notifications/99999999999999999999999/resend",
    ],
)
def test_a_path_id_beyond_int64_is_4xx(sqlite_api: Api, caplog: pytest.LogCaptureFixture, path: str) -> None:
    method = sqlite_api.post if path.endswith("resend") else sqlite_api.get
    answer = method(path)

    assert 400 <= answer.status_code < 500, answer.text
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize("notification_id", [2**63, 2**31, 0])
def test_a_delivery_callback_for_an_id_no_notification_can_have_is_401(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture, notification_id: int
) -> None:
    answer = sqlite_api.client.post(
        f"/api/notifications/{notification_id}/delivery-callback",
        content=b"{}",
        headers={"Content-Type": "application/json", "X-Signature": "sha256=00"},
    )

    assert_problem(answer, 401, "invalid_signature")
    _assert_nothing_logged_at_error(caplog)


def test_a_nul_in_a_static_path_is_404(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    assert sqlite_api.client.get("/static/app%00.js").status_code == 404
    _assert_nothing_logged_at_error(caplog)


def test_a_nul_in_a_header_is_not_a_server_error(sqlite_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    answer = sqlite_api.client.get(
        "/api/channels", headers=[(b"authorization", b"Bearer a\x00b"), (b"x-request-id", b"\x00\xff")]
    )

    assert_problem(answer, 401, "unauthorized")
    _assert_nothing_logged_at_error(caplog)
