"""A command whose database cannot be reached says so in one line, with what the driver
said about the connection, and exits 1: no traceback, no password."""

from __future__ import annotations

import io
import os

import pytest

from barbershop_entrypoints.cli import main

# Nothing listens on port 1: the connection is refused at once, no server needed.
UNREACHABLE = "postgresql://barber:pw-never-printed@127.0.0.1:1/barbershop"


@pytest.fixture(autouse=True)
def unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("BARBERSHOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BARBERSHOP_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("BARBERSHOP_SECRET_KEY", "k" * 43)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["manager", "create", "--login", "front-desk", "--name", "Анна"],
        ["partner", "create", "--name", "retail-1"],
        ["audit", "purge"],
    ],
)
def test_a_command_whose_database_is_unreachable_names_the_cause_without_a_traceback(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 1

    said = capsys.readouterr()
    first, second = said.err.splitlines()
    assert first.startswith("barbershop: база данных недоступна — ")
    assert 'connection to server at "127.0.0.1", port 1 failed: Connection refused' in first
    assert second == "Проверьте BARBERSHOP_DATABASE_URL и что сервер базы данных запущен."
    assert "Traceback" not in said.err + said.out
    assert "pw-never-printed" not in said.err + said.out
