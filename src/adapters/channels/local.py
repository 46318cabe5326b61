"""The message channel of the embedded install: a file of JSON lines, echoed to stdout.

``barbershop serve`` with nothing configured still "sends" every notification: each one
becomes a line ``{"time", "notification_id", "message_id", "channel", "template_code",
"phone", "account", "text"}`` appended to the file (and printed), where whoever runs the
install reads the login and temporary password the client would have received. The file
therefore holds secrets: it is created readable by its owner only.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
import uuid
from pathlib import Path
from typing import TextIO

import attrs

from adapters.system_clock import SystemClock
from barbershop_core.ports import Clock, DeliveryFailed, OutgoingMessage, SendReceipt


@attrs.frozen
class LocalChannelSettings:
    path: Path = Path("data/outbox.jsonl")
    echo: bool = True
    """Print each message to stdout as well."""


class LocalFileChannel:
    """Implements ``NotificationChannel``; the receipt is a fresh ``local-…`` id."""

    deduplicates = True
    """A repeated line in a local file reaches no client twice: safe to send again."""

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
        record = {
            "time": self._clock.now().isoformat(),
            "notification_id": message.notification_id,
            "message_id": message_id,
            "channel": message.channel,
            "template_code": message.template_code,
            "phone": message.phone.e164,
            "account": message.account,
            "text": message.text,
        }
        line = json.dumps(record, ensure_ascii=False)
        try:
            await asyncio.to_thread(_append_line, self._settings.path, line)
        except OSError as exc:
            code = errno.errorcode.get(exc.errno or 0, "OSError")
            raise DeliveryFailed(f"Локальный журнал: не удалось записать сообщение ({code})", retryable=True) from None
        if self._settings.echo:
            print(line, file=self._stdout if self._stdout is not None else sys.stdout, flush=True)
        return SendReceipt(message_id)


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write on an O_APPEND descriptor: lines from concurrent senders never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
