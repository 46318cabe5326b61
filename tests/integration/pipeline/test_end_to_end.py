"""UC04 steps 7–9 for real: register → Redis → ``barbershop worker`` → SMS.ru adapter →
fake SMS.ru → signed delivery callback → ``delivered``; and where the temporary
password goes (the message) and where it never goes (logs, the queue, the audit).
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from barbershop_core.model import AuditAction
from tests.integration.pipeline.conftest import SMSRU_API_ID, OpenPipeline, Pipeline
from tests.integration.pipeline.support import FakeSmsRu

pytestmark = pytest.mark.redis

PHONE = "+79161234501"


async def stored_secret(pipeline: Pipeline, notification_id: int) -> bytes | None:
    async with pipeline.container.uow_factory() as uow:
        notification = await uow.notifications.get(notification_id)
    assert notification is not None
    return notification.secret


_PASSWORD = re.compile(r"временный пароль: (\S+)\. ")


def test_registration_travels_through_a_worker_process_to_the_provider_and_back_to_delivered(
    open_pipeline: OpenPipeline,
    shared_redis: str,
    sqlite_url: str,
    fake_sms: FakeSmsRu,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        registered = pipeline.register(PHONE, channel="sms")
        notification_id = registered["notification_id"]
        assert registered["notification_status"] == "scheduled"
        sealed = pipeline.run(stored_secret, pipeline, notification_id)
        assert sealed is not None, "the temporary password waits, sealed, for the worker"

        pipeline.worker()  # started after the hand-off: the message waited in Redis for it

        sent = pipeline.wait_for_status(notification_id, "sent", within=20)
        # The SMS.ru adapter's request, as the provider got it: the text carries login and password.
        assert len(fake_sms.accepted) == 1
        form = fake_sms.accepted[0].form()
        assert fake_sms.accepted[0].path == "/sms/send"
        assert form["api_id"] == SMSRU_API_ID
        assert form["to"] == PHONE.removeprefix("+")
        text = form["msg"]
        assert f"Логин: {PHONE}" in text
        found = _PASSWORD.search(text)
        assert found is not None, text
        password = found.group(1)
        assert len(password) >= 10
        assert sent["provider_message_id"] == "202611-000001"
        assert password.encode() not in sealed
        assert pipeline.run(stored_secret, pipeline, notification_id) is None, "wiped once sent"

        # The provider reports delivery, signed; a repeated report changes nothing.
        report = {"status": "delivered", "provider_message_id": sent["provider_message_id"]}
        answer = pipeline.delivery_callback(notification_id, report, channel="sms")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"notification_id": notification_id, "status": "delivered", "changed": True}
        again = pipeline.delivery_callback(notification_id, report, channel="sms")
        assert again.json()["changed"] is False
        forged = pipeline.delivery_callback(notification_id, {"status": "failed"}, channel="telegram")
        assert forged.status_code == 401

        # Every attempt and status in the notification's history ...
        delivered = pipeline.notification(notification_id)
        assert delivered["status"] == "delivered"
        assert [change["status"] for change in delivered["history"]] == ["scheduled", "sent", "delivered"]
        assert [(a["number"], a["outcome"], a["channel"]) for a in delivered["attempts"]] == [(1, "sent", "sms")]
        assert delivered["attempts"][0]["provider_message_id"] == "202611-000001"
        # ... and in the audit log, by the actor that did it.
        events = pipeline.audit(notification_id)
        assert [(event.action, event.actor) for event in events] == [
            (AuditAction.NOTIFICATION_SCHEDULED, "manager:1"),
            (AuditAction.NOTIFICATION_SENT, "system:worker"),
            (AuditAction.NOTIFICATION_DELIVERED, "provider:sms"),
        ]

        # The task message in Redis holds the notification id and nothing personal; it was acknowledged.
        entries = pipeline.stream_entries()
        assert len(entries) == 1
        message = json.loads(entries[0])
        assert message["task_name"] == "notifications.send"
        assert message["args"] == [notification_id]
        assert message["kwargs"] == {}
        assert pipeline.pending() == 0

        worker_output = pipeline.output()
    assert f"notifications.send {notification_id} -> sent" in worker_output

    # Nowhere but in the message: not in a log line of either process, the queue or the audit.
    digits = PHONE.removeprefix("+")
    audit_text = repr(events)
    for where, content in {
        "worker output": worker_output,
        "API log": caplog.text,
        "task message": entries[0].decode(),
        "audit": audit_text,
    }.items():
        assert password not in content, f"the temporary password leaked into the {where}"
        assert digits not in content, f"the raw phone leaked into the {where}"
    assert "***" in audit_text  # the audit keeps the masked phone
