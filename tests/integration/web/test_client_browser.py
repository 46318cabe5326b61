"""The client's account in a real browser (Debian's Chromium) on ``barbershop serve``, embedded default:
a manager registers the client, the password is read from the local channel's message, and the client
signs in, changes it, and withdraws a consent — on a desktop and on a phone-sized screen."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.integration.http.conftest import new_phone
from tests.integration.web.browser import MARKETING_TEMPLATE, Product, running_product
from tests.integration.web.test_browser import DESKTOP, PHONE, open_page, typed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

NEW_PASSWORD = "мой собственный пароль"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Product]:
    # ``browser`` first: without Chromium the module is skipped before a server is started.
    with running_product(tmp_path_factory.mktemp("client-product")) as running:
        yield running


def sign_in(page: Page, base_url: str, login: str, password: str) -> None:
    page.goto(f"{base_url}/client")
    page.get_by_label("Телефон").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_load_state()


def client_api_login(product: Product, login: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{product.base_url}/api/client/auth/login", json={"login": login, "password": password}, timeout=30
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_client_signs_in_with_the_message_changes_the_password_and_withdraws_marketing(
    product: Product, browser: Browser, viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    phone = new_phone()
    registered = product.register(phone, "Ольга")
    client_id = registered["client_id"]
    with product.api() as api:
        api.patch(f"/api/clients/{client_id}", json={"consents": {"personal_data": True, "marketing": True}})
    password = _wait_for_password(product, registered["notification_id"])
    kept = (product.data_dir / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    (message,) = [m for m in map(json.loads, kept) if m["notification_id"] == registered["notification_id"]]
    assert message["text"].endswith(" Вход: http://127.0.0.1:8000/client/login")
    assert password not in message["text"]  # the file keeps it masked; the console showed it once

    with open_page(browser, viewport) as page:
        sign_in(page, product.base_url, typed(phone), password)
        expect(page).to_have_url(f"{product.base_url}/client/password")
        expect(page.get_by_text("Вы вошли с временным паролем из сообщения")).to_be_visible()
        page.get_by_label("Временный пароль").fill(password)
        page.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Новый пароль ещё раз").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Сменить пароль").click()

        expect(page.get_by_role("heading", name="Мой профиль")).to_be_visible()
        expect(page.get_by_text("Пароль изменён.")).to_be_visible()
        expect(page.get_by_test_id("first-name")).to_have_text("Ольга")
        expect(page.get_by_test_id("phone")).to_have_text(phone)
        marketing = page.get_by_role("switch", name="Рекламные и маркетинговые сообщения")
        expect(marketing).to_be_checked()
        marketing.uncheck()
        page.get_by_role("button", name="Сохранить согласия").click()
        expect(page.get_by_text("Согласия сохранены.")).to_be_visible()
        expect(page.get_by_role("switch", name="Рекламные и маркетинговые сообщения")).not_to_be_checked()
        expect(page.get_by_role("switch", name="Обработка персональных данных")).to_be_checked()
        fits: Any = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits is True

    assert client_api_login(product, phone, password).json()["code"] == "invalid_credentials"
    assert client_api_login(product, phone, NEW_PASSWORD).status_code == 200
    with product.api() as api:
        promo = api.post(
            "/api/notifications", json={"client_id": client_id, "template_code": MARKETING_TEMPLATE, "channel": "local"}
        )
        card = api.get(f"/api/clients/{client_id}").json()
    assert promo.status_code == 422, promo.text
    assert promo.json()["code"] == "consent_required"
    assert card["consents"]["marketing"] is False
    assert card["first_signed_in_at"] is not None


def test_a_wrong_password_keeps_the_client_on_the_sign_in_page(product: Product, browser: Browser) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    registered = product.register(new_phone())
    _wait_for_password(product, registered["notification_id"])

    with open_page(browser, PHONE) as page:
        sign_in(page, product.base_url, registered["phone"], "not the password")

        expect(page).to_have_url(f"{product.base_url}/client/login")
        expect(page.get_by_role("alert")).to_have_text("Неверный телефон или пароль")


def _wait_for_password(product: Product, notification_id: int) -> str:
    """The temporary password of the welcome message, once the in-process queue has sent it."""
    import time  # noqa: PLC0415 -- only this helper polls

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyError):
            return product.temporary_password(notification_id)
        time.sleep(0.1)
    raise AssertionError(f"no message for notification {notification_id} in 30 s")
