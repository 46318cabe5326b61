"""The real clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from barbershop_adapters.system_clock import SystemClock


def test_the_system_clock_answers_the_current_time_aware_in_utc() -> None:
    before = datetime.now(UTC)

    now = SystemClock().now()

    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_the_system_clock_moves_forward() -> None:
    clock = SystemClock()

    assert clock.now() <= clock.now()
