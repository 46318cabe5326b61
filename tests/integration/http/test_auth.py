"""Manager login, the bearer token, the temporary password, and the brute-force limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from barbershop_adapters.sqlalchemy.attempt_counter import SqlAttemptCounter
from barbershop_core.use_cases.accounts import CreateManager, DeactivateManager, create_manager, deactivate_manager
from barbershop_entrypoints.http.throttle import LoginThrottle
from tests.integration.http.conftest import MANAGER_LOGIN, MANAGER_PASSWORD, Api, assert_problem

MANAGER_ROUTES = [
    ("GET", "/api/channels"),
    ("GET", "/api/notification-templates"),
    ("GET", "/api/notifications/alerts"),
    ("GET", "/api/persons?phone=%2B79111234567"),
    ("GET", "/api/clients?phone=%2B79111234567"),
    ("GET", "/api/clients/1"),
    ("PATCH", "/api/clients/1"),
    ("GET", "/api/notifications/1"),
    ("POST", "/api/persons/check"),
    ("POST", "/api/persons"),
    ("POST", "/api/clients"),
    ("POST", "/api/registrations"),
    ("POST", "/api/notifications"),
    ("POST", "/api/notifications/1/resend"),
    ("POST", "/api/auth/change-password"),
]


def test_login_returns_a_bearer_token_with_its_expiry_and_the_manager(api: Api) -> None:
    answer = api.login()

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 12 * 3600
    assert body["must_change_password"] is False
    assert body["manager"]["login"] == MANAGER_LOGIN
    assert body["manager"]["display_name"] == "Анна"
    assert "password_hash" not in answer.text


def test_a_wrong_password_is_401_invalid_credentials(api: Api) -> None:
    answer = api.login(password="not the password at all")

    problem = assert_problem(answer, 401, "invalid_credentials")
    assert problem["title"] == "Неверный логин или пароль"


def test_an_unknown_login_is_the_same_401_as_a_wrong_password(api: Api) -> None:
    assert_problem(api.login(login="nobody-here"), 401, "invalid_credentials")


@pytest.mark.parametrize(("method", "path"), MANAGER_ROUTES)
def test_every_manager_endpoint_needs_the_token(sqlite_api: Api, method: str, path: str) -> None:
    answer = sqlite_api.client.request(method, path, json={})

    assert_problem(answer, 401, "unauthorized")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer nonsense",
        "Bearer a.b",
        "Basic Zm9vOmJhcg==",
        "Bearer eyJzdWIiOjEsImV4cCI6OTk5OTk5OTk5OX0.AAAA",
    ],
)
def test_a_malformed_or_forged_token_is_401(sqlite_api: Api, authorization: str) -> None:
    answer = sqlite_api.client.get("/api/channels", headers={"Authorization": authorization})

    assert_problem(answer, 401, "unauthorized")


def test_a_token_stops_working_when_it_expires(sqlite_api: Api) -> None:
    assert sqlite_api.get("/api/channels").status_code == 200

    sqlite_api.clock.advance(timedelta(hours=12, seconds=1))

    assert_problem(sqlite_api.get("/api/channels"), 401, "unauthorized")


def test_a_manager_with_a_temporary_password_must_change_it_before_anything_else(api: Api) -> None:
    created = api.run(create_manager, CreateManager("newcomer", None), api.container.managers())
    temporary = created.generated_password
    assert temporary is not None
    login = api.login("newcomer", temporary)
    assert login.json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    blocked = api.client.get("/api/channels", headers=headers)
    changed = api.client.post(
        "/api/auth/change-password",
        json={"current_password": temporary, "new_password": "my own long password"},
        headers=headers,
    )
    ended = api.client.get("/api/channels", headers=headers)
    relogin = api.login("newcomer", "my own long password")
    allowed = api.client.get("/api/channels", headers={"Authorization": f"Bearer {relogin.json()['access_token']}"})

    assert_problem(blocked, 403, "password_change_required")
    assert changed.status_code == 200, changed.text
    assert changed.json()["must_change_password"] is False
    assert_problem(ended, 401, "unauthorized")  # the temporary password's token ended with it
    assert relogin.json()["must_change_password"] is False
    assert allowed.status_code == 200
    assert_problem(api.login("newcomer", temporary), 401, "invalid_credentials")


def bearer(answer: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_password_change_ends_every_token_of_the_manager_at_once(api: Api) -> None:
    first, second = bearer(api.login()), bearer(api.login())
    assert api.client.get("/api/channels", headers=second).status_code == 200

    changed = api.client.post(
        "/api/auth/change-password",
        json={"current_password": MANAGER_PASSWORD, "new_password": "a brand new password"},
        headers=first,
    )

    assert changed.status_code == 200, changed.text
    for old in (first, second):
        problem = assert_problem(api.client.get("/api/channels", headers=old), 401, "unauthorized")
        assert problem["detail"] == "Сессия завершена (выход или смена пароля) — войдите снова"
    fresh = bearer(api.login(password="a brand new password"))
    assert api.client.get("/api/channels", headers=fresh).status_code == 200


def test_logout_ends_every_token_of_the_manager_and_a_new_login_works(api: Api) -> None:
    first, second = bearer(api.login()), bearer(api.login())

    answer = api.client.post("/api/auth/logout", headers=first)

    assert answer.status_code == 204, answer.text
    assert_problem(api.client.get("/api/channels", headers=first), 401, "unauthorized")
    assert_problem(api.client.get("/api/channels", headers=second), 401, "unauthorized")
    assert_problem(api.client.post("/api/auth/logout", headers=first), 401, "unauthorized")
    assert api.client.get("/api/channels", headers=bearer(api.login())).status_code == 200


def test_deactivating_a_manager_ends_their_tokens_and_their_login(api: Api) -> None:
    token = bearer(api.login())

    api.run(deactivate_manager, DeactivateManager(MANAGER_LOGIN), api.container.managers())

    assert_problem(api.client.get("/api/channels", headers=token), 401, "unauthorized")
    assert_problem(api.login(), 401, "invalid_credentials")


def test_change_password_needs_the_current_password(api: Api) -> None:
    answer = api.post(
        "/api/auth/change-password", {"current_password": "wrong wrong wrong", "new_password": "another long one"}
    )

    assert_problem(answer, 401, "invalid_credentials")
    assert api.login().status_code == 200


def test_change_password_refuses_a_short_new_password_in_russian(api: Api) -> None:
    answer = api.post("/api/auth/change-password", {"current_password": MANAGER_PASSWORD, "new_password": "short"})

    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"] == [
        {"field": "password", "message": "Пароль должен быть не короче 10 символов", "source": "body"}
    ]


def test_five_failures_for_one_login_slow_it_from_that_address_for_fifteen_minutes(sqlite_api: Api) -> None:
    for _ in range(5):
        assert_problem(sqlite_api.login(password="wrong password"), 401, "invalid_credentials")

    locked = sqlite_api.login()  # from this address even the right password waits (other addresses do not)

    problem = assert_problem(locked, 429, "too_many_attempts")
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    assert problem["retry_after"] == retry_after
    assert sqlite_api.login(login="someone-else").status_code == 401  # other logins are not locked


def test_a_successful_login_forgives_the_earlier_failures_of_that_login(sqlite_api: Api) -> None:
    for _ in range(4):
        sqlite_api.login(password="wrong password")
    assert sqlite_api.login().status_code == 200

    for _ in range(4):
        assert sqlite_api.login(password="wrong password").status_code == 401
    assert sqlite_api.login().status_code == 200


def test_twenty_failures_from_one_address_lock_every_login_from_it(sqlite_api: Api) -> None:
    for number in range(20):
        assert sqlite_api.login(login=f"guess-{number}", password="wrong password").status_code == 401

    assert_problem(sqlite_api.login(login="guess-new", password="whatever"), 429, "too_many_attempts")


def test_change_password_is_throttled_too(sqlite_api: Api) -> None:
    wrong = {"current_password": "wrong wrong wrong", "new_password": "another long one"}
    for _ in range(5):
        assert_problem(sqlite_api.post("/api/auth/change-password", wrong), 401, "invalid_credentials")

    answer = sqlite_api.post(
        "/api/auth/change-password", {"current_password": MANAGER_PASSWORD, "new_password": "another long one"}
    )

    assert_problem(answer, 429, "too_many_attempts")
    assert int(answer.headers["retry-after"]) > 0
    sqlite_api.clock.advance(timedelta(minutes=15))
    right = {"current_password": MANAGER_PASSWORD, "new_password": "another long one"}
    assert sqlite_api.post("/api/auth/change-password", right).status_code == 200


def test_the_limits_are_shared_by_every_process_of_the_installation(sqlite_api: Api) -> None:
    """Counted in the database (no broker here): a second API process sees the same counts."""
    for _ in range(5):
        sqlite_api.login(password="wrong password")
    second_process = LoginThrottle(SqlAttemptCounter(sqlite_api.container.engine), now=sqlite_api.clock.now().timestamp)

    wait = sqlite_api.run(second_process.begin, MANAGER_LOGIN, "testclient")

    assert wait is not None
