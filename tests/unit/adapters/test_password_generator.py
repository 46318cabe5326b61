"""Temporary passwords from ``secrets``: long enough, readable over the phone, random."""

from __future__ import annotations

import string

import pytest

from barbershop_adapters.password_generator import SecretsPasswordGenerator

LOOK_ALIKES = set("0Oo1lIi5Ss2Zz8B")


def test_a_password_has_twelve_characters_by_default() -> None:
    assert len(SecretsPasswordGenerator().generate()) == 12


@pytest.mark.parametrize("length", [10, 16, 64])
def test_a_password_has_the_configured_length(length: int) -> None:
    assert len(SecretsPasswordGenerator(length).generate()) == length


@pytest.mark.parametrize("length", [0, 6, 9])
def test_a_length_below_ten_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="at least 10 characters"):
        SecretsPasswordGenerator(length)


def test_passwords_use_ascii_letters_and_digits_without_look_alikes() -> None:
    generator = SecretsPasswordGenerator()
    used = set("".join(generator.generate() for _ in range(500)))

    assert used <= set(string.ascii_letters + string.digits) - LOOK_ALIKES
    assert used & LOOK_ALIKES == set()
    assert len(used) == len(set(string.ascii_letters + string.digits) - LOOK_ALIKES)  # every allowed one shows up


def test_every_password_has_a_digit_and_a_letter() -> None:
    generator = SecretsPasswordGenerator(10)

    for _ in range(500):
        password = generator.generate()
        assert any(ch.isdigit() for ch in password)
        assert any(ch.isalpha() for ch in password)


def test_passwords_do_not_repeat() -> None:
    generator = SecretsPasswordGenerator()

    assert len({generator.generate() for _ in range(2000)}) == 2000


def test_a_code_for_code_only_channels_is_eight_random_digits() -> None:
    generator = SecretsPasswordGenerator()

    codes = {generator.generate_code() for _ in range(200)}

    assert all(len(code) == 8 and code.isdigit() for code in codes)
    assert len(codes) > 190
