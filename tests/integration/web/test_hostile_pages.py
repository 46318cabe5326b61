"""Hostile cookies, form fields and ids on the manager's pages: a 4xx page or a redirect, never a 5xx."""

from __future__ import annotations

import logging

import pytest

from barbershop_entrypoints.http.jwt_auth import session_auth
from barbershop_entrypoints.http.web.account_pages import CLIENT_PAGE
from barbershop_entrypoints.http.web.security import MANAGER_PAGE
from tests.integration.web.conftest import Pages, csrf_of


def _assert_nothing_logged_at_error(caplog: pytest.LogCaptureFixture) -> None:
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors, [record.getMessage() for record in errors]


@pytest.mark.parametrize("cookie", ["barbershop_csrf", "barbershop_session"])
def test_a_non_ascii_page_cookie_on_the_login_page_is_answered(
    pages: Pages, caplog: pytest.LogCaptureFixture, cookie: str
) -> None:
    headers = [(b"cookie", f"{cookie}=abc.\u00e9".encode())]
    answer = pages.client.get("/login", headers=headers)

    assert answer.status_code == 200
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize("path", ["/login", "/registrations", "/clients/1/edit"])
def test_a_non_ascii_csrf_cookie_on_a_page_post_is_403(
    pages: Pages, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    headers = [
        (b"cookie", "barbershop_csrf=abc.\u00e9".encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    answer = pages.client.post(path, content="_csrf=abc.\u00e9".encode(), headers=headers)

    assert answer.status_code == 403
    assert "Форма устарела" in answer.text
    _assert_nothing_logged_at_error(caplog)


def test_a_non_ascii_session_cookie_on_a_page_redirects_to_login(
    pages: Pages, caplog: pytest.LogCaptureFixture
) -> None:
    answer = pages.client.get(
        "/clients", headers=[(b"cookie", "barbershop_session=abc.\u00e9".encode())], follow_redirects=False
    )

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize(
    "path",
    [
        "/clients/99999999999999999999999",
        "/clients/99999999999999999999999/edit",
        "/registrations/99999999999999999999999",
        "/web/notifications/99999999999999999999999",
    ],
)
def test_a_page_id_beyond_int64_is_4xx(logged_in: Pages, caplog: pytest.LogCaptureFixture, path: str) -> None:
    answer = logged_in.get(path)

    assert 400 <= answer.status_code < 500, answer.text
    _assert_nothing_logged_at_error(caplog)


def test_a_csrf_field_with_a_lone_surrogate_escape_is_403(logged_in: Pages, caplog: pytest.LogCaptureFixture) -> None:
    csrf_of(logged_in.get("/"))
    answer = logged_in.client.post(
        "/registrations",
        content=b"_csrf=%ED%A0%80&phone=%00&first_name=%FF",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )

    assert answer.status_code == 403
    _assert_nothing_logged_at_error(caplog)


def test_deeply_nested_json_to_the_phone_check_is_400(logged_in: Pages, caplog: pytest.LogCaptureFixture) -> None:
    token = csrf_of(logged_in.get("/"))
    answer = logged_in.client.post(
        "/web/phone-check",
        content=b'{"phone": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_json"
    _assert_nothing_logged_at_error(caplog)


@pytest.mark.parametrize("kind", ["api-token", "huge", "alg-none", "three-dots"])
def test_a_session_cookie_that_is_not_a_page_session_redirects_to_login(
    pages: Pages, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    value = {
        "api-token": pages.api.token,  # a valid manager-api token: another audience
        "huge": "x" * 5000,
        "alg-none": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwidmVyIjowfQ.",
        "three-dots": "...",
    }[kind]
    for cookie, path, login in (
        ("barbershop_session", "/clients", "/login"),
        ("barbershop_client_session", "/client", "/client/login"),
    ):
        answer = pages.client.get(path, headers=[(b"cookie", f"{cookie}={value}".encode())], follow_redirects=False)

        assert answer.status_code == 303, (cookie, answer.text)
        assert answer.headers["location"].startswith(login)
    _assert_nothing_logged_at_error(caplog)


def test_a_page_session_of_the_other_pages_audience_redirects_to_login(pages: Pages) -> None:
    state, now = pages.client.app.state, pages.api.clock.now()
    # Well signed and current, but each for the other pages (the client with id 1 need not exist).
    manager_session = session_auth(state, MANAGER_PAGE).issue(1, 0, now).token
    client_session = session_auth(state, CLIENT_PAGE).issue(1, 0, now).token

    as_client = pages.get("/client", headers=[(b"cookie", f"barbershop_client_session={manager_session}".encode())])
    as_manager = pages.get("/clients", headers=[(b"cookie", f"barbershop_session={client_session}".encode())])

    assert (as_client.status_code, as_client.headers["location"]) == (303, "/client/login")
    assert as_manager.status_code == 303
    assert as_manager.headers["location"].startswith("/login")
    assert (
        pages.get("/clients", headers=[(b"cookie", f"barbershop_session={manager_session}".encode())]).status_code
        == 200
    )
