"""The pieces of manager auth on their own: the signed token and the login throttle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from barbershop_entrypoints.http.throttle import LoginThrottle, ThrottlePolicy
from barbershop_entrypoints.http.tokens import InvalidToken, TokenClaims, TokenSigner
from tests.fakes import FakeClock, InMemoryAttemptCounter

KEY = b"k" * 32


def test_a_token_carries_the_manager_id_until_it_expires() -> None:
    clock = FakeClock()
    signer = TokenSigner(KEY, timedelta(minutes=10), clock)
    issued = signer.issue(7, 3)

    assert signer.verify(issued.token) == TokenClaims(manager_id=7, session_version=3)
    assert issued.expires_at == clock.now() + timedelta(minutes=10)
    clock.advance(timedelta(minutes=10))
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(issued.token)


def test_a_token_signed_with_another_key_or_for_another_purpose_is_refused() -> None:
    clock = FakeClock()
    token = TokenSigner(KEY, timedelta(minutes=10), clock).issue(7, 0).token

    with pytest.raises(InvalidToken):
        TokenSigner(b"other" * 8, timedelta(minutes=10), clock).verify(token)
    with pytest.raises(InvalidToken):
        TokenSigner(KEY, timedelta(minutes=10), clock, purpose="session").verify(token)


def test_a_token_whose_payload_was_edited_is_refused() -> None:
    signer = TokenSigner(KEY, timedelta(minutes=10), FakeClock())
    body, signature = signer.issue(7, 0).token.split(".")
    forged = signer.issue(8, 0).token.split(".")[0]

    with pytest.raises(InvalidToken):
        signer.verify(f"{forged}.{signature}")
    with pytest.raises(InvalidToken):
        signer.verify(body)


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_throttle(ticker: Ticker, **policy: Any) -> LoginThrottle:
    return LoginThrottle(InMemoryAttemptCounter(), ThrottlePolicy(**policy), now=ticker)


async def test_five_wrong_passwords_slow_that_login_from_that_address_only() -> None:
    ticker = Ticker()
    ticker.now = 1020.0  # a window starts here
    throttle = a_throttle(ticker, window=timedelta(seconds=60))
    for _ in range(5):
        assert await throttle.begin("Anna", "10.0.0.1") is None

    ticker.now += 10
    assert await throttle.begin(" anna ", "10.0.0.1") == 50
    # The real manager, elsewhere, is not locked out by someone guessing on purpose.
    assert await throttle.begin("anna", "10.0.0.2") is None
    ticker.now += 50
    assert await throttle.begin("ANNA", "10.0.0.1") is None


async def test_one_address_cannot_spray_guesses_over_many_logins() -> None:
    throttle = a_throttle(Ticker(), failures_per_address=3)
    for number in range(3):
        assert await throttle.begin(f"guess-{number}", "10.0.0.9") is None

    assert await throttle.begin("guess-new", "10.0.0.9") is not None
    assert await throttle.begin("guess-new", "10.0.0.10") is None


async def test_a_success_forgives_the_pair_and_takes_back_the_address_attempt() -> None:
    throttle = a_throttle(Ticker(), failures_per_login_and_address=2, failures_per_address=2)
    await throttle.begin("anna", "10.0.0.1")
    await throttle.begin("anna", "10.0.0.1")
    await throttle.succeeded("anna", "10.0.0.1")

    assert await throttle.begin("anna", "10.0.0.1") is None


async def test_scopes_are_counted_apart_and_keys_hold_no_login_or_address_in_clear() -> None:
    counter = InMemoryAttemptCounter()
    throttle = LoginThrottle(counter, ThrottlePolicy(failures_per_login_and_address=1), now=Ticker())
    await throttle.begin("anna", "10.0.0.1")

    assert await throttle.begin("anna", "10.0.0.1", scope="password") is None
    assert all("anna" not in key and "10.0.0.1" not in key for key, _ in counter.counts)
