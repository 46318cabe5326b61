"""A real browser against the real product: Debian's Chromium, driven by Playwright's Python API,
on ``barbershop serve`` started as a process on a free loopback port (the embedded default in a
temporary data directory, managers created with the CLI).

Without ``/usr/bin/chromium`` (or the ``playwright`` package) the browser tests are skipped with
the reason, except under ``CI=true``, where they fail: ``scripts/test`` installs Chromium there.
``python -m tests.integration.web.screenshots`` uses the same pieces outside pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import httpx
import pytest

from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from tests.integration.console import shown_passwords
from tests.integration.http.server import Server, barbershop, create_manager, environment, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECRET_KEY = "browser-test-secret-" + "s" * 32
INACTIVE_CHANNEL = "whatsapp"
"""Deactivated by the reference source the server syncs at start (A7)."""
MARKETING_TEMPLATE = "PROMO"
"""A marketing template on the local channel, from the same source (A5, the client's consents)."""

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "a long password for the front desk"
NEWBIE_LOGIN = "newbie"

_GENERATED = re.compile(r"Временный пароль[^:]*: (\S+)")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} — the browser tests are required under CI=true", pytrace=False)
    pytest.skip(reason)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; scripts/test does it as root)"
    try:
        import playwright.sync_api  # noqa: F401, PLC0415 -- only to learn whether the package is installed
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no browser download is needed)"
    return None


@contextlib.contextmanager
def launched_chromium() -> Iterator[tuple[Playwright, Browser]]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 -- optional: see chromium_missing()

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield driver, browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's sync API, for one test module at a time.

    While it runs, its event loop counts as the running loop of the main thread, so it must
    be gone before any asyncio test runs: module scope, never session scope.
    """
    reason = chromium_missing()
    if reason is not None:
        _unavailable(reason)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 -- optional: see chromium_missing()

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    launched = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    try:
        yield launched
    finally:
        launched.close()


def reference_document() -> dict[str, Any]:
    """The shipped channels and templates, with one channel switched off."""
    return {
        "channels": [
            {
                "code": channel.code,
                "title": channel.title,
                "is_active": channel.code != INACTIVE_CHANNEL,
                "address_kind": str(channel.address_kind),
            }
            for channel in DEFAULT_CHANNELS
        ],
        "templates": [
            *(
                {"code": t.code, "channel": t.channel, "kind": str(t.kind), "body": t.body, "is_active": t.is_active}
                for t in DEFAULT_TEMPLATES
            ),
            {
                "code": MARKETING_TEMPLATE,
                "channel": "local",
                "kind": "marketing",
                "body": "{first_name}, скидка 20% на стрижку!",
                "is_active": True,
            },
        ],
    }


@attrs.define
class Product:
    """``barbershop serve`` running, its data directory, and the managers made with the CLI."""

    server: Server
    env: dict[str, str]
    data_dir: Path
    newbie_password: str
    token: str = ""

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def api(self) -> httpx.Client:
        """The JSON API as the admin (bearer token)."""
        return httpx.Client(base_url=self.base_url, timeout=30, headers={"Authorization": f"Bearer {self.token}"})

    def temporary_password(self, notification_id: int) -> str:
        """What the local channel showed on serve's console (its file keeps it masked)."""
        return shown_passwords(self.server.stdout)[notification_id]

    def phones(self) -> list[str]:
        with contextlib.closing(sqlite3.connect(self.data_dir / "barbershop.sqlite3")) as db:
            return [row[0] for row in db.execute("SELECT phone_number FROM persons")]

    def register(self, phone: str, first_name: str = "Пётр") -> dict[str, Any]:
        with self.api() as api:
            answer = api.post("/api/registrations", json={"phone": phone, "first_name": first_name})
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def backdate_client(self, client_id: int, minutes: int) -> None:
        """Make a client look registered ``minutes`` ago (past the 5-minute A6 window, so A1 applies)."""
        with contextlib.closing(sqlite3.connect(self.data_dir / "barbershop.sqlite3")) as db, db:
            db.execute(
                "UPDATE clients SET registered_at = datetime(registered_at, ?) WHERE id = ?",
                (f"-{minutes} minutes", client_id),
            )

    def deliver(self, notification_id: int, channel: str = "local") -> httpx.Response:
        """The provider's signed delivery report, as the channel's provider would post it."""
        secret = subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
            barbershop("callback-secret", "--channel", channel),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        body = json.dumps({"status": "delivered"}).encode()
        signed = f"{notification_id}.".encode() + body
        signature = "sha256=" + hmac.new(bytes.fromhex(secret), signed, hashlib.sha256).hexdigest()
        return httpx.post(
            f"{self.base_url}/api/notifications/{notification_id}/delivery-callback",
            content=body,
            headers={"Content-Type": "application/json", "X-Signature": signature},
            timeout=30,
        )


def _wait_for_reference_sync(product: Product) -> None:
    deadline = time.monotonic() + 30
    with product.api() as api:
        while time.monotonic() < deadline:
            channels = {c["code"]: c["is_active"] for c in api.get("/api/channels").json()}
            if channels.get(INACTIVE_CHANNEL) is False:
                return
            time.sleep(0.1)
    raise AssertionError("the server did not sync the reference data in 30 s")


@contextlib.contextmanager
def running_product(workdir: Path) -> Iterator[Product]:
    """The embedded default in ``workdir``: serve, two managers, reference data synced."""
    data_dir = workdir / "data"
    source = workdir / "reference.json"
    source.write_text(json.dumps(reference_document(), ensure_ascii=False), encoding="utf-8")
    env = environment(
        data_dir,
        BARBERSHOP_SECRET_KEY=SECRET_KEY,
        BARBERSHOP_LOCAL_CHANNEL_ECHO="true",  # stdout is a file here: show the passwords all the same
        BARBERSHOP_REFERENCE_SOURCE=str(source),
    )
    with running_server(data_dir, workdir, env) as server:
        admin = create_manager(env, ADMIN_LOGIN, ADMIN_PASSWORD)
        assert admin.returncode == 0, admin.stderr
        newbie = create_manager(env, NEWBIE_LOGIN, "")  # no password piped: one is generated
        assert newbie.returncode == 0, newbie.stderr
        generated = _GENERATED.search(newbie.stdout)
        assert generated, newbie.stdout
        product = Product(server, env, data_dir, newbie_password=generated.group(1))
        login = httpx.post(
            f"{server.base_url}/api/auth/login", json={"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD}, timeout=30
        )
        assert login.status_code == 200, login.text
        product.token = login.json()["access_token"]
        _wait_for_reference_sync(product)
        yield product


def log_in(page: Page, base_url: str, login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> None:
    """Log in the way a manager does: the keyboard, from the page ``/`` redirects to."""
    page.goto(f"{base_url}/")
    page.get_by_label("Логин").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_label("Пароль").press("Enter")
    page.wait_for_load_state()
