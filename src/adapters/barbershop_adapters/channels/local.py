"""The message channel of the embedded install: the console, and a file of JSON lines.

``barbershop serve`` with nothing configured still "sends" every notification, and whoever
runs the install hands the client the login and temporary password the message carries:

- the message, password included, is printed **once** on the console: the standard output
  of the process that sends it (``barbershop serve`` on the embedded default), never
  through logging. By default (``echo=None``) only when that output is a terminal, where a
  person reads it and it is kept nowhere; printed into a file or a journal it would be a
  password at rest, so there the password is masked like in the file (``echo=True`` prints
  it anyway, ``echo=False`` prints nothing);
- each message is appended to the file as a line ``{"time", "notification_id",
  "message_id", "channel", "template_code", "phone", "account", "text"}`` with the phone
  and the password masked: a record of what was sent, never a usable password. The file is
  created readable by its owner only all the same (the text holds the client's name).
"""

from __future__ import annotations

import errno
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Final, TextIO

import attrs

from barbershop_adapters.system_clock import SystemClock
from barbershop_core.ports import Clock, DeliveryFailed, OutgoingMessage, SendReceipt

MASK: Final = "********"
"""What stands in for the password (the same length whatever the password's)."""


@attrs.frozen
class LocalChannelSettings:
    path: Path = Path("data/outbox.jsonl")
    echo: bool | None = None
    """Print each message: None when stdout is a terminal (the password shown), else masked;
    True with the password wherever stdout goes; False not at all."""


class LocalFileChannel:
    """Implements ``NotificationChannel``; the receipt is a fresh ``local-…`` id."""

    deduplicates = True
    """A repeated line in a local file reaches no client twice: safe to send again."""
    carries_only_code = False
    """The file takes any text."""

    def __init__(
        self,
        settings: LocalChannelSettings = LocalChannelSettings(),
        *,
        clock: Clock | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock if clock is not None else SystemClock()
        self._stdout = stdout

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        message_id = f"local-{uuid.uuid4().hex}"
        masked_text = _masked(message.text, message)
        record = {
            "time": self._clock.now().isoformat(),
            "notification_id": message.notification_id,
            "message_id": message_id,
            "channel": message.channel,
            "template_code": message.template_code,
            "phone": message.phone.masked,
            "account": message.account,
            "text": masked_text,
        }
        line = json.dumps(record, ensure_ascii=False)
        try:
            # On the loop's thread: appending a line to a local file takes microseconds, and a
            # hop to a thread cost the embedded server's loop more than the write itself
            # (~9 % of its samples under load, waking the thread; docs/performance.md).
            _append_line(self._settings.path, line)
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "OSError")
            raise DeliveryFailed(f"Локальный журнал: не удалось записать сообщение ({code})", retryable=True) from None
        self._show(message, masked_text)
        return SendReceipt(message_id)

    def _show(self, message: OutgoingMessage, masked_text: str) -> None:
        if self._settings.echo is False:
            return
        stdout = self._stdout if self._stdout is not None else sys.stdout
        with_password = self._settings.echo is True or stdout.isatty()
        if with_password:
            text = message.text.replace(message.phone.e164, message.phone.masked)
        else:
            text = f"{masked_text} [пароль скрыт: вывод идёт не в терминал]" if message.password else masked_text
        header = f"Сообщение {message.notification_id} ({message.channel}) для {message.phone.masked}"
        print(f"{header}: {text}", file=stdout, flush=True)


def _masked(text: str, message: OutgoingMessage) -> str:
    if message.password:
        text = text.replace(message.password, MASK)
    return text.replace(message.phone.e164, message.phone.masked)


_APPEND: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT


def _append_line(path: Path, line: str) -> None:
    data = (line + "\n").encode()
    try:
        fd = os.open(path, _APPEND, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, _APPEND, 0o600)
    # One write on an O_APPEND descriptor: lines from concurrent senders never interleave.
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
