"""`barbershop manager deactivate` and `barbershop audit purge` on the embedded default."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from barbershop_core.model import Manager
from barbershop_entrypoints.bootstrap import build_container
from barbershop_entrypoints.cli import main
from barbershop_entrypoints.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["db", "upgrade"]) == 0
    return tmp_path


def test_deactivating_a_manager_ends_their_sessions_and_says_so(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manager", "create", "--login", "anna"]) == 0

    assert main(["manager", "deactivate", "--login", "anna"]) == 0

    assert "Менеджер «anna» отключён; все его сеансы завершены." in capsys.readouterr().out
    stored = asyncio.run(_stored_manager(data_dir, "anna"))
    assert stored is not None
    assert (stored.is_active, stored.session_version) == (False, 1)


async def _stored_manager(data_dir: Path, login: str) -> Manager | None:
    container = build_container(Settings(data_dir=data_dir))
    try:
        async with container.uow_factory() as uow:
            return await uow.managers.get_by_login(login)
    finally:
        await container.aclose()


def test_deactivating_an_unknown_manager_fails_with_its_name(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manager", "deactivate", "--login", "nobody"]) != 0

    assert "Менеджер «nobody» не найден" in capsys.readouterr().err


def test_audit_purge_reports_how_many_events_it_deleted(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "purge"]) == 0

    assert "Удалено записей журнала старше 1095 дней: 0." in capsys.readouterr().out


def test_a_retention_below_thirty_days_stops_the_command_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARBERSHOP_AUDIT_RETENTION_DAYS", "7")

    assert main(["audit", "purge"]) != 0

    assert (
        "BARBERSHOP_AUDIT_RETENTION_DAYS: expected a whole number of days, at least 30, got '7'"
        in capsys.readouterr().err
    )
