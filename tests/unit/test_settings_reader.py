"""The one strict reader of ``BARBERSHOP_*``: each kind of value read or refused by name."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from barbershop_entrypoints.settings import EnvReader, Settings, SettingsError

Read = Callable[[EnvReader], Any]

BOOLEAN = "one of true/false/1/0/yes/no/on/off"

READS: dict[str, Read] = {
    "bool": lambda reader: reader.boolean("X", default=False),
    "optional bool": lambda reader: reader.optional_boolean("X"),
    "auto bool": lambda reader: reader.auto_boolean("X"),
    "int": lambda reader: reader.integer("X", 7, minimum=2),
    "float": lambda reader: reader.real("X", 1.5),
    "seconds": lambda reader: reader.duration("X", timedelta(seconds=15), unit="seconds"),
    "days": lambda reader: reader.duration("X", timedelta(days=1095), unit="days", minimum=30),
    "url": lambda reader: reader.url("X", "http://127.0.0.1:8000"),
    "enum": lambda reader: reader.choice("X", "text", ("text", "json")),
    "list": lambda reader: reader.codes("X"),
}

GOOD: list[tuple[str, str | None, Any]] = [
    ("bool", None, False),
    ("bool", "", False),
    ("bool", "true", True),
    ("bool", " YES ", True),
    ("bool", "on", True),
    ("bool", "1", True),
    ("bool", "False", False),
    ("bool", "0", False),
    ("bool", "no", False),
    ("bool", "off", False),
    ("optional bool", None, None),
    ("optional bool", "true", True),
    ("optional bool", "no", False),
    ("auto bool", None, None),
    ("auto bool", "AUTO", None),
    ("auto bool", "1", True),
    ("auto bool", "off", False),
    ("int", None, 7),
    ("int", "2", 2),
    ("int", " 40 ", 40),
    ("float", None, 1.5),
    ("float", "0.25", 0.25),
    ("seconds", None, timedelta(seconds=15)),
    ("seconds", "0.1", timedelta(seconds=0.1)),
    ("days", None, timedelta(days=1095)),
    ("days", "30", timedelta(days=30)),
    ("url", None, "http://127.0.0.1:8000"),
    ("url", "https://barber.example/salon/", "https://barber.example/salon"),
    ("enum", None, "text"),
    ("enum", "JSON", "json"),
    ("list", None, ()),
    ("list", "Telegram, sms,telegram", ("telegram", "sms")),
]

BAD: list[tuple[str, str, str]] = [
    ("bool", "ture", BOOLEAN),
    ("bool", "2", BOOLEAN),
    ("bool", "auto", BOOLEAN),
    ("optional bool", "yes please", BOOLEAN),
    ("auto bool", "loud", f"auto or {BOOLEAN}"),
    ("int", "ten", "a whole number, at least 2"),
    ("int", "1", "a whole number, at least 2"),
    ("int", "2.5", "a whole number, at least 2"),
    ("float", "fast", "a positive number"),
    ("float", "0", "a positive number"),
    ("float", "nan", "a positive number"),
    ("float", "inf", "a positive number"),
    ("seconds", "soon", "a positive number of seconds"),
    ("seconds", "-1", "a positive number of seconds"),
    ("days", "7", "a whole number of days, at least 30"),
    ("days", "a year", "a whole number of days, at least 30"),
    ("url", "barber.example", "an http(s) address like https://barber.example"),
    ("url", "ftp://barber.example", "an http(s) address like https://barber.example"),
    ("url", "https://barber.example/?a=1", "an http(s) address like https://barber.example"),
    ("enum", "xml", "one of text/json"),
    ("list", "sms;telegram", "channel codes separated by commas"),
]


@pytest.mark.parametrize(("kind", "raw", "expected"), GOOD, ids=[f"{k}={r!r}" for k, r, _ in GOOD])
def test_a_value_of_its_kind_is_read_and_an_unset_or_blank_one_takes_the_default(
    kind: str, raw: str | None, expected: Any
) -> None:
    env = {} if raw is None else {"BARBERSHOP_X": raw}

    assert READS[kind](EnvReader(env)) == expected


@pytest.mark.parametrize(("kind", "raw", "expected"), BAD, ids=[f"{k}={r!r}" for k, r, _ in BAD])
def test_a_value_not_of_its_kind_is_refused_naming_the_variable_and_what_it_expects(
    kind: str, raw: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        READS[kind](EnvReader({"BARBERSHOP_X": raw}))

    assert str(refused.value) == f"BARBERSHOP_X: expected {expected}, got {raw!r}"


def test_every_kind_of_value_has_good_and_bad_cases() -> None:
    assert {kind for kind, _, _ in GOOD} == set(READS)
    assert {kind for kind, _, _ in BAD} == set(READS)


BOOLEAN_VARIABLES = (
    "BARBERSHOP_DB_ECHO",
    "BARBERSHOP_CREATE_MISSING_TEMPLATES",
    "BARBERSHOP_LOCAL_CHANNEL",
    "BARBERSHOP_LOCAL_CHANNEL_ECHO",
    "BARBERSHOP_COOKIE_SECURE",
    "BARBERSHOP_SMSRU_TEST",
)


@pytest.mark.parametrize("variable", BOOLEAN_VARIABLES)
@pytest.mark.parametrize("typo", ["ture", "flase", "y"])
def test_a_typo_in_any_boolean_variable_stops_the_start_with_its_name(variable: str, typo: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: expected (auto or )?{re.escape(BOOLEAN)}, got '{typo}'$"):
        Settings.from_env({variable: typo})


@pytest.mark.parametrize("variable", BOOLEAN_VARIABLES)
@pytest.mark.parametrize(("spelling", "meaning"), [("TRUE", True), ("yes", True), ("0", False), ("off", False)])
def test_every_boolean_variable_accepts_the_same_spellings(variable: str, spelling: str, meaning: bool) -> None:
    environ = {variable: spelling, "BARBERSHOP_SMSRU_API_ID": "id"}

    assert _booleans(Settings.from_env(environ))[variable] is meaning


def _booleans(settings: Settings) -> dict[str, bool | None]:
    sms = settings.channels.sms
    return {
        "BARBERSHOP_DB_ECHO": settings.database.echo,
        "BARBERSHOP_CREATE_MISSING_TEMPLATES": settings.registration.create_missing_templates,
        "BARBERSHOP_LOCAL_CHANNEL": settings.channels.local.enabled,
        "BARBERSHOP_LOCAL_CHANNEL_ECHO": settings.channels.local.echo,
        "BARBERSHOP_COOKIE_SECURE": settings.web.cookie_secure,
        "BARBERSHOP_SMSRU_TEST": None if sms is None else sms.test,
    }


@attrs.frozen
class _BooleanSpy(EnvReader):
    asked: list[str] = attrs.field(factory=list)

    def optional_boolean(self, name: str) -> bool | None:
        self.asked.append(self.variable(name))
        return super().optional_boolean(name)

    def auto_boolean(self, name: str) -> bool | None:
        self.asked.append(self.variable(name))
        return super().auto_boolean(name)


def test_the_boolean_variables_above_are_all_that_the_settings_read() -> None:
    spy = _BooleanSpy({})

    Settings.read(spy)

    assert sorted(spy.asked) == sorted(BOOLEAN_VARIABLES)


def test_provider_variables_are_checked_even_while_the_provider_is_off() -> None:
    with pytest.raises(SettingsError, match=r"^BARBERSHOP_SMSRU_TEST: expected"):
        Settings.from_env({"BARBERSHOP_SMSRU_TEST": "ture"})


def test_whatsapp_sending_needs_its_other_credentials_named() -> None:
    with pytest.raises(SettingsError, match=r"^BARBERSHOP_WHATSAPP_PHONE_NUMBER_ID: expected a value with "):
        Settings.from_env({"BARBERSHOP_WHATSAPP_ACCESS_TOKEN": "token"})


def test_the_pool_may_have_no_overflow_but_must_have_a_connection() -> None:
    capped = Settings.from_env({"BARBERSHOP_DB_POOL_SIZE": "8", "BARBERSHOP_DB_MAX_OVERFLOW": "0"})

    assert (capped.database.pool_size, capped.database.max_overflow) == (8, 0)
    with pytest.raises(SettingsError, match=r"^BARBERSHOP_DB_POOL_SIZE: expected a whole number, at least 1"):
        Settings.from_env({"BARBERSHOP_DB_POOL_SIZE": "0"})
    with pytest.raises(SettingsError, match=r"^BARBERSHOP_DB_MAX_OVERFLOW: expected a whole number, at least 0"):
        Settings.from_env({"BARBERSHOP_DB_MAX_OVERFLOW": "-1"})
