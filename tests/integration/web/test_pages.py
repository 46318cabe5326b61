"""The manager's pages over HTTP (Litestar's test client on SQLite): login, CSRF, redirects, UC04.

The browser tests (``test_browser.py``) show the same flows in Chromium; these pin down the
HTTP contract of the pages: what needs a session, what needs the CSRF token, which status
and which Russian message each outcome gets, and that no page shows a temporary password.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import text

from barbershop_core.use_cases.accounts import CreateManager, create_manager
from barbershop_entrypoints.settings import Settings
from tests.integration.console import shown_passwords
from tests.integration.http.conftest import MANAGER_LOGIN, MANAGER_PASSWORD, Api, clients_table_refusing_rows, new_phone
from tests.integration.web.conftest import Pages, csrf_of

PAGES = ["/", "/clients", "/clients/1", "/clients/1/edit", "/alerts", "/password"]


def _set_cookie_headers(answer: Any) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in answer.headers.get_list("set-cookie")}


def _register(pages: Pages, phone: str, **fields: str) -> Any:
    return pages.submit("/", "/registrations", {"phone": phone, "first_name": "Иван", **fields})


def _result_query(answer: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(answer.headers["location"]).query)


def _deactivate(api: Api, channel: str) -> None:
    async def update() -> None:
        async with api.container.engine.begin() as connection:
            await connection.execute(text("UPDATE channels SET is_active = false WHERE code = :c"), {"c": channel})

    api.run(update)


# --- login, session, logout ---------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_login_without_a_session(pages: Pages, path: str) -> None:
    answer = pages.get(path)

    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/login")
    if path != "/":
        assert parse_qs(urlsplit(location).query)["next"] == [urlsplit(path).path]
    assert "7911" not in location  # a searched phone never rides along into the login URL


def test_the_login_page_sets_a_csrf_cookie_and_puts_the_same_token_in_the_form(pages: Pages) -> None:
    answer = pages.get("/login")

    assert answer.status_code == 200
    assert "Вход для менеджера" in answer.text
    cookie = _set_cookie_headers(answer)["barbershop_csrf"]
    token = csrf_of(answer)
    assert f"barbershop_csrf={token}" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert f'name="_csrf" value="{token}"' in answer.text


def test_logging_in_sets_an_httponly_lax_session_cookie_and_goes_to_the_form(pages: Pages) -> None:
    answer = pages.log_in()

    assert answer.headers["location"] == "/"
    cookies = _set_cookie_headers(answer)
    session = cookies["barbershop_session"]
    assert "HttpOnly" in session
    assert re.search(r"SameSite=lax", session, re.IGNORECASE)
    assert "Path=/" in session
    assert "Max-Age=43200" in session
    assert "Secure" not in session  # plain http here; see the https test
    assert "barbershop_csrf" in cookies  # a new CSRF token, bound to the new session
    form = pages.get("/")
    assert form.status_code == 200
    assert "Новый клиент" in form.text


def test_the_session_cookie_is_secure_when_the_page_is_served_over_https(pages: Pages) -> None:
    token = csrf_of(pages.get("/login"))
    answer = pages.client.post(
        "https://testserver.local/login",
        data={"_csrf": token, "login": MANAGER_LOGIN, "password": MANAGER_PASSWORD},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert "Secure" in _set_cookie_headers(answer)["barbershop_session"]


def test_login_goes_back_to_the_page_that_asked_for_it_but_never_to_another_site(pages: Pages) -> None:
    back = pages.submit(
        "/login?next=/alerts", "/login", {"login": MANAGER_LOGIN, "password": MANAGER_PASSWORD, "next": "/alerts"}
    )
    pages.client.cookies.clear()
    away = pages.submit(
        "/login", "/login", {"login": MANAGER_LOGIN, "password": MANAGER_PASSWORD, "next": "//evil.example/"}
    )

    assert back.headers["location"] == "/alerts"
    assert away.headers["location"] == "/"


@pytest.mark.parametrize(
    ("value", "secure"),
    [("", None), ("auto", None), ("true", True), ("1", True), ("false", False), ("off", False)],
)
def test_the_cookie_secure_setting_is_auto_unless_forced(value: str, secure: bool | None) -> None:
    assert Settings.from_env({"BARBERSHOP_COOKIE_SECURE": value}).web.cookie_secure is secure


def test_the_login_page_sends_a_logged_in_manager_on(logged_in: Pages) -> None:
    answer = logged_in.get("/login?next=/alerts")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/alerts"


def test_an_empty_login_form_asks_for_both_fields(pages: Pages) -> None:
    answer = pages.submit("/login", "/login", {"login": MANAGER_LOGIN, "password": ""})

    assert answer.status_code == 422
    assert "Введите логин и пароль" in answer.text


def test_a_wrong_password_shows_the_login_page_again_with_a_russian_message(pages: Pages) -> None:
    answer = pages.submit("/login", "/login", {"login": MANAGER_LOGIN, "password": "not the password"})

    assert answer.status_code == 401
    assert "Неверный логин или пароль" in answer.text
    assert "barbershop_session" not in _set_cookie_headers(answer)
    assert "not the password" not in answer.text


def test_too_many_wrong_passwords_are_refused_for_a_while(pages: Pages) -> None:
    for _ in range(5):
        pages.submit("/login", "/login", {"login": MANAGER_LOGIN, "password": "wrong password"})
    answer = pages.submit("/login", "/login", {"login": MANAGER_LOGIN, "password": MANAGER_PASSWORD})

    assert answer.status_code == 429
    assert "Слишком много неудачных попыток" in answer.text


def test_logout_ends_the_session(logged_in: Pages) -> None:
    answer = logged_in.submit("/", "/logout", {})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?flash=logged_out"
    assert "Max-Age=0" in _set_cookie_headers(answer)["barbershop_session"]
    assert logged_in.get("/").status_code == 303
    assert "Вы вышли из системы" in logged_in.get("/login?flash=logged_out").text


def test_a_session_cookie_kept_from_before_logout_no_longer_opens_anything(logged_in: Pages) -> None:
    """Logout ends the session on the server, not just in this browser: a copy of the
    cookie (another tab, a stolen one) and the manager's API tokens stop working too."""
    stolen = logged_in.client.cookies.get("barbershop_session")
    assert stolen

    logged_in.submit("/", "/logout", {})

    replayed = logged_in.client.get("/", headers={"Cookie": f"barbershop_session={stolen}"}, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login")
    assert logged_in.client.get("/api/channels", headers=logged_in.api.auth).status_code == 401


def test_an_expired_session_is_sent_to_log_in_again(logged_in: Pages) -> None:
    logged_in.api.clock.advance(timedelta(hours=12, seconds=1))

    answer = logged_in.get("/alerts")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Falerts"


def test_a_bearer_token_is_not_a_session_and_the_session_is_not_a_bearer_token(logged_in: Pages) -> None:
    # The JSON API stays bearer-only (so it needs no CSRF token); the page only takes its cookie.
    page_with_bearer = logged_in.client.get("/", headers={"Cookie": ""} | logged_in.api.auth, follow_redirects=False)
    api_with_cookie = logged_in.client.get("/api/channels")

    assert page_with_bearer.status_code == 303
    assert api_with_cookie.status_code == 401


# --- CSRF -----------------------------------------------------------------------------------


def test_a_form_post_without_the_csrf_token_is_refused(logged_in: Pages) -> None:
    phone = new_phone()
    answer = logged_in.client.post(
        "/registrations", data={"phone": phone, "first_name": "Иван"}, follow_redirects=False
    )

    assert answer.status_code == 403
    assert "Форма устарела" in answer.text
    assert logged_in.api.rows("persons") == 0


def test_a_form_post_with_a_forged_token_is_refused(logged_in: Pages) -> None:
    nonce, _ = csrf_of(logged_in.get("/")).split(".")
    forged = f"{nonce}.{'A' * 43}"
    logged_in.client.cookies.set("barbershop_csrf", forged, domain="testserver.local")

    answer = logged_in.client.post(
        "/registrations", data={"_csrf": forged, "phone": new_phone(), "first_name": "Иван"}, follow_redirects=False
    )

    assert answer.status_code == 403


def test_a_token_minted_for_another_session_is_refused_even_when_planted_as_the_cookie(pages: Pages) -> None:
    # Anyone can get a valid token from /login; it is bound to no session, so it does not
    # fit a logged-in manager's session even when an attacker manages to plant it as the cookie.
    anonymous = csrf_of(pages.get("/login"))
    pages.log_in()
    pages.client.cookies.set("barbershop_csrf", anonymous, domain="testserver.local")

    answer = pages.client.post(
        "/registrations", data={"_csrf": anonymous, "phone": new_phone(), "first_name": "Иван"}, follow_redirects=False
    )

    assert answer.status_code == 403
    assert pages.api.rows("persons") == 0


def test_the_login_form_itself_needs_the_csrf_token(pages: Pages) -> None:
    answer = pages.client.post(
        "/login", data={"login": MANAGER_LOGIN, "password": MANAGER_PASSWORD}, follow_redirects=False
    )

    assert answer.status_code == 403
    assert "barbershop_session" not in _set_cookie_headers(answer)


def test_the_page_script_endpoints_need_the_csrf_header(logged_in: Pages) -> None:
    token = csrf_of(logged_in.get("/"))
    without = logged_in.client.post("/web/phone-check", json={"phone": "+79111234567"})
    with_header = logged_in.client.post(
        "/web/phone-check", json={"phone": "8 911 123-45-67"}, headers={"X-CSRF-Token": token}
    )

    assert without.status_code == 403
    assert without.json()["code"] == "csrf_failed"
    assert with_header.status_code == 200
    assert with_header.json() == {
        "state": "new",
        "message": "Новый номер — можно регистрировать",
        "phone": "+79111234567",
        "client_id": None,
        "first_name": None,
        "card_url": None,
        "edit_url": None,
    }


def test_the_json_api_with_a_bearer_token_needs_no_csrf_token(logged_in: Pages) -> None:
    answer = logged_in.api.post("/api/persons/check", {"phone": "+79111234567"})

    assert answer.status_code == 200, answer.text


def test_the_page_script_endpoints_answer_401_json_without_a_session(pages: Pages) -> None:
    token = csrf_of(pages.get("/login"))
    answer = pages.client.post("/web/phone-check", json={"phone": "+79111234567"}, headers={"X-CSRF-Token": token})

    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


# --- the temporary password ----------------------------------------------------------------


def _newbie(pages: Pages) -> str:
    container = pages.api.container
    created = pages.api.run(functools.partial(create_manager, CreateManager("newbie", None), container.managers()))
    assert created.generated_password is not None
    return created.generated_password


def test_a_manager_with_a_temporary_password_sees_only_the_change_password_page(pages: Pages) -> None:
    temporary = _newbie(pages)

    login = pages.log_in("newbie", temporary)
    elsewhere = [pages.get(path) for path in ("/", "/alerts", "/clients/1")]
    page = pages.get("/password")

    assert login.headers["location"] == "/password"
    assert all(answer.status_code == 303 for answer in elsewhere)
    assert all(answer.headers["location"] == "/password" for answer in elsewhere)
    assert "Вы вошли с временным паролем" in page.text
    assert 'href="/alerts"' not in page.text  # no way around it in the menu either


def test_changing_the_temporary_password_opens_the_pages(pages: Pages) -> None:
    temporary = _newbie(pages)
    pages.log_in("newbie", temporary)

    mismatch = pages.submit(
        "/password",
        "/password",
        {"current_password": temporary, "new_password": "a brand new secret", "repeat_password": "something else"},
    )
    short = pages.submit(
        "/password", "/password", {"current_password": temporary, "new_password": "short", "repeat_password": "short"}
    )
    changed = pages.submit(
        "/password",
        "/password",
        {
            "current_password": temporary,
            "new_password": "a brand new secret",
            "repeat_password": "a brand new secret",
        },
    )

    assert mismatch.status_code == 422
    assert "Пароли не совпадают" in mismatch.text
    assert "Пароль должен быть не короче 10 символов" in short.text
    assert changed.headers["location"] == "/?flash=password_changed"
    home = pages.get("/")
    assert home.status_code == 200
    assert "Пароль изменён." in pages.get("/?flash=password_changed").text
    assert temporary not in mismatch.text + short.text


# --- «Новый клиент» (UC04) --------------------------------------------------------------------


def test_the_form_lists_only_active_channels_with_the_default_one_picked(logged_in: Pages) -> None:
    _deactivate(logged_in.api, "whatsapp")

    page = logged_in.get("/")

    offered = re.findall(r'name="channel" value="([^"]+)"', page.text)
    assert offered == ["local", "sms", "telegram", "vk"]
    assert re.search(r'value="local" checked', page.text)
    assert "Отложить уведомление" in page.text
    assert "Обработка персональных данных" in page.text
    assert "Рекламные и маркетинговые сообщения" in page.text


def test_registering_shows_the_result_with_client_id_and_login_but_never_the_password(
    logged_in: Pages, capsys: pytest.CaptureFixture[str]
) -> None:
    phone = new_phone()

    answer = _register(logged_in, "8" + phone[2:], consent_personal_data="on")
    logged_in.api.drain()

    assert answer.status_code == 303
    location = answer.headers["location"]
    client_id = int(urlsplit(location).path.rsplit("/", 1)[1])
    notification_id = int(_result_query(answer)["notification"][0])
    result = logged_in.get(location)
    assert result.status_code == 200
    assert "Клиент зарегистрирован" in result.text
    assert f'data-testid="client-id">{client_id}<' in result.text
    assert f'data-testid="login">{phone}<' in result.text
    assert f'data-notification="{notification_id}"' in result.text
    assert 'data-status="sent"' in result.text
    password = shown_passwords(capsys.readouterr().out)[notification_id]  # the local channel's console
    assert password not in result.text
    card = logged_in.api.get(f"/api/clients/{client_id}").json()
    assert card["consents"] == {"personal_data": True, "marketing": False}


def test_a_known_phone_is_a1_with_links_to_the_card_and_the_update(logged_in: Pages) -> None:
    phone = new_phone()
    client_id = logged_in.api.register(phone).json()["client_id"]
    logged_in.api.clock.advance(timedelta(minutes=6))
    token = csrf_of(logged_in.get("/"))

    answer = _register(logged_in, phone)
    check = logged_in.client.post("/web/phone-check", json={"phone": phone}, headers={"X-CSRF-Token": token})

    assert answer.status_code == 409
    assert "Клиент уже существует" in answer.text
    assert f'href="/clients/{client_id}"' in answer.text
    assert f'href="/clients/{client_id}/edit"' in answer.text
    assert check.json() == {
        "state": "client",
        "message": "Клиент уже существует",
        "phone": phone,
        "client_id": client_id,
        "first_name": "Иван",
        "card_url": f"/clients/{client_id}",
        "edit_url": f"/clients/{client_id}/edit",
    }


def test_the_same_phone_again_within_five_minutes_shows_the_same_client_as_a_repeat(logged_in: Pages) -> None:
    phone = new_phone()
    first = _register(logged_in, phone)
    again = _register(logged_in, phone)

    assert urlsplit(again.headers["location"]).path == urlsplit(first.headers["location"]).path
    assert _result_query(again)["repeat"] == ["1"]
    assert "повторная отправка формы ничего не создала" in logged_in.get(again.headers["location"]).text
    assert logged_in.api.rows("clients") == 1


def test_an_invalid_phone_is_a2_and_nothing_is_stored(logged_in: Pages) -> None:
    answer = _register(logged_in, "12345")
    token = csrf_of(logged_in.get("/"))
    check = logged_in.client.post("/web/phone-check", json={"phone": "12345"}, headers={"X-CSRF-Token": token})

    assert answer.status_code == 422
    assert "Проверьте номер" in answer.text
    assert 'value="12345"' in answer.text  # what was typed stays in the form
    assert check.json()["state"] == "invalid"
    assert check.json()["message"] == "Проверьте номер"
    assert logged_in.api.rows("persons") == 0


def test_an_inactive_channel_is_a7_and_postponing_holds_the_message(logged_in: Pages) -> None:
    _deactivate(logged_in.api, "whatsapp")

    refused = _register(logged_in, new_phone(), channel="whatsapp")
    held = _register(logged_in, new_phone(), channel="whatsapp", postpone="on")

    assert refused.status_code == 422
    assert "Канал «whatsapp» недоступен, выберите другой или отложите уведомление" in refused.text
    assert held.status_code == 303
    result = logged_in.get(held.headers["location"])
    assert 'data-status="held"' in result.text
    assert "Отложено" in result.text
    assert "Отправить через другой канал" in result.text


def test_a_database_failure_is_a3_temporary_error_and_nothing_is_stored(logged_in: Pages) -> None:
    with clients_table_refusing_rows(logged_in.api):
        answer = _register(logged_in, new_phone())

    assert answer.status_code == 503
    assert "Временная ошибка, попробуйте снова" in answer.text
    assert logged_in.api.rows("persons") == 0


def test_a_first_name_left_empty_is_shown_next_to_the_field(logged_in: Pages) -> None:
    answer = logged_in.submit("/", "/registrations", {"phone": new_phone(), "first_name": "  "})

    assert answer.status_code == 422
    assert 'id="first_name-error">Укажите имя клиента<' in answer.text


def test_the_result_page_polls_the_notification_through_the_page_endpoint(logged_in: Pages) -> None:
    answer = _register(logged_in, new_phone())
    logged_in.api.drain()
    notification_id = int(_result_query(answer)["notification"][0])

    state = logged_in.client.get(f"/web/notifications/{notification_id}")

    assert state.status_code == 200
    body = state.json()
    assert body["status"] == "sent"
    assert body["status_label"] == "Отправлено"
    assert body["live"] is True  # a delivery report may still come
    assert body["needs_attention"] is False


# --- card, update, search, alerts -------------------------------------------------------------


def test_the_card_shows_the_client_and_its_messages(logged_in: Pages) -> None:
    phone = new_phone()
    client_id = logged_in.api.register(phone, first_name="Софья").json()["client_id"]

    card = logged_in.get(f"/clients/{client_id}")

    assert card.status_code == 200
    assert "Софья" in card.text
    assert phone in card.text
    assert "data-notification=" in card.text


def test_the_card_shows_its_journal_masked_and_records_that_it_was_read(logged_in: Pages) -> None:
    phone = new_phone()
    client_id = logged_in.api.register(phone, first_name="Софья").json()["client_id"]

    card = logged_in.get(f"/clients/{client_id}")

    journal = card.text[card.text.index("Журнал") :]
    assert "создан клиент" in journal
    assert "регистрация завершена" in journal
    assert "менеджер №" in journal
    assert f"{phone[:5]}*****{phone[-2:]}" in journal
    assert phone not in journal
    viewed = logged_in.api.get("/api/audit", params={"action": "audit_viewed", "client_id": client_id}).json()
    assert [item["client_id"] for item in viewed["items"]] == [client_id]


def test_an_unknown_client_is_a_russian_404_page(logged_in: Pages) -> None:
    answer = logged_in.get("/clients/999999")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Клиент 999999 не найден" in answer.text


def test_the_update_form_changes_the_client_and_records_only_changed_consents(logged_in: Pages) -> None:
    client_id = logged_in.api.register(new_phone(), consents={"personal_data": True}).json()["client_id"]
    new = new_phone()

    answer = logged_in.submit(
        f"/clients/{client_id}/edit",
        f"/clients/{client_id}/edit",
        {"first_name": "Пётр", "phone": new, "email": "petr@example.com", "consent_personal_data": "on"},
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/clients/{client_id}?flash=client_updated"
    card = logged_in.api.get(f"/api/clients/{client_id}").json()
    assert (card["first_name"], card["phone"], card["email"]) == ("Пётр", new, "petr@example.com")
    assert logged_in.api.rows("consents") == 1  # personal_data unchanged, marketing still unasked
    assert "Изменения сохранены." in logged_in.get(answer.headers["location"]).text


def test_the_update_form_refuses_a_phone_of_another_client_with_a_link_to_it(logged_in: Pages) -> None:
    taken = new_phone()
    other = logged_in.api.register(taken).json()["client_id"]
    client_id = logged_in.api.register(new_phone()).json()["client_id"]

    answer = logged_in.submit(
        f"/clients/{client_id}/edit", f"/clients/{client_id}/edit", {"first_name": "Иван", "phone": taken}
    )

    assert answer.status_code == 409
    assert "Этот телефон уже записан за другим человеком" in answer.text
    assert f'href="/clients/{other}"' in answer.text


def test_search_by_phone_finds_the_client_or_offers_to_register(logged_in: Pages) -> None:
    phone = new_phone()
    client_id = logged_in.api.register(phone).json()["client_id"]
    missing = new_phone()

    found = logged_in.submit("/clients", "/clients", {"phone": "8" + phone[2:]})
    not_found = logged_in.submit("/clients", "/clients", {"phone": missing})
    invalid = logged_in.submit("/clients", "/clients", {"phone": "12345"})
    prefilled = logged_in.submit("/clients", "/", {"phone": missing})

    assert found.status_code == 200
    assert f'href="/clients/{client_id}"' in found.text
    assert f"Клиента с номером {missing} нет" in not_found.text
    assert f'<input type="hidden" name="phone" value="{missing}">' in not_found.text
    assert (invalid.status_code, "Проверьте номер" in invalid.text) == (422, True)
    assert prefilled.status_code == 200
    assert f'value="{missing}"' in prefilled.text


def test_the_search_form_posts_the_phone_with_the_csrf_token_and_keeps_it_out_of_the_url(logged_in: Pages) -> None:
    page = logged_in.get("/clients")
    without_token = logged_in.client.post("/clients", data={"phone": new_phone()}, follow_redirects=False)
    ignored = logged_in.get(f"/clients?phone={quote(new_phone())}")

    assert '<form method="post" action="/clients"' in page.text
    assert f'name="_csrf" value="{csrf_of(page)}"' in page.text
    assert without_token.status_code == 403
    assert "Клиента с номером" not in ignored.text


def test_alerts_list_held_messages_and_resending_through_another_channel_sends_it(logged_in: Pages) -> None:
    registered = logged_in.api.register(new_phone(), postpone_notification=True).json()
    notification_id = registered["notification_id"]

    alerts = logged_in.get("/alerts")
    resent = logged_in.submit(
        "/alerts", f"/notifications/{notification_id}/resend", {"channel": "local", "back": "alerts"}
    )
    logged_in.api.drain()

    assert f'data-notification="{notification_id}"' in alerts.text
    assert 'data-status="held"' in alerts.text
    assert "Отправить через другой канал" in alerts.text
    assert resent.headers["location"] == "/alerts?flash=resent"
    status = logged_in.api.get(f"/api/notifications/{notification_id}").json()
    assert (status["status"], status["channel"]) == ("sent", "local")
    after = logged_in.get("/alerts?flash=resent")
    assert f'data-notification="{notification_id}"' not in after.text
    assert "Уведомление отправлено через выбранный канал." in after.text


def test_resending_through_an_inactive_channel_explains_why_not(logged_in: Pages) -> None:
    registered = logged_in.api.register(new_phone(), postpone_notification=True).json()
    _deactivate(logged_in.api, "whatsapp")

    answer = logged_in.submit(
        "/alerts",
        f"/notifications/{registered['notification_id']}/resend",
        {"channel": "whatsapp", "back": "client", "client_id": str(registered["client_id"])},
    )

    assert answer.status_code == 422
    assert "Канал «whatsapp» недоступен" in answer.text
    assert f'href="/clients/{registered["client_id"]}"' in answer.text


# --- what every page carries --------------------------------------------------------------------


def test_pages_forbid_framing_inline_scripts_and_caching(logged_in: Pages) -> None:
    answer = logged_in.get("/")

    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text
    assert answer.headers["x-request-id"]


def test_static_files_are_served_from_the_package(pages: Pages) -> None:
    script = pages.get("/static/app.js")
    style = pages.get("/static/app.css")

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert style.status_code == 200
    assert "max-age=86400" in style.headers["cache-control"]


def test_pages_are_not_in_the_openapi_document(pages: Pages) -> None:
    paths = pages.get("/schema/openapi.json").json()["paths"]

    assert not [path for path in paths if not path.startswith("/api/") and not path.startswith("/health/")]
