from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.channels.local import LocalChannelSettings, LocalFileChannel
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.support import TEXT, outgoing

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


class _FixedClock:
    def now(self) -> datetime:
        return NOW


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_appends_each_message_as_one_json_line_in_a_created_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "outbox.jsonl"
    channel = LocalFileChannel(LocalChannelSettings(path=path, echo=False), clock=_FixedClock())

    first = await channel.send(outgoing(notification_id=1))
    second = await channel.send(outgoing(notification_id=2, channel="vk", account="123456", text="второе"))

    assert _lines(path) == [
        {
            "time": "2025-03-01T12:30:00+00:00",
            "notification_id": 1,
            "message_id": first.provider_message_id,
            "channel": "sms",
            "template_code": "REG_WELCOME",
            "phone": "+79111234567",
            "account": None,
            "text": TEXT,
        },
        {
            "time": "2025-03-01T12:30:00+00:00",
            "notification_id": 2,
            "message_id": second.provider_message_id,
            "channel": "vk",
            "template_code": "REG_WELCOME",
            "phone": "+79111234567",
            "account": "123456",
            "text": "второе",
        },
    ]
    assert first.provider_message_id.startswith("local-")
    assert first.provider_message_id != second.provider_message_id


async def test_the_file_of_messages_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"

    await LocalFileChannel(LocalChannelSettings(path=path, echo=False)).send(outgoing())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_prints_each_message_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outbox.jsonl"

    await LocalFileChannel(LocalChannelSettings(path=path)).send(outgoing())

    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed] == _lines(path)


async def test_a_file_that_cannot_be_written_is_a_retryable_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    channel = LocalFileChannel(LocalChannelSettings(path=blocker / "outbox.jsonl", echo=False))

    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(outgoing())

    assert caught.value.retryable
    assert TEXT not in caught.value.reason
