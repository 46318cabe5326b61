"""Fixtures of the page tests: the HTTP fixtures (an app on SQLite with a fake clock), and a
client that behaves like a browser without one: it keeps cookies and sends the page's CSRF token.

The browser tests (real Chromium driven by Playwright against ``barbershop serve``) have their
own fixtures in ``browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import httpx
import pytest

from tests.integration.http.conftest import (
    MANAGER_LOGIN,
    MANAGER_PASSWORD,
    Api,
    clock,
    portal,
    sqlite_api,
    sqlite_settings,
)
from tests.integration.web.browser import browser, playwright_driver

__all__ = ["browser", "clock", "playwright_driver", "portal", "sqlite_api", "sqlite_settings"]

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_of(page: httpx.Response) -> str:
    match = _CSRF_META.search(page.text)
    assert match, f"no CSRF token on {page.url}"
    return match.group(1)


@attrs.define
class Pages:
    """The app's pages through the test client, as a browser uses them (cookies kept)."""

    api: Api

    @property
    def client(self) -> Any:
        return self.api.client

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def submit(self, page: str, action: str, fields: dict[str, str], **kwargs: Any) -> httpx.Response:
        """Open ``page``, then post its form to ``action`` with the CSRF token it carried."""
        token = csrf_of(self.client.get(page, follow_redirects=True))
        return self.client.post(action, data={"_csrf": token, **fields}, follow_redirects=False, **kwargs)

    def log_in(self, login: str = MANAGER_LOGIN, password: str = MANAGER_PASSWORD) -> httpx.Response:
        answer = self.submit("/login", "/login", {"login": login, "password": password})
        assert answer.status_code == 303, answer.text
        return answer


@pytest.fixture
def pages(sqlite_api: Api) -> Pages:
    """The pages of an app on SQLite, not logged in."""
    return Pages(sqlite_api)


@pytest.fixture
def logged_in(pages: Pages) -> Pages:
    pages.log_in()
    return pages
