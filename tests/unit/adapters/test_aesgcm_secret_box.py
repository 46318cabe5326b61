"""AES-256-GCM sealing of temporary passwords that wait in the database."""

from __future__ import annotations

import base64

import pytest

from barbershop_adapters.aesgcm_secret_box import AesGcmSecretBox, SecretBoxError

KEY = bytes(range(32))
PASSWORD = "Temp7kQx9mWa"


@pytest.fixture
def box() -> AesGcmSecretBox:
    return AesGcmSecretBox(KEY)


@pytest.mark.parametrize("plaintext", [PASSWORD, "", "пароль-Ёж", "x" * 1000])
def test_a_sealed_secret_opens_to_the_same_text(box: AesGcmSecretBox, plaintext: str) -> None:
    assert box.open(box.seal(plaintext)) == plaintext


def test_the_sealed_bytes_do_not_contain_the_plaintext(box: AesGcmSecretBox) -> None:
    sealed = box.seal(PASSWORD)

    assert PASSWORD.encode() not in sealed
    assert PASSWORD.encode()[::-1] not in sealed
    assert len(sealed) == 1 + 12 + len(PASSWORD) + 16  # version, nonce, ciphertext, tag


def test_sealing_the_same_text_twice_gives_different_bytes(box: AesGcmSecretBox) -> None:
    assert box.seal(PASSWORD) != box.seal(PASSWORD)


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_a_tampered_seal_does_not_open(box: AesGcmSecretBox, position: int) -> None:
    sealed = bytearray(box.seal(PASSWORD))
    sealed[position] ^= 0x01

    with pytest.raises(SecretBoxError):
        box.open(bytes(sealed))


def test_a_seal_does_not_open_with_another_key(box: AesGcmSecretBox) -> None:
    sealed = box.seal(PASSWORD)

    with pytest.raises(SecretBoxError, match="does not open with this key"):
        AesGcmSecretBox(bytes(32)).open(sealed)


@pytest.mark.parametrize("sealed", [b"", b"\x01", b"\x01" + bytes(27), b"\x02" + bytes(40)])
def test_a_truncated_or_unknown_format_does_not_open(box: AesGcmSecretBox, sealed: bytes) -> None:
    with pytest.raises(SecretBoxError):
        box.open(sealed)


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_a_key_that_is_not_32_bytes_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AesGcmSecretBox(bytes(length))


def test_a_generated_key_is_32_random_bytes_in_base64_and_works() -> None:
    encoded = AesGcmSecretBox.generate_key()

    assert len(base64.urlsafe_b64decode(encoded)) == 32
    assert encoded != AesGcmSecretBox.generate_key()
    box = AesGcmSecretBox.from_base64(encoded)
    assert box.open(box.seal(PASSWORD)) == PASSWORD


def test_a_box_from_the_same_base64_key_opens_the_others_seals() -> None:
    encoded = base64.urlsafe_b64encode(KEY).decode()

    assert AesGcmSecretBox.from_base64(encoded).open(AesGcmSecretBox(KEY).seal(PASSWORD)) == PASSWORD
