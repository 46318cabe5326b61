"""No log line ever holds a raw phone or a temporary password, through every flow of the API.

The log is captured through the production handler and logger levels of
:mod:`barbershop_entrypoints.logging_setup`, at DEBUG (stricter than production's INFO), while
registrations run every way they can:
created, replayed (A6), refused (A1, A2, A5, A7), failed (A3), retried and resent (A4).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import attrs
import pytest

from barbershop_core.ports import PasswordGenerator
from barbershop_entrypoints.logging_setup import QUIET_LOGGERS, log_handler
from barbershop_entrypoints.sweeper import sweep_once
from tests.integration.http.conftest import MANAGER_PASSWORD, Api, clients_table_refusing_rows, new_phone


@attrs.define
class RecordingPasswords:
    """The real generator, noting every temporary password it hands out."""

    inner: PasswordGenerator
    issued: list[str] = attrs.field(factory=list)

    def generate(self) -> str:
        password = self.inner.generate()
        self.issued.append(password)
        return password


@pytest.fixture(params=["text", "json"])
def log_format(request: pytest.FixtureRequest) -> str:
    """``BARBERSHOP_LOG_FORMAT``: plain text (the default) and one JSON object per line."""
    return str(request.param)


@pytest.fixture
def captured_log(log_format: str) -> Iterator[io.StringIO]:
    """Logging as ``configure_logging`` sets it up, at DEBUG, into a buffer."""
    buffer = io.StringIO()
    handler = log_handler(buffer, log_format)
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in QUIET_LOGGERS)]
    levels = [logger.level for logger in loggers]
    root = loggers[0]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _spellings(phone: str) -> list[str]:
    """How a phone may show up in text: E.164, bare digits, national, URL-encoded."""
    digits = phone[1:]
    return [phone, digits, "8" + digits[1:], digits[1:], quote(phone), quote(phone, safe="")]


def _national(phone: str) -> str:
    digits = phone[2:]
    return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def test_no_log_line_holds_a_raw_phone_or_a_temporary_password(
    sqlite_api: Api, captured_log: io.StringIO, log_format: str
) -> None:
    api = sqlite_api
    passwords = RecordingPasswords(api.container.passwords)
    api.container.passwords = passwords
    phones = [new_phone() for _ in range(8)]
    created, replayed, refused, updated, held, retried, failing, checked = phones

    # Created, replayed within the window (A6), refused after it (A1), typed nationally.
    assert api.register(_national(created), consents={"personal_data": True}).status_code == 201
    assert api.register(created).status_code == 200
    assert api.register(replayed).status_code == 201
    api.clock.advance(timedelta(minutes=6))
    assert api.register(replayed).status_code == 409
    # Invalid phone (A2), unknown channel (A7), a postponed then released notification (A7).
    assert api.register("+7 911 12").status_code == 422
    assert api.register(refused, channel="pigeon").status_code == 422
    held_id = api.register(held, postpone_notification=True).json()["notification_id"]
    assert api.post(f"/api/notifications/{held_id}/resend", {"channel": "local"}).status_code == 200
    # Lookups by phone in the body and in the query string; an update to a new phone.
    assert api.post("/api/persons/check", {"phone": _national(checked)}).status_code == 200
    assert api.get(f"/api/persons?phone={quote(created)}").status_code == 200
    client_id = api.get("/api/clients", params={"phone": created}).json()[0]["id"]
    assert api.patch(f"/api/clients/{client_id}", {"phone": updated}).status_code == 200
    # A database failure mid-transaction (A3).
    with clients_table_refusing_rows(api):
        assert api.register(failing).status_code == 503
    # A channel that keeps failing (A4), then a resend through it once it works.
    outbox = api.container.settings.local_messages_file
    api.drain()
    outbox.rename(outbox.with_suffix(".kept"))
    outbox.mkdir()
    retry_id = api.register(retried).json()["notification_id"]
    api.drain()
    for _ in range(3):
        api.clock.advance(timedelta(hours=1))
        api.run(sweep_once, api.container)
        api.drain()
    outbox.rmdir()
    assert api.post(f"/api/notifications/{retry_id}/resend", {"channel": "local"}).status_code == 201
    # A failed login with the manager's password typed as the login (a classic slip).
    assert api.login(login=MANAGER_PASSWORD, password="not the password").status_code == 401
    api.drain()

    log = captured_log.getvalue()
    assert "ERROR_REGISTER_CLIENT" in log
    assert "registered, phone=+7911*****" in log
    assert len(passwords.issued) >= 6
    leaks = [spelling for phone in phones for spelling in _spellings(phone) if spelling in log]
    leaks += [password for password in passwords.issued if password in log]
    leaks += [MANAGER_PASSWORD] if MANAGER_PASSWORD in log else []
    assert not leaks, f"found in the log: {leaks}"
    if log_format == "json":
        lines = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(lines[0])
        served = [line for line in lines if "registered, phone=+7911*****" in line["message"]]
        assert served, "the registrations were logged"
        assert all(len(line.get("request_id", "")) == 32 for line in served), "each carries its request's id"
