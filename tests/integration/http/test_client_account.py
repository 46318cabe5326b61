"""The client's own API end to end: the welcome message's credentials, the forced change,
the profile and consents, guessing, and the separation of client and manager tokens."""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta
from typing import Any

import httpx

from barbershop_core.model import NotificationTemplate, TemplateKind
from tests.integration.console import shown_passwords
from tests.integration.http.conftest import Api, assert_problem, new_phone

NEW_PASSWORD = "мой собственный пароль"


def typed(e164: str) -> str:
    """How a person types a Russian mobile: ``8 (911) 123-45-67``."""
    return f"8 ({e164[2:5]}) {e164[5:8]}-{e164[8:10]}-{e164[10:12]}"


def registered_client(api: Api, **fields: Any) -> tuple[dict[str, Any], str]:
    """A client registered by the manager, and the temporary password its welcome message
    showed on the console (the local channel's file keeps it masked)."""
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        registered: dict[str, Any] = api.register(**fields).json()
        api.drain()
    return registered, shown_passwords(console.getvalue())[registered["notification_id"]]


def client_login(api: Api, login: str, password: str) -> httpx.Response:
    return api.client.post("/api/client/auth/login", json={"login": login, "password": password})


def as_client(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(api: Api, login: str, password: str) -> str:
    answer = client_login(api, login, password)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def changed(api: Api, token: str, current: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return api.client.post(
        "/api/client/auth/change-password",
        json={"current_password": current, "new_password": new},
        headers=as_client(token),
    )


def test_the_welcome_message_carries_the_sign_in_address(api: Api) -> None:
    registered_client(api)

    assert api.messages()[-1]["text"].endswith(" Вход: http://127.0.0.1:8000/client/login")


def test_a_client_signs_in_changes_the_temporary_password_and_sees_their_data(api: Api) -> None:
    registered, temporary = registered_client(api, consents={"personal_data": True, "marketing": True})
    phone = registered["phone"]

    answer = client_login(api, typed(phone), temporary)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["must_change_password"] is True
    assert body["client"] == {"id": registered["client_id"], "first_name": "Иван", "phone": phone}
    assert body["expires_in"] == 12 * 3600
    token = body["access_token"]
    assert_problem(api.client.get("/api/client/me", headers=as_client(token)), 403, "password_change_required")

    change = changed(api, token, temporary)
    assert change.status_code == 200, change.text
    assert change.json()["must_change_password"] is False
    assert change.json()["expires_in"] == 12 * 3600
    new_token = change.json()["access_token"]

    assert_problem(api.client.get("/api/client/me", headers=as_client(token)), 401, "unauthorized")
    assert_problem(client_login(api, phone, temporary), 401, "invalid_credentials")
    again = client_login(api, phone, NEW_PASSWORD)
    assert again.status_code == 200
    assert again.json()["must_change_password"] is False
    me = api.client.get("/api/client/me", headers=as_client(new_token))
    assert me.status_code == 200, me.text
    assert (me.json()["phone"], me.json()["first_name"], me.json()["login"]) == (phone, "Иван", phone)
    assert {c["code"]: c["granted"] for c in me.json()["consents"]} == {"personal_data": True, "marketing": True}


def test_a_withdrawn_marketing_consent_refuses_the_next_marketing_message(api: Api) -> None:
    async def add_marketing_template() -> None:
        async with api.container.uow_factory() as uow:
            await uow.reference.save_template(
                NotificationTemplate("PROMO", "local", TemplateKind.MARKETING, "{first_name}, скидка!")
            )
            await uow.commit()

    api.run(add_marketing_template)
    registered, temporary = registered_client(api, consents={"marketing": True})
    token = changed(api, signed_in(api, registered["phone"], temporary), temporary).json()["access_token"]
    promo = {"client_id": registered["client_id"], "template_code": "PROMO", "channel": "local"}
    assert api.post("/api/notifications", promo).status_code == 201

    answer = api.client.put("/api/client/me/consents", json={"marketing": False}, headers=as_client(token))

    assert answer.status_code == 200, answer.text
    marketing = next(c for c in answer.json()["consents"] if c["code"] == "marketing")
    assert (marketing["granted"], marketing["recorded_by"]) == (False, f"client:{registered['client_id']}")
    assert_problem(api.post("/api/notifications", promo), 422, "consent_required")
    card = api.get(f"/api/clients/{registered['client_id']}").json()
    assert card["consents"]["marketing"] is False


def test_an_unknown_consent_type_is_422_and_changes_nothing(api: Api) -> None:
    registered, temporary = registered_client(api, consents={"marketing": True})
    token = changed(api, signed_in(api, registered["phone"], temporary), temporary).json()["access_token"]

    answer = api.client.put(
        "/api/client/me/consents", json={"marketing": False, "telepathy": True}, headers=as_client(token)
    )

    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"][0]["field"] == "consents"
    assert api.get(f"/api/clients/{registered['client_id']}").json()["consents"] == {"marketing": True}


def test_an_unknown_login_answers_exactly_like_a_wrong_password(api: Api) -> None:
    registered, _ = registered_client(api)

    wrong = assert_problem(client_login(api, registered["phone"], "not the password"), 401, "invalid_credentials")
    unknown = assert_problem(client_login(api, new_phone(), "not the password"), 401, "invalid_credentials")
    garbage = assert_problem(client_login(api, "admin", "not the password"), 401, "invalid_credentials")

    def same(problem: dict[str, Any]) -> tuple[str, str, str]:
        return problem["title"], problem["detail"], problem["type"]

    assert same(wrong) == same(unknown) == same(garbage)


def test_an_expired_temporary_password_is_401_with_a_russian_message(api: Api) -> None:
    registered, temporary = registered_client(api)
    api.clock.advance(timedelta(hours=72, seconds=1))

    problem = assert_problem(client_login(api, registered["phone"], temporary), 401, "temporary_password_expired")

    assert "администратора салона" in problem["detail"]


def test_five_wrong_passwords_void_the_temporary_one_the_card_says_so_and_a_resend_issues_a_new_one(
    api: Api,
) -> None:
    registered, temporary = registered_client(api)
    client_id = registered["client_id"]
    for _ in range(5):
        assert_problem(client_login(api, registered["phone"], "not the password"), 401, "invalid_credentials")
    card = api.get(f"/api/clients/{client_id}").json()
    assert card["temporary_password_voided_at"] is not None
    api.clock.advance(timedelta(minutes=15))  # past the throttle's window, so the address may try again
    assert_problem(client_login(api, registered["phone"], temporary), 401, "temporary_password_voided")

    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        resent = api.post(f"/api/notifications/{registered['notification_id']}/resend", {"channel": "local"})
        assert resent.status_code == 201, resent.text
        api.drain()
    new_password = shown_passwords(console.getvalue())[resent.json()["id"]]

    assert api.get(f"/api/clients/{client_id}").json()["temporary_password_voided_at"] is None
    assert client_login(api, registered["phone"], new_password).status_code == 200


def test_the_card_shows_when_the_client_first_signed_in(api: Api) -> None:
    registered, temporary = registered_client(api)
    card = f"/api/clients/{registered['client_id']}"
    assert api.get(card).json()["first_signed_in_at"] is None

    signed_in(api, registered["phone"], temporary)

    assert api.get(card).json()["first_signed_in_at"] is not None


def test_client_and_manager_tokens_never_open_each_others_api(sqlite_api: Api) -> None:
    registered, temporary = registered_client(sqlite_api)
    token = changed(sqlite_api, signed_in(sqlite_api, registered["phone"], temporary), temporary).json()["access_token"]

    assert_problem(sqlite_api.client.get("/api/channels", headers=as_client(token)), 401, "unauthorized")
    assert_problem(
        sqlite_api.client.get(f"/api/clients/{registered['client_id']}", headers=as_client(token)), 401, "unauthorized"
    )
    assert_problem(sqlite_api.client.get("/api/client/me", headers=sqlite_api.auth), 401, "unauthorized")
    assert_problem(sqlite_api.client.get("/api/client/me"), 401, "unauthorized")


def test_a_wrong_current_password_on_change_is_401_and_the_temporary_one_still_works(sqlite_api: Api) -> None:
    registered, temporary = registered_client(sqlite_api)
    token = signed_in(sqlite_api, registered["phone"], temporary)

    assert_problem(changed(sqlite_api, token, "not the password"), 401, "invalid_credentials")
    problem = assert_problem(changed(sqlite_api, token, temporary, "short"), 422, "validation_error")

    assert problem["detail"] == "Пароль должен быть не короче 10 символов"
    assert signed_in(sqlite_api, registered["phone"], temporary)


def test_client_logins_are_throttled_per_login_and_address(sqlite_api: Api) -> None:
    registered, _ = registered_client(sqlite_api)
    for _ in range(5):
        client_login(sqlite_api, typed(registered["phone"]), "not the password")

    problem = assert_problem(
        client_login(sqlite_api, registered["phone"], "not the password"), 429, "too_many_attempts"
    )

    assert int(problem["retry_after"]) > 0
