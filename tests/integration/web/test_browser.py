"""UC04 in a real browser: headless Chromium (Debian's) on ``barbershop serve``, as a manager uses it.

One server for the module (embedded default, two managers made with the CLI, the reference
data synced from a file that switches WhatsApp off); a fresh browser context (no cookies) per
test. Every test also fails on a script error or a Content-Security-Policy violation in the page.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.console import shown_passwords
from tests.integration.http.conftest import new_phone
from tests.integration.web.browser import (
    ADMIN_PASSWORD,
    INACTIVE_CHANNEL,
    NEWBIE_LOGIN,
    Product,
    log_in,
    running_product,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Product]:
    # ``browser`` first: without Chromium the module is skipped before a server is started.
    with running_product(tmp_path_factory.mktemp("product")) as running:
        yield running


@contextlib.contextmanager
def open_page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    expect.set_options(timeout=15_000)
    context = browser.new_context(viewport=viewport, locale="ru-RU", timezone_id="Europe/Moscow")
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # A 4xx page is a normal answer here (A1, A2, CSRF); anything else logged as an error is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield page
        assert problems == [], problems
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with open_page(browser, DESKTOP) as opened:
        yield opened


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    with open_page(browser, PHONE) as opened:
        yield opened


def typed(e164: str) -> str:
    """How a manager types a Russian mobile: ``8 (911) 123-45-67``."""
    return f"8 ({e164[2:5]}) {e164[5:8]}-{e164[8:10]}-{e164[10:12]}"


def persons(product: Product) -> int:
    with contextlib.closing(sqlite3.connect(product.data_dir / "barbershop.sqlite3")) as db:
        count: int = db.execute("SELECT count(*) FROM persons").fetchone()[0]
        return count


def test_a_manager_logs_in_registers_a_client_and_sees_the_message_sent_then_delivered(
    product: Product, page: Page
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    phone = new_phone()
    page.goto(f"{product.base_url}/")
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, product.base_url)
    expect(page.get_by_role("heading", name="Новый клиент")).to_be_visible()

    page.get_by_label("Телефон").fill(typed(phone))
    status = page.locator("#phone-status")
    expect(status).to_contain_text(f"Номер: {phone}")
    expect(status).to_contain_text("Новый номер")
    page.get_by_label("Имя", exact=True).fill("Анастасия")
    expect(page.get_by_label("Локальный журнал сообщений")).to_be_checked()
    page.get_by_label("Обработка персональных данных").check()
    page.get_by_role("button", name="Зарегистрировать").click()

    expect(page.get_by_role("heading", name="Клиент зарегистрирован")).to_be_visible()
    client_id = int(page.get_by_test_id("client-id").inner_text())
    expect(page.get_by_test_id("login")).to_have_text(phone)
    notification = page.locator("[data-notification]")
    expect(notification).to_have_attribute("data-status", "sent")
    expect(notification.locator('[data-role="label"]')).to_have_text("Отправлено")
    notification_id = int(notification.get_attribute("data-notification") or 0)
    assert product.temporary_password(notification_id) not in page.content()

    delivered = product.deliver(notification_id)
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["changed"] is True
    expect(notification).to_have_attribute("data-status", "delivered")  # no reload: the page polls
    expect(notification.locator('[data-role="label"]')).to_have_text("Доставлено")
    expect(notification.locator('[data-role="detail"]')).to_have_text("Клиент получил сообщение")
    with product.api() as api:
        card = api.get(f"/api/clients/{client_id}").json()
    assert (card["first_name"], card["phone"]) == ("Анастасия", phone)
    assert card["consents"] == {"personal_data": True, "marketing": False}


def test_a_known_phone_is_reported_as_it_is_typed_with_links_to_the_card_and_the_update(
    product: Product, page: Page
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    phone = new_phone()
    client_id = product.register(phone, "Пётр")["client_id"]
    product.backdate_client(client_id, minutes=10)  # older than A6's five minutes: A1
    log_in(page, product.base_url)

    page.get_by_label("Телефон").fill(phone)
    status = page.locator("#phone-status")
    expect(status).to_contain_text("Клиент уже существует")
    expect(status).to_contain_text(f"Пётр, клиент №{client_id}")
    expect(status.get_by_role("link", name="Обновить данные")).to_have_attribute("href", f"/clients/{client_id}/edit")
    page.get_by_label("Имя", exact=True).fill("Пётр")
    page.get_by_role("button", name="Зарегистрировать").click()
    expect(page.locator("#phone-status")).to_contain_text("Клиент уже существует")  # the server says the same

    page.locator("#phone-status").get_by_role("link", name="Открыть карточку").click()
    expect(page).to_have_url(f"{product.base_url}/clients/{client_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Пётр")
    page.get_by_role("link", name="Изменить данные").click()
    page.get_by_label("Имя", exact=True).fill("Пётр Ильич")
    page.get_by_label("Рекламные и маркетинговые сообщения").check()
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_role("status")).to_have_text("Изменения сохранены.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Пётр Ильич")

    page.get_by_role("link", name="Поиск").click()
    page.get_by_label("Телефон").fill(typed(phone))
    page.get_by_role("button", name="Найти").click()
    expect(page.get_by_role("link", name=re.compile(f"клиент №{client_id}"))).to_be_visible()
    expect(page).to_have_url(f"{product.base_url}/clients")  # the phone went in the body, not the URL


def test_a_bad_phone_asks_to_check_the_number_and_registers_nobody(product: Product, page: Page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    log_in(page, product.base_url)
    before = persons(product)
    field = page.get_by_label("Телефон")
    status = page.locator("#phone-status")

    field.fill("12345")
    field.press("Tab")  # leaving the field checks even a short number
    expect(status).to_have_text("Проверьте номер")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("8 000 123-45-67")
    expect(status).to_have_text("Проверьте номер")

    page.get_by_label("Имя", exact=True).fill("Ольга")
    with page.expect_response(f"{product.base_url}/registrations") as answer:
        page.get_by_role("button", name="Зарегистрировать").click()
    assert answer.value.status == 422
    expect(page.locator("#phone-status")).to_have_text("Проверьте номер")
    expect(page.get_by_label("Телефон")).to_have_value("8 000 123-45-67")
    expect(page.get_by_label("Имя", exact=True)).to_have_value("Ольга")
    assert persons(product) == before


def test_an_inactive_channel_is_not_offered_and_a_postponed_message_waits_in_alerts(
    product: Product, page: Page
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    log_in(page, product.base_url)
    offered = page.locator('input[name="channel"]').evaluate_all("inputs => inputs.map(input => input.value)")
    assert INACTIVE_CHANNEL not in offered
    assert "local" in offered

    page.get_by_label("Телефон").fill(new_phone())
    page.get_by_label("Имя", exact=True).fill("Марина")
    page.get_by_label("Отложить уведомление").check()
    page.get_by_role("button", name="Зарегистрировать").click()
    notification = page.locator("[data-notification]")
    expect(notification).to_have_attribute("data-status", "held")
    expect(notification.locator('[data-role="label"]')).to_have_text("Отложено")
    notification_id = int(notification.get_attribute("data-notification") or 0)

    page.get_by_role("link", name="Оповещения").click()
    alert = page.locator(f'[data-notification="{notification_id}"]')
    expect(alert).to_contain_text("Отложено менеджером")
    alert.get_by_label(f"Канал для уведомления №{notification_id}").select_option("local")
    alert.get_by_role("button", name="Отправить через другой канал").click()

    expect(page.get_by_role("status")).to_have_text("Уведомление отправлено через выбранный канал.")
    expect(page.locator(f'[data-notification="{notification_id}"]')).to_have_count(0)
    with product.api() as api:
        for _ in range(150):
            state = api.get(f"/api/notifications/{notification_id}").json()
            if state["status"] == "sent":
                break
            page.wait_for_timeout(100)
    assert (state["status"], state["channel"]) == ("sent", "local")


def test_a_temporary_password_must_be_changed_before_anything_else(product: Product, page: Page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    log_in(page, product.base_url, NEWBIE_LOGIN, product.newbie_password)
    expect(page).to_have_url(f"{product.base_url}/password")
    expect(page.get_by_role("status")).to_contain_text("Вы вошли с временным паролем")
    page.goto(f"{product.base_url}/alerts")
    expect(page).to_have_url(f"{product.base_url}/password")

    page.get_by_label("Временный пароль").fill(product.newbie_password)
    page.get_by_label("Новый пароль", exact=True).fill("my own secret 2025")
    page.get_by_label("Новый пароль ещё раз").fill("my own secret 2025")
    page.get_by_label("Новый пароль ещё раз").press("Enter")

    expect(page.get_by_role("status")).to_have_text("Пароль изменён.")
    expect(page.get_by_role("heading", name="Новый клиент")).to_be_visible()
    page.goto(f"{product.base_url}/alerts")
    expect(page.get_by_role("heading", name="Оповещения")).to_be_visible()


def test_a_form_posted_without_its_csrf_token_is_refused_and_logout_ends_the_session(
    product: Product, page: Page
) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    log_in(page, product.base_url)
    before = persons(product)
    page.locator("#registration-form input[name=_csrf]").evaluate("input => input.remove()")
    page.get_by_label("Телефон").fill(new_phone())
    page.get_by_label("Имя", exact=True).fill("Злоумышленник")
    with page.expect_response(f"{product.base_url}/registrations") as answer:
        page.get_by_role("button", name="Зарегистрировать").click()

    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Форма устарела")).to_be_visible()
    assert persons(product) == before

    page.goto(f"{product.base_url}/")
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_role("status")).to_have_text("Вы вышли из системы.")
    page.goto(f"{product.base_url}/alerts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Falerts$"))


def test_the_form_works_from_the_keyboard_on_a_phone_sized_screen(product: Product, phone_page: Page) -> None:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    page = phone_page
    log_in(page, product.base_url)
    expect(page.get_by_role("heading", name="Новый клиент")).to_be_visible()
    assert _fits_the_screen(page)
    assert _every_field_is_labelled(page)

    phone = new_phone()
    page.keyboard.type(typed(phone))  # the phone field has the focus when the page opens
    page.keyboard.press("Tab")
    expect(page.locator("#phone-status")).to_contain_text(f"Номер: {phone}")
    page.keyboard.type("Илья")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Клиент зарегистрирован")).to_be_visible()
    expect(page.locator("[data-notification]")).to_have_attribute("data-status", "sent")
    assert _fits_the_screen(page)


def _fits_the_screen(page: Page) -> bool:
    fits: Any = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return bool(fits)


def _every_field_is_labelled(page: Page) -> bool:
    labelled: Any = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(field => field.offsetParent !== null)
            .every(field => field.labels && field.labels.length > 0)"""
    )
    return bool(labelled)


def test_no_server_log_line_holds_a_phone_or_a_password(product: Product) -> None:
    # Runs last in the module: by now every flow above has gone through the server's log.
    log = product.server.stderr
    assert "POST /registrations" in log
    phones = product.phones()
    passwords = list(shown_passwords(product.server.stdout).values())
    assert phones
    assert passwords
    for phone in phones:
        assert phone not in log
        assert phone[1:] not in log
    for password in passwords:
        assert password not in log
    kept = (product.data_dir / "messages.jsonl").read_text(encoding="utf-8")
    assert not [secret for secret in phones + passwords if secret in kept]
    assert ADMIN_PASSWORD not in log
    assert product.newbie_password not in log
