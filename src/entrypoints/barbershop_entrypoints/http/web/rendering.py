"""Server-rendered pages: the Jinja2 environment, the common page context, and the headers.

Templates live next to this module (``templates/``), the page's own CSS and JavaScript in
``static/``; both ship inside the package, so an installed wheel serves them as a source
tree does. Autoescaping is on for every template and undefined names are errors.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.datastructures import Cookie
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from barbershop_core.model import CONSENT_TYPES, NotificationStatus
from barbershop_entrypoints.http.params import MAX_PHONE_INPUT
from barbershop_entrypoints.http.web.journal_words import action_words, actor_words
from barbershop_entrypoints.http.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    MANAGER_PAGES,
    SessionScheme,
    csrf_token_for,
    current_manager,
)

HERE: Final = Path(__file__).resolve().parent
TEMPLATES_DIR: Final = HERE / "templates"
STATIC_DIR: Final = HERE / "static"
STATIC_PATH: Final = "/static"

STATUS_LABELS: Final[Mapping[str, str]] = {
    NotificationStatus.SCHEDULED: "В очереди на отправку",
    NotificationStatus.HELD: "Отложено",
    NotificationStatus.SENT: "Отправлено",
    NotificationStatus.DELIVERED: "Доставлено",
    NotificationStatus.FAILED: "Не доставлено",
}
CONSENT_TITLES: Final[Mapping[str, str]] = {str(consent.code): consent.title for consent in CONSENT_TYPES}

FLASH_MESSAGES: Final[Mapping[str, str]] = {
    "password_changed": "Пароль изменён.",
    "client_updated": "Изменения сохранены.",
    "resent": "Уведомление отправлено через выбранный канал.",
    "logged_out": "Вы вышли из системы.",
    "consents_saved": "Согласия сохранены.",
}
"""Redirects carry ``?flash=<code>``; only these known codes are ever shown."""

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show personal data: never kept by a shared cache or the back button
}


def format_datetime(value: datetime | None) -> str:
    """The server's rendering (UTC); the page's script shows it in the manager's local time."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d.%m.%Y %H:%M UTC")


def iso_datetime(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


@functools.cache
def asset_version() -> str:
    """A short hash of the static files: a new release gets new URLs, so caches never serve stale code."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["datetime"] = format_datetime
    environment.filters["iso"] = iso_datetime
    environment.filters["action_words"] = action_words
    environment.filters["actor_words"] = actor_words
    environment.globals.update(
        STATUS_LABELS=STATUS_LABELS,
        CONSENT_TITLES=CONSENT_TITLES,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        STATIC_PATH=STATIC_PATH,
        MAX_PHONE_INPUT=MAX_PHONE_INPUT,
    )
    return environment


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    cookies: Iterable[Cookie] = (),
    scheme: SessionScheme = MANAGER_PAGES,
    **context: Any,
) -> Template:
    """A page: the template with the manager, the CSRF token and a flash message in its context."""
    token, csrf_cookies = csrf_token_for(request, scheme)
    flash = FLASH_MESSAGES.get(request.query_params.get("flash", ""))
    common: dict[str, Any] = {
        "manager": current_manager(request),
        "csrf_token": token,
        "asset_version": asset_version(),
        "flash": flash,
        "path": request.url.path,
    }
    return Template(
        template_name=template,
        context=common | context,
        status_code=status_code,
        headers=dict(PAGE_HEADERS),
        cookies=[*csrf_cookies, *cookies],
    )
