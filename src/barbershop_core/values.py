"""Value objects: immutable, validated on construction, compared by value."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal

import attrs
import phonenumbers

from barbershop_core.errors import InvalidPhone, ValidationError

DEFAULT_REGION = "RU"

# What a person may type around the digits of a phone: anything else (letters, vanity
# numbers, emoji) is refused before phonenumbers tries to be clever about it.
_TYPED_PHONE = re.compile(r"^\+?[\d\s\-().]{1,30}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@attrs.frozen
class PhoneNumber:
    """A phone in E.164 (``+79111234567``); the only form the core stores and compares."""

    e164: str

    @classmethod
    def parse(cls, raw: str, default_region: str = DEFAULT_REGION) -> PhoneNumber:
        """Normalise what a manager types: ``8 (911) 123-45-67`` → ``+79111234567``."""
        text = raw.strip()
        if not _TYPED_PHONE.match(text) or not any(ch.isdigit() for ch in text):
            raise InvalidPhone()
        try:
            parsed = phonenumbers.parse(text, default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhone() from exc
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidPhone()
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        # A few service numbers are valid yet shorter than 7 digits (Iran's +98 9601): the
        # partner API could not accept them, and a mask would show every digit.
        if not _E164.match(e164):
            raise InvalidPhone()
        return cls(e164)

    @classmethod
    def parse_strict_e164(cls, raw: str) -> PhoneNumber:
        """Accept only a number already written in E.164 (partner API contract)."""
        text = raw.strip()
        if not _E164.match(text):
            raise InvalidPhone()
        return cls.parse(text)

    @property
    def masked(self) -> str:
        """``+7911*****67``: safe for logs and audit."""
        return mask_phone(self.e164)

    def __str__(self) -> str:
        return self.e164


def mask_phone(e164: str) -> str:
    """Keep the country code and operator prefix and the last two digits."""
    head, tail = e164[:5], e164[-2:]
    hidden = max(len(e164) - len(head) - len(tail), 0)
    return f"{head}{'*' * hidden}{tail}"


def _clean_text(raw: str, *, field: str, label: str, max_length: int, empty: str, too_long: str) -> str:
    text = " ".join(raw.split())
    if not text:
        raise ValidationError(empty, field=field)
    if len(text) > max_length:
        raise ValidationError(too_long, field=field)
    if any(not ch.isprintable() for ch in text):
        raise ValidationError(f"Недопустимые символы в поле «{label}»", field=field)
    return text


@attrs.frozen
class FirstName:
    value: str

    MAX_LENGTH = 50

    @classmethod
    def parse(cls, raw: str) -> FirstName:
        return cls(
            _clean_text(
                raw,
                field="first_name",
                label="Имя",
                max_length=cls.MAX_LENGTH,
                empty="Укажите имя клиента",
                too_long=f"Имя длиннее {cls.MAX_LENGTH} символов",
            )
        )

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class FullName:
    """ФИО of a promo participant (seed 002: varchar(50))."""

    value: str

    MAX_LENGTH = 50

    @classmethod
    def parse(cls, raw: str) -> FullName:
        return cls(
            _clean_text(
                raw,
                field="fio",
                label="ФИО",
                max_length=cls.MAX_LENGTH,
                empty="Не указано ФИО",
                too_long=f"ФИО длиннее {cls.MAX_LENGTH} символов",
            )
        )

    @property
    def first_name(self) -> FirstName:
        """Russian order is «Фамилия Имя Отчество»: the given name is the second word."""
        words = self.value.split(" ")
        return FirstName(words[1] if len(words) > 1 else words[0])

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Login:
    value: str

    MAX_LENGTH = 64
    _ALLOWED = re.compile(r"^[A-Za-z0-9+_.@\-]{3,64}$")

    @classmethod
    def parse(cls, raw: str) -> Login:
        text = raw.strip()
        if not cls._ALLOWED.match(text):
            raise ValidationError("Логин: от 3 до 64 символов — латинские буквы, цифры и + _ . @ -", field="login")
        return cls(text)

    @classmethod
    def from_phone(cls, phone: PhoneNumber) -> Login:
        return cls(phone.e164)

    def __str__(self) -> str:
        return self.value


_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


@attrs.frozen
class Email:
    value: str

    MAX_LENGTH = 50

    @classmethod
    def parse(cls, raw: str) -> Email:
        text = raw.strip()
        if not text:
            raise ValidationError("Не указан email", field="email")
        if len(text) > cls.MAX_LENGTH:
            raise ValidationError(f"Email длиннее {cls.MAX_LENGTH} символов", field="email")
        if not _EMAIL.match(text):
            raise ValidationError("Некорректный email", field="email")
        local, _, domain = text.rpartition("@")
        return cls(f"{local}@{domain.lower()}")

    @property
    def masked(self) -> str:
        local, _, domain = self.value.rpartition("@")
        return f"{local[:1]}***@{domain}"

    def __str__(self) -> str:
        return self.value


_CENT = Decimal("0.01")
_MONEY_LIMIT = Decimal(10) ** 8


@attrs.frozen
class Money:
    """A positive amount in roubles with kopecks: numeric(10,2), so below 10^8."""

    amount: Decimal

    @classmethod
    def parse(cls, raw: object, *, field: str = "price") -> Money:
        # Strings are refused on purpose: a partner sending "100" has a format bug to fix.
        if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
            raise ValidationError("Цена должна быть числом", field=field)
        amount = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        if amount.is_nan():  # an infinity is judged by the bounds below
            raise ValidationError("Цена должна быть числом", field=field)
        if amount <= 0:
            raise ValidationError("Цена должна быть положительным числом", field=field)
        if amount >= _MONEY_LIMIT:
            raise ValidationError("Цена должна быть меньше 100 000 000", field=field)
        if amount != amount.quantize(_CENT, rounding=ROUND_DOWN):
            raise ValidationError("Цена может иметь не более двух знаков после запятой", field=field)
        return cls(amount.quantize(_CENT))

    def __str__(self) -> str:
        return f"{self.amount:.2f}"
