"""A4 with real processes: the retry schedule lives in the database (exponential backoff
with jitter), the scheduler queues each retry when it is due, and the worker makes it.
Taskiq's retry middleware plays no part.

The settings shrink the backoff: first retry after 0.25 s, then ×4 (1 s, 4 s), ±10 %.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime

import pytest

from barbershop_core.model import AuditAction
from barbershop_core.values import PhoneNumber
from tests.integration.pipeline.conftest import FAST, OpenPipeline
from tests.integration.pipeline.support import FakeSmsRu

pytestmark = pytest.mark.redis

PHONE = "+79161234503"
BACKOFF = [0.25, 1.0, 4.0]
JITTER = 0.1
SWEEP = float(FAST["BARBERSHOP_SWEEP_INTERVAL_SECONDS"])
SLACK = 1.0
"""Time for a sweep to be picked up and the attempt made, on a busy two-core machine."""


def gaps(attempts: list[dict[str, object]]) -> list[float]:
    times = [datetime.fromisoformat(str(attempt["at"])) for attempt in attempts]
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]


def assert_at_backoff_times(attempts: list[dict[str, object]]) -> None:
    for number, (gap, delay) in enumerate(zip(gaps(attempts), BACKOFF, strict=True), start=2):
        assert delay * (1 - JITTER) <= gap <= delay * (1 + JITTER) + SWEEP + SLACK, (
            f"attempt {number} came {gap:.2f}s after the one before; its backoff is {delay}s"
        )


def test_a_provider_failing_with_5xx_three_times_gets_the_message_on_the_fourth_attempt_at_the_backoff_times(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    fake_sms.script = [FakeSmsRu.server_error()] * 3
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        pipeline.worker()
        pipeline.scheduler()
        notification_id = pipeline.register(PHONE)["notification_id"]

        sent = pipeline.wait_for_status(notification_id, "sent", within=30)
        events = pipeline.audit(notification_id)

    attempts = sent["attempts"]
    assert [attempt["outcome"] for attempt in attempts] == ["retryable_failure"] * 3 + ["sent"]
    assert all("HTTP 502" in attempt["error"] for attempt in attempts[:3])
    assert_at_backoff_times(attempts)
    assert len(fake_sms.requests) == 4
    assert len(fake_sms.accepted) == 1
    assert sent["last_error"] is None
    assert [change["status"] for change in sent["history"]] == ["scheduled", "sent"]
    assert [event.action for event in events] == [
        AuditAction.NOTIFICATION_SCHEDULED,
        *[AuditAction.NOTIFICATION_ATTEMPT_FAILED] * 3,
        AuditAction.NOTIFICATION_SENT,
    ]
    assert [event.details.get("attempt") for event in events[1:4]] == ["1", "2", "3"]


def test_a_provider_failing_four_times_ends_failed_and_alerts_a_manager_who_resends_by_another_channel(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    fake_sms.script = [FakeSmsRu.server_error()] * 4
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        pipeline.worker()
        pipeline.scheduler()
        notification_id = pipeline.register(PHONE)["notification_id"]

        failed = pipeline.wait_for_status(notification_id, "failed", within=30)
        time.sleep(0.5)
        assert len(fake_sms.requests) == 4, "no fifth attempt after the third retry"
        assert [attempt["outcome"] for attempt in failed["attempts"]] == ["retryable_failure"] * 4
        assert_at_backoff_times(failed["attempts"])
        assert failed["needs_attention"] is True
        assert "HTTP 502" in failed["last_error"]
        assert [change["status"] for change in failed["history"]] == ["scheduled", "failed"]

        # A4: the alert, listed by the API, offers the active channels but the failed one.
        alerts = pipeline.alerts()
        assert [alert["notification"]["id"] for alert in alerts] == [notification_id]
        assert alerts[0]["active_channels"] == ["local", "telegram", "vk", "whatsapp"]
        assert alerts[0]["resend"] == {"href": f"/api/notifications/{notification_id}/resend", "method": "POST"}
        events = pipeline.audit(notification_id)
        assert [event.action for event in events][-2:] == [AuditAction.NOTIFICATION_FAILED, AuditAction.MANAGER_ALERTED]
        assert events[-1].details["active_channels"] == "local,sms,telegram,vk,whatsapp"

        # The manager picks another channel: a new message, with a new password, goes out.
        answer = pipeline.post(f"/api/notifications/{notification_id}/resend", {"channel": "local"})
        assert answer.status_code == 201, answer.text
        replacement = answer.json()["id"]
        pipeline.wait_for_status(replacement, "sent", within=20)
        assert pipeline.alerts() == []
    lines = pipeline.messages_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    kept = json.dumps(json.loads(lines[0]), ensure_ascii=False)
    assert PhoneNumber(PHONE).masked in kept
    assert PHONE not in kept


def test_a_permanent_provider_error_fails_at_once_without_retries(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    fake_sms.script = [FakeSmsRu.error_code(207)]  # SMS.ru: "no SMS may be sent to this number"
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        pipeline.worker()
        pipeline.scheduler()
        notification_id = pipeline.register(PHONE)["notification_id"]

        failed = pipeline.wait_for_status(notification_id, "failed", within=20)
        time.sleep(0.5)
    assert len(fake_sms.requests) == 1
    assert [attempt["outcome"] for attempt in failed["attempts"]] == ["permanent_failure"]
    assert "207" in failed["last_error"]
