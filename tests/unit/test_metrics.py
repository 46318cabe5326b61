"""The metrics' own pieces: the metered channel, the worker's endpoint, the sum over processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import REGISTRY

from barbershop_core.ports import DeliveryFailed, OutgoingMessage, SendReceipt
from barbershop_core.values import PhoneNumber
from barbershop_entrypoints.metrics import MeteredChannel, count_attempt, metrics_wsgi_app

MESSAGE = OutgoingMessage(1, "sms", "REG_WELCOME", PhoneNumber.parse("+79111234567"), None, "Привет")


class _Failing:
    deduplicates = False
    carries_only_code = False

    def __init__(self, failure: DeliveryFailed) -> None:
        self.failure = failure

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        raise self.failure


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (DeliveryFailed("SMS.ru: номер заблокирован (код 207)", retryable=False), "failed", "207"),
        (DeliveryFailed("SMS.ru: таймаут", retryable=True), "retryable_error", "retryable"),
    ],
)
def test_a_failed_hand_over_counts_its_status_and_the_providers_code(
    failure: DeliveryFailed, status: str, code: str
) -> None:
    channel = MeteredChannel("sms", _Failing(failure))
    sends = _sample("barbershop_notification_sends_total", channel="sms", status=status)
    errors = _sample("barbershop_provider_errors_total", channel="sms", code=code)
    timed = _sample("barbershop_notification_send_duration_seconds_count", channel="sms")

    with pytest.raises(DeliveryFailed):
        asyncio.run(channel.send(MESSAGE))

    assert _sample("barbershop_notification_sends_total", channel="sms", status=status) == sends + 1
    assert _sample("barbershop_provider_errors_total", channel="sms", code=code) == errors + 1
    assert _sample("barbershop_notification_send_duration_seconds_count", channel="sms") == timed + 1


def test_a_retry_counts_as_an_attempt_and_a_retry() -> None:
    attempts = _sample("barbershop_notification_attempts_total", result="retry_scheduled")
    retries = _sample("barbershop_notification_retries_total")

    count_attempt("retry_scheduled")

    assert _sample("barbershop_notification_attempts_total", result="retry_scheduled") == attempts + 1
    assert _sample("barbershop_notification_retries_total") == retries + 1


def _call(app: Any, path: str, authorization: str | None = None) -> tuple[str, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    answer: list[str] = []
    body = b"".join(app(environ, lambda status, _headers: answer.append(status)))
    return answer[0], body


def test_the_workers_metrics_need_the_token_and_are_not_found_without_one() -> None:
    assert _call(metrics_wsgi_app(None), "/metrics", "Bearer x")[0].startswith("404")
    assert _call(metrics_wsgi_app("tok"), "/metrics")[0].startswith("401")
    assert _call(metrics_wsgi_app("tok"), "/metrics", "Bearer nope")[0].startswith("401")
    status, body = _call(metrics_wsgi_app("tok"), "/metrics", "Bearer tok")
    assert status.startswith("200")
    assert b"barbershop_notification_attempts_total" in body


_COUNT_ONE = "from barbershop_entrypoints.metrics import REGISTRATIONS; REGISTRATIONS.labels('created').inc()"
_SHOW = "import sys; from barbershop_entrypoints.metrics import exposition; sys.stdout.buffer.write(exposition())"


def test_with_a_multiprocess_directory_the_metrics_sum_every_process(tmp_path: Path) -> None:
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", _COUNT_ONE], env=env, check=True)  # noqa: S603 -- this interpreter, fixed code

    shown = subprocess.run(  # noqa: S603 -- this interpreter, fixed code
        [sys.executable, "-c", _SHOW], env=env, check=True, capture_output=True, text=True
    )

    assert 'barbershop_registrations_total{outcome="created"} 3.0' in shown.stdout


def test_a_metered_channel_declares_what_its_adapter_declares() -> None:
    failing = _Failing(DeliveryFailed("x", retryable=False))
    failing.carries_only_code = True

    channel = MeteredChannel("telegram", failing)

    assert channel.carries_only_code is True
    assert channel.deduplicates is False
