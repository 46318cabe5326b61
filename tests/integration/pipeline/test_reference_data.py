"""Reference data from a JSON file (``BARBERSHOP_REFERENCE_SOURCE``), synced by the
scheduler and by ``barbershop sync-reference``; a channel switched off there answers A7
to new registrations and holds its waiting messages until a manager picks another channel.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from tests.integration.pipeline.conftest import OpenPipeline
from tests.integration.pipeline.support import FakeSmsRu, eventually

pytestmark = pytest.mark.redis

WAITING_PHONE = "+79161234504"
LATE_PHONE = "+79161234505"


def write_source(path: Path, *, sms_active: bool) -> None:
    channels = [attrs.asdict(channel) for channel in DEFAULT_CHANNELS]
    for channel in channels:
        if channel["code"] == "sms":
            channel["is_active"] = sms_active
    document = {"channels": channels, "templates": [attrs.asdict(template) for template in DEFAULT_TEMPLATES]}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_a_channel_switched_off_in_the_source_refuses_registrations_and_holds_its_messages_until_resent(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str, fake_sms: FakeSmsRu, tmp_path: Path
) -> None:
    source = tmp_path / "reference.json"
    write_source(source, sms_active=True)
    with open_pipeline(sqlite_url, shared_redis, BARBERSHOP_REFERENCE_SOURCE=str(source)) as pipeline:

        def sms_active() -> bool:
            channels = {channel["code"]: channel for channel in pipeline.get("/api/channels").json()}
            return bool(channels["sms"]["is_active"])

        # Registered and queued while SMS is on; no worker has taken it yet.
        waiting = pipeline.register(WAITING_PHONE, channel="sms")["notification_id"]

        # The scheduler syncs at its start: SMS goes off.
        write_source(source, sms_active=False)
        pipeline.scheduler()
        eventually(sms_active, lambda active: not active, within=15, what="the scheduler to switch SMS off")

        refused = pipeline.post("/api/registrations", {"phone": LATE_PHONE, "first_name": "Пётр", "channel": "sms"})
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["code"] == "channel_unavailable"
        assert problem["active_channels"] == ["local", "telegram", "vk", "whatsapp"]

        # The waiting message is held, not sent, and the manager is alerted.
        pipeline.worker()
        held = pipeline.wait_for_status(waiting, "held", within=20)
        assert held["needs_attention"] is True
        assert fake_sms.requests == []
        assert [alert["notification"]["id"] for alert in pipeline.alerts()] == [waiting]

        # The manager picks the local channel: the same notification is released and sent.
        released = pipeline.post(f"/api/notifications/{waiting}/resend", {"channel": "local"})
        assert released.status_code == 200, released.text
        sent = pipeline.wait_for_status(waiting, "sent", within=20)
        assert sent["channel"] == "local"
        assert [change["status"] for change in sent["history"]] == ["scheduled", "held", "scheduled", "sent"]
        assert fake_sms.requests == []
        assert len(pipeline.messages_file.read_text(encoding="utf-8").splitlines()) == 1

        # On demand: `barbershop sync-reference` switches SMS back on.
        write_source(source, sms_active=True)
        sync = pipeline.start("sync-reference", "sync-reference")
        assert sync.run_to_end() == 0, sync.output()
        assert "Справочники синхронизированы." in sync.output()
        assert sms_active()
        assert pipeline.register(LATE_PHONE, channel="sms")["notification_status"] == "scheduled"


def test_sync_reference_without_a_source_says_what_to_set(
    open_pipeline: OpenPipeline, shared_redis: str, sqlite_url: str
) -> None:
    with open_pipeline(sqlite_url, shared_redis) as pipeline:
        sync = pipeline.start("sync-reference", "sync-reference")
        assert sync.run_to_end() == 2
        assert "BARBERSHOP_REFERENCE_SOURCE is not set" in sync.output()
