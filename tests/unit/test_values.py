"""Value objects: validated on construction, compared by value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from barbershop_core.errors import InvalidPhone, ValidationError
from barbershop_core.values import Email, FirstName, FullName, Login, Money, PhoneNumber, mask_phone

# --- PhoneNumber ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "8 (911) 123-45-67",
        "+7 911 123 45 67",
        "89111234567",
        "+79111234567",
        "  +7 (911) 123-45-67  ",
        "8.911.123.45.67",
        "9111234567",
    ],
)
def test_a_phone_typed_by_a_manager_is_normalised_to_e164(typed: str) -> None:
    assert PhoneNumber.parse(typed) == PhoneNumber("+79111234567")


def test_a_phone_without_country_code_uses_the_configured_region() -> None:
    assert PhoneNumber.parse("020 7946 0018", "GB").e164 == "+442079460018"
    assert PhoneNumber.parse("+44 20 7946 0018").e164 == "+442079460018"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "8 911 CALL NOW",
        "+7 911 123 45 6x",
        "8911",
        "+7 911",
        "+7 911 123 45 67 89",
        "+7 000 000 00 00",
        "++79111234567",
        "+",
        "tel:+79111234567",
        "1" * 31,
    ],
)
def test_anything_that_is_not_a_valid_number_is_refused_with_check_the_number(raw: str) -> None:
    with pytest.raises(InvalidPhone) as error:
        PhoneNumber.parse(raw)

    assert (error.value.code, error.value.message, error.value.field) == ("invalid_phone", "Проверьте номер", "phone")


def test_strict_e164_accepts_only_numbers_already_in_e164() -> None:
    assert PhoneNumber.parse_strict_e164(" +79111234567 ") == PhoneNumber("+79111234567")
    for raw in ("89111234567", "+7 911 123 45 67", "79111234567", "+0123456789", "+7911"):
        with pytest.raises(InvalidPhone):
            PhoneNumber.parse_strict_e164(raw)


def test_a_valid_service_number_shorter_than_seven_digits_is_refused_as_not_e164() -> None:
    with pytest.raises(InvalidPhone):
        PhoneNumber.parse("+98 9601")  # Iran's UAN: valid for phonenumbers, but a mask would show it whole


def test_strict_e164_still_checks_the_number_is_valid() -> None:
    with pytest.raises(InvalidPhone):
        PhoneNumber.parse_strict_e164("+70000000000")


def test_a_phone_is_masked_keeping_country_and_operator_and_the_last_two_digits() -> None:
    phone = PhoneNumber.parse("8 (911) 123-45-67")

    assert phone.masked == "+7911*****67"
    assert str(phone) == "+79111234567"
    assert mask_phone("+442079460018") == "+4420******18"


# --- names, login, email --------------------------------------------------------------------


def test_a_first_name_is_trimmed_with_inner_spaces_collapsed() -> None:
    assert FirstName.parse("  Анна \t Мария ") == FirstName("Анна Мария")
    assert str(FirstName.parse("Анна")) == "Анна"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Укажите имя клиента"),
        (" \n ", "Укажите имя клиента"),
        ("Я" * 51, "Имя длиннее 50 символов"),
        ("Ан\x00на", "Недопустимые символы в поле «Имя»"),
        ("Анна\u200b", "Недопустимые символы в поле «Имя»"),
    ],
)
def test_a_bad_first_name_is_refused_with_its_reason(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        FirstName.parse(raw)

    assert (error.value.message, error.value.field) == (message, "first_name")


def test_a_first_name_of_exactly_fifty_characters_is_accepted() -> None:
    assert FirstName.parse("Я" * 50).value == "Я" * 50


def test_a_full_name_gives_the_given_name_as_first_name() -> None:
    assert FullName.parse("Иванов Иван Иванович").first_name == FirstName("Иван")
    assert FullName.parse("Иван").first_name == FirstName("Иван")
    assert str(FullName.parse(" Иванов  Иван ")) == "Иванов Иван"


@pytest.mark.parametrize(("raw", "message"), [("", "Не указано ФИО"), ("Ф" * 51, "ФИО длиннее 50 символов")])
def test_a_bad_full_name_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        FullName.parse(raw)

    assert (error.value.message, error.value.field) == (message, "fio")


@pytest.mark.parametrize("raw", ["anna", "anna.petrova@salon-1", "+79111234567", "a_b", "x" * 64])
def test_a_login_of_latin_letters_digits_and_a_few_signs_is_accepted(raw: str) -> None:
    assert str(Login.parse(f" {raw} ")) == raw


@pytest.mark.parametrize("raw", ["ab", "", "анна", "anna petrova", "anna!", "x" * 65])
def test_a_bad_login_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as error:
        Login.parse(raw)

    assert error.value.field == "login"
    assert error.value.message == "Логин: от 3 до 64 символов — латинские буквы, цифры и + _ . @ -"


def test_the_login_of_a_phone_is_its_e164_form() -> None:
    assert Login.from_phone(PhoneNumber.parse("89111234567")) == Login("+79111234567")


def test_an_email_keeps_the_local_part_and_lowercases_the_domain() -> None:
    email = Email.parse(" Ivan.Petrov+promo@Mail.Example.RU ")

    assert email == Email("Ivan.Petrov+promo@mail.example.ru")
    assert str(email) == "Ivan.Petrov+promo@mail.example.ru"
    assert email.masked == "I***@mail.example.ru"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Не указан email"),
        ("a" * 39 + "@example.com", "Email длиннее 50 символов"),
        ("ivan", "Некорректный email"),
        ("ivan@localhost", "Некорректный email"),
        ("ivan@-example.com", "Некорректный email"),
        ("iv an@example.com", "Некорректный email"),
        (".ivan@example.com", "Некорректный email"),
        ("иван@пример.рф", "Некорректный email"),
    ],
)
def test_a_bad_email_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Email.parse(raw)

    assert (error.value.message, error.value.field) == (message, "email")


# --- Money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (100, Decimal("100.00")),
        (19.99, Decimal("19.99")),
        (0.1, Decimal("0.10")),
        (Decimal("0.01"), Decimal("0.01")),
        (99_999_999.99, Decimal("99999999.99")),
        (Decimal("5.500"), Decimal("5.50")),
    ],
)
def test_money_is_a_positive_amount_with_two_decimal_places(raw: object, amount: Decimal) -> None:
    money = Money.parse(raw)

    assert money.amount == amount
    assert money.amount.as_tuple().exponent == -2


def test_money_prints_with_two_decimals() -> None:
    assert str(Money.parse(7)) == "7.00"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("100", "Цена должна быть числом"),
        (None, "Цена должна быть числом"),
        (True, "Цена должна быть числом"),
        (float("inf"), "Цена должна быть меньше 100 000 000"),
        (Decimal("-Infinity"), "Цена должна быть положительным числом"),
        (Decimal("1E+999999999"), "Цена должна быть меньше 100 000 000"),
        (Decimal("1E-999999999"), "Цена может иметь не более двух знаков после запятой"),
        (Decimal("NaN"), "Цена должна быть числом"),
        (0, "Цена должна быть положительным числом"),
        (-0.01, "Цена должна быть положительным числом"),
        (10**8, "Цена должна быть меньше 100 000 000"),
        (Decimal("100000000.00"), "Цена должна быть меньше 100 000 000"),
        (0.001, "Цена может иметь не более двух знаков после запятой"),
        (0.1 + 0.2, "Цена может иметь не более двух знаков после запятой"),
    ],
)
def test_bad_money_is_refused_with_its_reason(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Money.parse(raw, field="purchases[0].price")

    assert (error.value.message, error.value.field) == (message, "purchases[0].price")
