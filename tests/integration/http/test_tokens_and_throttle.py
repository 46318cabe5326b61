"""The pieces of manager auth on their own: the signed token and the login throttle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from entrypoints.http.throttle import LoginThrottle, ThrottlePolicy
from entrypoints.http.tokens import InvalidToken, TokenClaims, TokenSigner
from tests.fakes import FakeClock

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


def test_the_throttle_counts_per_login_in_a_sliding_window() -> None:
    ticker = Ticker()
    throttle = LoginThrottle(ThrottlePolicy(failures_per_login=2, window=timedelta(seconds=60)), now=ticker)

    assert throttle.begin("Anna", "10.0.0.1") is None
    ticker.now += 10
    assert throttle.begin(" anna ", "10.0.0.2") is None

    assert throttle.begin("ANNA", "10.0.0.3") == 50
    ticker.now += 50
    assert throttle.begin("anna", "10.0.0.3") is None


def test_a_success_forgives_the_login_and_takes_back_the_address_attempt() -> None:
    throttle = LoginThrottle(ThrottlePolicy(failures_per_login=2, failures_per_address=2), now=Ticker())
    throttle.begin("anna", "10.0.0.1")
    throttle.begin("anna", "10.0.0.1")
    throttle.succeeded("anna", "10.0.0.1")

    assert throttle.begin("anna", "10.0.0.1") is None


def test_the_throttle_forgets_the_stalest_keys_beyond_its_bound() -> None:
    throttle = LoginThrottle(ThrottlePolicy(failures_per_login=1, max_tracked_keys=4), now=Ticker())
    throttle.begin("first", "a")
    for number in range(4):
        throttle.begin(f"other-{number}", "b")

    assert throttle.begin("first", "c") is None
