"""Notification template bodies: placeholders checked before use, rendering."""

from __future__ import annotations

import pytest

from barbershop_core.errors import ValidationError
from barbershop_core.templates import DEFAULT_BODIES, PLACEHOLDERS, needs_password, placeholders, render

VALUES = {"first_name": "Иван", "login": "+79111234567", "password": "Temp000001xy", "expires_at": "25.11.2026"}


def test_the_default_welcome_uses_every_known_placeholder() -> None:
    assert placeholders(DEFAULT_BODIES["REG_WELCOME"]) == PLACEHOLDERS
    assert needs_password(DEFAULT_BODIES["REG_WELCOME"]) is True


def test_a_body_without_placeholders_has_none_and_needs_no_password() -> None:
    assert placeholders("Ждём вас в барбершопе!") == frozenset()
    assert needs_password("Ждём вас, {first_name}!") is False


def test_rendering_fills_the_placeholders_and_keeps_escaped_braces() -> None:
    text = render("{{Барбершоп}} {first_name}: логин {login}, пароль {password}", VALUES)

    assert text == "{Барбершоп} Иван: логин +79111234567, пароль Temp000001xy"


def test_rendering_ignores_values_the_body_does_not_use() -> None:
    assert render("Привет, {first_name}!", VALUES) == "Привет, Иван!"


def test_rendering_without_a_value_the_body_needs_is_refused() -> None:
    with pytest.raises(ValidationError) as error:
        render("{first_name}, пароль {password}", {"first_name": "Иван"})

    assert (error.value.message, error.value.field) == ("Нет значений для полей шаблона: password", "body")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{name}", "Неизвестные поля шаблона: name"),
        ("{phone} {email}", "Неизвестные поля шаблона: email, phone"),
        ("{0}", "Неизвестные поля шаблона: 0"),
        ("{first_name.__class__}", "Неизвестные поля шаблона: first_name.__class__"),
        ("{first_name[0]}", "Неизвестные поля шаблона: first_name[0]"),
        ("{first_name", "Ошибка в тексте шаблона: expected '}' before end of string"),
        ("first_name}", "Ошибка в тексте шаблона: Single '}' encountered in format string"),
    ],
)
def test_a_body_with_unknown_or_malformed_placeholders_is_refused(body: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        placeholders(body)

    assert (error.value.message, error.value.field) == (message, "body")


@pytest.mark.parametrize("body", ["{first_name:d}", "{first_name!r}", "{first_name:>{login}}", "{login:%Y}"])
def test_a_body_with_a_conversion_or_format_spec_is_refused_before_it_can_break_rendering(body: str) -> None:
    with pytest.raises(ValidationError) as error:
        placeholders(body)

    assert (error.value.message, error.value.field) == (
        "Поля шаблона пишутся без форматирования, например {first_name}",
        "body",
    )
