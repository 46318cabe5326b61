"""What the local channel shows on the console of the process that sends: each message once,
the temporary password in clear only there (its file keeps the password masked)."""

from __future__ import annotations

import re

_SHOWN = re.compile(r"^Сообщение (\d+) \(\w+\) для \S+: .*временный пароль: (\w+)\.", re.MULTILINE)


def shown_passwords(console: str) -> dict[int, str]:
    """Notification id → the temporary password its message showed on the console."""
    shown: dict[int, str] = {}
    for match in _SHOWN.finditer(console):
        notification_id = int(match.group(1))
        assert notification_id not in shown, f"message {notification_id} was shown more than once"
        shown[notification_id] = match.group(2)
    return shown
