"""Screenshots of the manager's page for README: ``python -m tests.integration.web.screenshots [DIR]``.

Runs the product exactly as the browser tests do (``barbershop serve`` on the embedded default,
Debian's Chromium driven by Playwright) and saves, at desktop and at phone width: the
«Новый клиент» form (filled in, the phone checked), the result page once the message is
delivered, the client's card with its timeline and «Журнал», and A1 (a known phone). Default DIR: ``docs/screenshots``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.integration.web.browser import chromium_missing, launched_chromium, log_in, running_product

VIEWPORTS = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
PHONES = {"desktop": "+79215550143", "phone": "+79215550177"}
KNOWN_PHONE = "+79215550100"


def _typed(e164: str) -> str:
    return f"8 ({e164[2:5]}) {e164[5:8]}-{e164[8:10]}-{e164[10:12]}"


def take(out_dir: Path) -> list[Path]:
    from playwright.sync_api import expect  # noqa: PLC0415 -- optional dependency: see browser.py

    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_product(Path(workdir)) as product,
        launched_chromium() as (
            _,
            browser,
        ),
    ):
        known_id = product.register(KNOWN_PHONE, "Пётр")["client_id"]
        product.backdate_client(known_id, minutes=30)
        for name, viewport in VIEWPORTS.items():
            context = browser.new_context(
                viewport=viewport, device_scale_factor=2 if name == "phone" else 1, locale="ru-RU"
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            log_in(page, product.base_url)

            page.get_by_label("Телефон").fill(_typed(PHONES[name]))
            page.get_by_label("Телефон").press("Tab")
            expect(page.locator("#phone-status")).to_contain_text("Номер:")
            page.get_by_label("Имя", exact=True).fill("Анастасия")
            page.get_by_label("Обработка персональных данных").check()
            page.get_by_label("Имя", exact=True).blur()
            saved.append(out_dir / f"form-{name}.png")
            page.screenshot(path=saved[-1], full_page=True)

            page.get_by_role("button", name="Зарегистрировать").click()
            notification = page.locator("[data-notification]")
            expect(notification).to_have_attribute("data-status", "sent")
            product.deliver(int(notification.get_attribute("data-notification") or 0))
            expect(notification).to_have_attribute("data-status", "delivered")
            saved.append(out_dir / f"result-{name}.png")
            page.screenshot(path=saved[-1], full_page=True)

            page.get_by_role("link", name="Карточка клиента").click()
            expect(page.locator("#journal-heading")).to_be_visible()
            saved.append(out_dir / f"card-{name}.png")
            page.screenshot(path=saved[-1], full_page=True)

            page.goto(f"{product.base_url}/")
            page.get_by_label("Телефон").fill(_typed(KNOWN_PHONE))
            expect(page.locator("#phone-status")).to_contain_text("Клиент уже существует")
            saved.append(out_dir / f"known-phone-{name}.png")
            page.screenshot(path=saved[-1], full_page=name == "phone")
            context.close()
    return saved


def main(argv: list[str]) -> int:
    reason = chromium_missing()
    if reason is not None:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    out_dir = Path(argv[0]) if argv else Path("docs/screenshots")
    for path in take(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
