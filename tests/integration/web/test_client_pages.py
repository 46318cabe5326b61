"""The client's own pages through the test client (cookies kept, CSRF tokens sent as a browser does):
``/client/login`` → the forced change → «Мой профиль» with the consent switches."""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import httpx

from tests.integration.console import shown_passwords
from tests.integration.http.conftest import Api
from tests.integration.web.conftest import Pages, csrf_of

NEW_PASSWORD = "мой собственный пароль"


def registered(api: Api, **fields: object) -> tuple[dict[str, object], str]:
    """A registered client and the temporary password shown on the console."""
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        body: dict[str, Any] = api.register(**fields).json()
        api.drain()
    return body, shown_passwords(console.getvalue())[body["notification_id"]]


def sign_in(pages: Pages, login: str, password: str) -> httpx.Response:
    return pages.submit("/client/login", "/client/login", {"login": login, "password": password})


def change(pages: Pages, current: str, new: str = NEW_PASSWORD, repeat: str | None = None) -> httpx.Response:
    fields = {"current_password": current, "new_password": new, "repeat_password": repeat or new}
    return pages.submit("/client/password", "/client/password", fields)


def signed_in_with_own_password(pages: Pages, **fields: object) -> dict[str, object]:
    client, temporary = registered(pages.api, **fields)
    assert sign_in(pages, str(client["phone"]), temporary).headers["location"] == "/client/password"
    assert change(pages, temporary).headers["location"] == "/client?flash=password_changed"
    return client


def switched_on(page: str, code: str) -> bool:
    return re.search(rf'data-testid="consent-{code}"\s*checked', page) is not None


def test_the_profile_needs_a_session_and_sends_to_the_sign_in_page(pages: Pages) -> None:
    answer = pages.get("/client")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/client/login"


def test_the_sign_in_page_is_russian_and_sent_with_a_strict_policy(pages: Pages) -> None:
    answer = pages.get("/client/login")

    assert answer.status_code == 200
    assert "Вход в личный кабинет" in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text
    assert "path=/client" in answer.headers["set-cookie"].lower()


def test_a_temporary_password_leads_to_the_forced_change_and_then_the_profile(pages: Pages) -> None:
    client, temporary = registered(pages.api, first_name="Мария")

    answer = sign_in(pages, f"8{str(client['phone'])[2:]}", temporary)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/client/password"
    assert pages.get("/client").headers["location"] == "/client/password"
    assert "Вы вошли с временным паролем из сообщения" in pages.get("/client/password").text
    assert change(pages, temporary).headers["location"] == "/client?flash=password_changed"
    profile = pages.get("/client?flash=password_changed")
    assert profile.status_code == 200, profile.text
    assert "Мой профиль" in profile.text
    assert "Мария" in profile.text
    assert str(client["phone"]) in profile.text
    assert "Пароль изменён." in profile.text


def test_a_wrong_password_shows_the_same_message_as_an_unknown_phone(pages: Pages) -> None:
    client, _ = registered(pages.api)

    wrong = sign_in(pages, str(client["phone"]), "not the password")
    unknown = sign_in(pages, "+79990001122", "not the password")

    assert wrong.status_code == unknown.status_code == 401
    assert "Неверный телефон или пароль" in wrong.text
    assert "Неверный телефон или пароль" in unknown.text


def test_the_sixth_wrong_sign_in_from_one_address_is_told_to_wait_on_the_page(pages: Pages) -> None:
    for _ in range(5):
        assert sign_in(pages, "8 999 000-11-22", "not the password").status_code == 401

    answer = sign_in(pages, "+79990001122", "not the password")  # the same phone, typed otherwise

    assert answer.status_code == 429
    assert "Слишком много неудачных попыток" in answer.text


def test_the_sixth_wrong_current_password_is_told_to_wait_and_changes_nothing(pages: Pages) -> None:
    client = signed_in_with_own_password(pages)
    for _ in range(5):
        assert change(pages, "not the current one", "another new password").status_code == 422

    answer = change(pages, NEW_PASSWORD, "another new password")

    assert answer.status_code == 422
    assert "Слишком много неудачных попыток" in answer.text
    assert sign_in(pages, str(client["phone"]), NEW_PASSWORD).headers["location"] == "/client"


def test_mismatched_new_passwords_are_refused_on_the_page(pages: Pages) -> None:
    client, temporary = registered(pages.api)
    sign_in(pages, str(client["phone"]), temporary)

    answer = change(pages, temporary, NEW_PASSWORD, "something else entirely")

    assert answer.status_code == 422
    assert "Пароли не совпадают" in answer.text


def test_switching_marketing_off_withdraws_the_consent(pages: Pages) -> None:
    client = signed_in_with_own_password(pages, consents={"personal_data": True, "marketing": True})
    assert switched_on(pages.get("/client").text, "marketing")

    answer = pages.submit("/client", "/client/consents", {"consent_personal_data": "on"})

    assert answer.headers["location"] == "/client?flash=consents_saved"
    profile = pages.get("/client").text
    assert not switched_on(profile, "marketing")
    assert switched_on(profile, "personal_data")
    assert "Отозвано" in profile
    card = pages.api.get(f"/api/clients/{client['client_id']}").json()
    assert card["consents"] == {"personal_data": True, "marketing": False}


def test_a_post_without_the_client_csrf_token_is_refused(pages: Pages) -> None:
    signed_in_with_own_password(pages, consents={"marketing": True})

    answer = pages.client.post("/client/consents", data={}, follow_redirects=False)

    assert answer.status_code == 403
    assert "Форма устарела" in answer.text


def test_the_manager_csrf_token_is_not_the_clients(logged_in: Pages) -> None:
    manager_token = csrf_of(logged_in.get("/"))
    signed_in_with_own_password(logged_in)

    answer = logged_in.client.post("/client/consents", data={"_csrf": manager_token}, follow_redirects=False)

    assert answer.status_code == 403


def test_a_manager_session_does_not_open_the_clients_pages(logged_in: Pages) -> None:
    assert logged_in.get("/client").headers["location"] == "/client/login"


def test_signing_out_ends_the_client_session(pages: Pages) -> None:
    signed_in_with_own_password(pages)

    answer = pages.submit("/client", "/client/logout", {})

    assert answer.headers["location"] == "/client/login?flash=logged_out"
    assert pages.get("/client").headers["location"] == "/client/login"


def test_the_managers_card_shows_the_first_sign_in_and_a_voided_password(logged_in: Pages) -> None:
    client, temporary = registered(logged_in.api)
    card = f"/clients/{client['client_id']}"
    assert "ещё не входил" in logged_in.get(card).text

    sign_in(logged_in, str(client["phone"]), temporary)
    assert "впервые вошёл" in logged_in.get(card).text

    other, _ = registered(logged_in.api)
    for _ in range(5):
        logged_in.api.client.post("/api/client/auth/login", json={"login": other["phone"], "password": "wrong one"})
    voided = logged_in.get(f"/clients/{other['client_id']}").text
    assert "временный аннулирован" in voided
    assert 'data-testid="voided"' in voided
    assert "Отправить через другой канал" in voided
