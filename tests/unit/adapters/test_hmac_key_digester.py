"""HMAC-SHA256 digests of partner API keys."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from barbershop_adapters.hmac_key_digester import HmacKeyDigester

PEPPER = b"0123456789abcdef"
KEY = "bsk_partner-key"


def test_a_digest_is_the_hex_hmac_sha256_of_the_key_under_the_pepper() -> None:
    digest = HmacKeyDigester(PEPPER).digest(KEY)

    assert digest == hmac.new(PEPPER, KEY.encode(), hashlib.sha256).hexdigest()
    assert len(digest) == 64
    assert KEY not in digest


def test_the_same_key_always_gives_the_same_digest() -> None:
    assert HmacKeyDigester(PEPPER).digest(KEY) == HmacKeyDigester(PEPPER).digest(KEY)


def test_another_key_or_another_pepper_gives_another_digest() -> None:
    digester = HmacKeyDigester(PEPPER)

    assert digester.digest(KEY) != digester.digest(KEY + "x")
    assert digester.digest(KEY) != HmacKeyDigester(PEPPER[::-1]).digest(KEY)
    assert digester.digest(KEY) != hashlib.sha256(KEY.encode()).hexdigest()  # keyed, not a bare hash


def test_a_pepper_shorter_than_sixteen_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        HmacKeyDigester(b"short")
