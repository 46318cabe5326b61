"""Faults: Redis down at registration, a worker SIGKILLed in the middle of a send.

Each test runs a ``redis-server`` of its own, so that stopping it touches nothing else.
"""

from __future__ import annotations

import time

import pytest

from barbershop_adapters.channels.vk import random_id
from tests.integration.pipeline.conftest import OpenPipeline
from tests.integration.pipeline.support import (
    FakeSmsRu,
    FakeVk,
    RedisServer,
    accept_and_hang,
    eventually,
    hang,
    wait_for,
)

pytestmark = pytest.mark.redis

PHONE = "+79161234502"


def test_registration_succeeds_while_redis_is_down_and_is_delivered_once_redis_is_back(
    open_pipeline: OpenPipeline, own_redis: RedisServer, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    own_redis.stop()
    # The API, a worker and the scheduler all start while Redis is down.
    with open_pipeline(sqlite_url, own_redis.url) as pipeline:
        worker = pipeline.worker()
        scheduler = pipeline.scheduler()

        started = time.monotonic()
        registered = pipeline.register(PHONE)
        assert time.monotonic() - started < 3, "the failed hand-off must not hold the registration up"
        notification_id = registered["notification_id"]
        assert registered["notification_status"] == "scheduled"

        scheduler.wait_for_output("queue unavailable")
        assert fake_sms.requests == []
        assert pipeline.notification(notification_id)["status"] == "scheduled"

        own_redis.start()  # back, and empty: no stream, no consumer group
        sent = pipeline.wait_for_status(notification_id, "sent", within=30)
        time.sleep(0.5)  # sweeps go on: nothing is sent twice

        assert len(fake_sms.accepted) == len(fake_sms.requests) == 1
        assert [attempt["outcome"] for attempt in sent["attempts"]] == ["sent"]
        assert pipeline.pending() == 0
    assert "Redis unavailable" in worker.output(), "the worker should have ridden out the outage"


@pytest.mark.postgres
def test_a_worker_killed_mid_send_on_sms_ru_is_never_sent_twice_and_alerts_a_manager(
    open_pipeline: OpenPipeline, own_redis: RedisServer, postgres_url: str, fake_sms: FakeSmsRu
) -> None:
    """The provider hangs on the first request and the worker is SIGKILLed: no outcome
    recorded, no acknowledgement. SMS.ru takes no idempotency key, so nobody can know
    whether the client got the message: once the lease runs out, the worker that takes the
    notification over (two race for it) fails it for a manager instead of sending again,
    and the dead worker's message is reclaimed from Redis and skipped."""
    fake_sms.script = [hang()]
    with open_pipeline(
        postgres_url, own_redis.url, BARBERSHOP_SEND_LEASE_SECONDS="1.5", BARBERSHOP_BROKER_REDELIVERY_SECONDS="1"
    ) as pipeline:
        doomed = pipeline.worker("worker-doomed")
        notification_id = pipeline.register(PHONE)["notification_id"]
        wait_for(lambda: len(fake_sms.requests) == 1, timeout=15, what="the first send to reach the provider")
        doomed.kill()

        assert pipeline.pending() == 1, "the killed worker's message must stay unacknowledged"
        leased = pipeline.notification(notification_id)
        assert (leased["status"], leased["attempt_count"]) == ("scheduled", 0)

        pipeline.worker("worker-b")
        pipeline.worker("worker-c")
        pipeline.scheduler()
        failed = pipeline.wait_for_status(notification_id, "failed", within=30)
        eventually(pipeline.pending, lambda count: count == 0, within=20, what="the dead worker's message to be acked")
        time.sleep(0.5)

        assert len(fake_sms.requests) == 1, "a send whose outcome is unknown must not be repeated"
        assert [attempt["outcome"] for attempt in failed["attempts"]] == ["permanent_failure"]
        assert failed["needs_attention"] is True
        output = pipeline.output()
    assert "-> skipped" in output, "a duplicate delivery of the message should have been skipped by the claim"


def test_a_worker_killed_after_vk_took_the_message_does_not_make_vk_send_it_again(
    open_pipeline: OpenPipeline, own_redis: RedisServer, sqlite_url: str
) -> None:
    """VK takes the message and the worker dies before it hears so. The retry carries the
    same ``random_id`` (derived from the notification id), so VK does not send again."""
    vk = FakeVk([accept_and_hang()]).start()
    try:
        with open_pipeline(
            sqlite_url,
            own_redis.url,
            BARBERSHOP_VK_ACCESS_TOKEN="vk1.a.community-token",
            BARBERSHOP_VK_BASE_URL=vk.url,
            BARBERSHOP_SEND_LEASE_SECONDS="1",
        ) as pipeline:
            doomed = pipeline.worker("worker-doomed")
            notification_id = pipeline.register(PHONE, channel="vk", channel_accounts={"vk": "id123456"})[
                "notification_id"
            ]
            wait_for(lambda: len(vk.requests) == 1, timeout=15, what="the first send to reach VK")
            doomed.kill()

            pipeline.worker("worker-b")
            pipeline.scheduler()
            sent = pipeline.wait_for_status(notification_id, "sent", within=30)
    finally:
        vk.stop()

    assert len(vk.accepted) == 1, "VK sent the message twice"
    assert len(vk.requests) == 2
    keys = {request.form()["random_id"] for request in vk.requests}
    assert keys == {str(random_id(notification_id))}
    assert sent["provider_message_id"] == "1001"


def test_a_worker_killed_after_sms_ru_took_the_message_does_not_make_the_client_get_it_twice(
    open_pipeline: OpenPipeline, own_redis: RedisServer, sqlite_url: str, fake_sms: FakeSmsRu
) -> None:
    fake_sms.script = [accept_and_hang()]
    with open_pipeline(sqlite_url, own_redis.url, BARBERSHOP_SEND_LEASE_SECONDS="1") as pipeline:
        doomed = pipeline.worker("worker-doomed")
        notification_id = pipeline.register(PHONE)["notification_id"]
        wait_for(lambda: len(fake_sms.requests) == 1, timeout=15, what="the first send to reach SMS.ru")
        doomed.kill()

        pipeline.worker("worker-b")
        pipeline.scheduler()
        eventually(
            lambda: pipeline.notification(notification_id)["status"],
            lambda status: status != "scheduled",
            within=30,
            what="the notification to leave 'scheduled'",
        )
        final = pipeline.notification(notification_id)
    accepted = len(fake_sms.accepted)
    assert accepted == 1, "the client got the welcome message twice"
    assert final["status"] == "failed"
    assert "могло уйти" in final["last_error"]
