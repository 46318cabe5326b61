from __future__ import annotations

import io
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from barbershop_adapters.channels.local import MASK, LocalChannelSettings, LocalFileChannel
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.support import PASSWORD, PHONE, TEXT, outgoing

NOW = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
MASKED_TEXT = f"Иван, добро пожаловать в барбершоп! Логин: {PHONE.masked}, временный пароль: {MASK}."


class _FixedClock:
    def now(self) -> datetime:
        return NOW


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_appends_each_message_as_one_json_line_with_phone_and_password_masked(tmp_path: Path) -> None:
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
            "phone": "+7911*****67",
            "account": None,
            "text": MASKED_TEXT,
        },
        {
            "time": "2025-03-01T12:30:00+00:00",
            "notification_id": 2,
            "message_id": second.provider_message_id,
            "channel": "vk",
            "template_code": "REG_WELCOME",
            "phone": "+7911*****67",
            "account": "123456",
            "text": "второе",
        },
    ]
    assert first.provider_message_id.startswith("local-")
    assert first.provider_message_id != second.provider_message_id
    assert PASSWORD not in path.read_text(encoding="utf-8")
    assert PHONE.e164 not in path.read_text(encoding="utf-8")


async def test_the_file_of_messages_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "outbox.jsonl"

    await LocalFileChannel(LocalChannelSettings(path=path, echo=False)).send(outgoing())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_on_a_terminal_the_message_is_shown_once_with_the_password(tmp_path: Path) -> None:
    terminal = _Terminal()
    channel = LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl"), stdout=terminal)

    await channel.send(outgoing(notification_id=7))

    shown = terminal.getvalue().splitlines()
    assert shown == [f"Сообщение 7 (sms) для {PHONE.masked}: {TEXT.replace(PHONE.e164, PHONE.masked)}"]
    assert shown[0].count(PASSWORD) == 1
    assert PASSWORD not in (tmp_path / "outbox.jsonl").read_text(encoding="utf-8")


async def test_printed_into_a_file_or_a_pipe_the_password_stays_masked(tmp_path: Path) -> None:
    redirected = io.StringIO()  # what `serve > serve.log` or a service manager's journal gets
    channel = LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl"), stdout=redirected)

    await channel.send(outgoing(notification_id=7))

    shown = redirected.getvalue()
    assert PASSWORD not in shown
    assert PHONE.e164 not in shown
    assert shown == f"Сообщение 7 (sms) для {PHONE.masked}: {MASKED_TEXT} [пароль скрыт: вывод идёт не в терминал]\n"


async def test_a_message_without_a_password_is_printed_without_a_note(tmp_path: Path) -> None:
    redirected = io.StringIO()
    channel = LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl"), stdout=redirected)

    await channel.send(outgoing(notification_id=7, text="Иван, ждём вас снова!", password=None))

    assert redirected.getvalue() == f"Сообщение 7 (sms) для {PHONE.masked}: Иван, ждём вас снова!\n"


async def test_echo_true_shows_the_password_wherever_stdout_goes(tmp_path: Path) -> None:
    redirected = io.StringIO()
    channel = LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl", echo=True), stdout=redirected)

    await channel.send(outgoing())

    assert f"временный пароль: {PASSWORD}." in redirected.getvalue()


async def test_echo_false_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl", echo=False)).send(outgoing())

    assert capsys.readouterr().out == ""


async def test_prints_to_the_process_stdout_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl")).send(outgoing(notification_id=3))

    assert capsys.readouterr().out.startswith("Сообщение 3 (sms)")


async def test_a_file_that_cannot_be_written_is_a_retryable_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    terminal = _Terminal()
    channel = LocalFileChannel(LocalChannelSettings(path=blocker / "outbox.jsonl"), stdout=terminal)

    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(outgoing())

    assert caught.value.retryable
    assert TEXT not in caught.value.reason
    assert terminal.getvalue() == "", "a message not recorded is not shown: its retry shows it once"


def test_the_local_channel_carries_any_text(tmp_path: Path) -> None:
    assert LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl")).carries_only_code is False


async def test_a_file_moved_away_between_messages_is_started_again(tmp_path: Path) -> None:
    path = tmp_path / "data" / "outbox.jsonl"
    channel = LocalFileChannel(LocalChannelSettings(path=path, echo=False))
    await channel.send(outgoing(notification_id=1))
    path.rename(tmp_path / "data" / "outbox.1.jsonl")  # an operator rotating the file

    await channel.send(outgoing(notification_id=2))

    assert [line["notification_id"] for line in _lines(path)] == [2]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
