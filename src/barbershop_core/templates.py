"""Notification template bodies: ``{placeholder}`` syntax, checked before use."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Final

from barbershop_core.errors import ValidationError

PLACEHOLDERS: Final = frozenset({"first_name", "login", "password", "expires_at", "sign_in_url"})
"""``sign_in_url``: the address of the client's sign-in page (``BARBERSHOP_PUBLIC_URL`` + ``/client/login``)."""

CODE_ONLY_BODY: Final = "{password}"
"""The whole message on a code-only channel: the provider wraps the code in its own words."""

DEFAULT_BODIES: Final = {
    "REG_WELCOME": (
        "{first_name}, добро пожаловать в барбершоп! Логин: {login}, временный пароль: {password}. "
        "Пароль действует до {expires_at}, при первом входе его нужно сменить. Вход: {sign_in_url}"
    ),
}


def placeholders(body: str) -> frozenset[str]:
    try:
        fields = [
            (field, spec, conversion)
            for _, field, spec, conversion in string.Formatter().parse(body)
            if field is not None
        ]
    except ValueError as exc:
        raise ValidationError(f"Ошибка в тексте шаблона: {exc}", field="body") from exc
    # A conversion or format spec ({first_name:d}, {first_name!r}, nested {x:{y}}) would make
    # render() fail or misbehave on a body that passed this check.
    if any(spec or conversion for _, spec, conversion in fields):
        raise ValidationError("Поля шаблона пишутся без форматирования, например {first_name}", field="body")
    names = {field for field, _, _ in fields}
    unknown = names - PLACEHOLDERS
    if unknown:
        raise ValidationError(f"Неизвестные поля шаблона: {', '.join(sorted(unknown))}", field="body")
    return frozenset(names)


def needs_password(body: str) -> bool:
    return "password" in placeholders(body)


def render(body: str, values: Mapping[str, str]) -> str:
    names = placeholders(body)
    missing = names - values.keys()
    if missing:
        raise ValidationError(f"Нет значений для полей шаблона: {', '.join(sorted(missing))}", field="body")
    return body.format_map({name: values[name] for name in names})
