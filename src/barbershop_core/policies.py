"""Tunable rules of the domain, with the defaults UC04 names."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from barbershop_core.values import DEFAULT_REGION


@attrs.frozen
class RegistrationPolicy:
    default_region: str = DEFAULT_REGION
    default_channel: str = "sms"
    welcome_template: str = "REG_WELCOME"
    idempotency_window: timedelta = timedelta(minutes=5)
    """A6: the same phone again within this window answers idempotent OK."""
    temporary_password_ttl: timedelta = timedelta(hours=72)
    create_missing_templates: bool = False
    """Variant 3: create a built-in default template when a known one is missing."""
    phone_check_audit_window: timedelta = timedelta(minutes=10)
    """Step 3 as the manager types: one audit event per manager and phone in this window."""
    fallback_channels: tuple[str, ...] = ()
    """The installation's fallback chain, in order: a notification that fails for good on
    one channel goes out on the next one the client can be reached on (empty: none)."""
    temporary_password_max_failures: int = 5
    """Wrong passwords for one client login that void its temporary password (an 8-digit
    code then leaves a guesser 5 tries in 10^8)."""


@attrs.frozen
class RetryPolicy:
    """A4: exponential backoff with jitter; ``max_retries`` retries after the first attempt."""

    max_retries: int = 3
    base_delay: timedelta = timedelta(seconds=30)
    multiplier: float = 4.0
    jitter: float = 0.1
    """Each delay is stretched or shrunk by up to this fraction, so retries do not stampede."""
    lease: timedelta = timedelta(minutes=2)
    """How long one worker owns an attempt before another may take it over."""
    random_source: Callable[[], float] = attrs.field(default=random.random, eq=False)

    def retry_at(self, attempts_made: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts_made`` failed attempts; None once retries run out."""
        retries_done = attempts_made - 1
        if retries_done >= self.max_retries:
            return None
        spread = 1 + self.jitter * (2 * self.random_source() - 1)
        delay = self.base_delay.total_seconds() * self.multiplier**retries_done * spread
        return now + timedelta(seconds=delay)


@attrs.frozen
class PromoPolicy:
    """Seed 002: partner registrations."""

    replay_window: timedelta = timedelta(minutes=5)
    """The same body from the same partner within this window adds nothing twice."""
    idempotency_key_ttl: timedelta = timedelta(hours=24)
    in_flight_timeout: timedelta = timedelta(minutes=1)
    """A key still "in flight" after this was left by a request that died: it may be claimed again."""
    max_purchases: int = 10
