"""The pipeline's timing settings: read from the environment, fractions allowed, nonsense refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from barbershop_entrypoints.settings import Settings, SettingsError


def test_pipeline_timings_come_from_the_environment_and_reach_the_retry_policy() -> None:
    settings = Settings.from_env(
        {
            "BARBERSHOP_SWEEP_INTERVAL_SECONDS": "0.1",
            "BARBERSHOP_RETRY_BASE_SECONDS": "0.25",
            "BARBERSHOP_SEND_LEASE_SECONDS": "45",
            "BARBERSHOP_BROKER_REDELIVERY_SECONDS": "90",
        }
    )
    assert settings.queue.sweep_interval == timedelta(seconds=0.1)
    assert settings.queue.broker_redelivery == timedelta(seconds=90)
    policy = settings.retry_policy()
    assert policy.base_delay == timedelta(seconds=0.25)
    assert policy.lease == timedelta(seconds=45)


def test_pipeline_timings_default_to_the_production_values() -> None:
    settings = Settings.from_env({})
    assert settings.queue.sweep_interval == timedelta(seconds=15)
    assert settings.queue.broker_redelivery == timedelta(minutes=2)
    assert settings.retry_policy().base_delay == timedelta(seconds=30)
    assert settings.retry_policy().lease == timedelta(minutes=2)


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "nan", "inf"])
def test_a_timing_that_is_not_a_positive_number_of_seconds_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match="BARBERSHOP_SEND_LEASE_SECONDS"):
        Settings.from_env({"BARBERSHOP_SEND_LEASE_SECONDS": raw})
