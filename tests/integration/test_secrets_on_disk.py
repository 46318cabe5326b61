"""Secrets on disk (#11): the generated master secret and the SQLite file are private, and a
key file that anyone else could read, or that holds no real key, stops the start."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine
from barbershop_entrypoints.cli import main
from barbershop_entrypoints.settings import DatabaseConfig, SecurityConfig, Settings, SettingsError

POSTGRES_URL = "postgresql+psycopg://barbershop@db.example/barbershop"
A_KEY = "k" * 40


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_file(data_dir: Path, content: str, file_mode: int = 0o600) -> Path:
    data_dir.mkdir(mode=0o700, exist_ok=True)
    path = data_dir / "secret.key"
    path.write_text(content, encoding="utf-8")
    path.chmod(file_mode)
    return path


def test_the_generated_key_is_written_0600_into_a_0700_data_dir_and_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)

    first = settings.master_secret()

    assert len(first) >= 32
    assert mode(data_dir / "secret.key") == 0o600
    assert mode(data_dir) == 0o700
    assert Settings(data_dir=data_dir).master_secret() == first
    assert os.listdir(data_dir) == ["secret.key"]


def test_a_data_dir_open_to_others_is_made_private_when_the_key_is_generated(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data_dir.chmod(0o755)

    Settings(data_dir=data_dir).master_secret()

    assert mode(data_dir) == 0o700


def test_an_empty_key_file_is_refused_by_name(tmp_path: Path) -> None:
    path = key_file(tmp_path / "data", "  \n")

    with pytest.raises(SettingsError, match=re.escape(f"{path} is empty")) as refused:
        Settings(data_dir=tmp_path / "data").master_secret()

    assert "delete it to generate a new one" in str(refused.value)


def test_a_key_file_shorter_than_the_minimum_of_the_variable_is_refused(tmp_path: Path) -> None:
    path = key_file(tmp_path / "data", "x" * 31 + "\n")

    with pytest.raises(SettingsError, match=re.escape(f"{path} holds a master secret of 31 characters; at least 32")):
        Settings(data_dir=tmp_path / "data").master_secret()


def test_a_key_file_of_exactly_the_minimum_length_is_accepted(tmp_path: Path) -> None:
    key_file(tmp_path / "data", "x" * 32 + "\n")

    assert Settings(data_dir=tmp_path / "data").master_secret() == b"x" * 32


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o620, 0o602, 0o644])
def test_a_key_file_readable_or_writable_by_others_is_refused_with_the_fix(tmp_path: Path, file_mode: int) -> None:
    path = key_file(tmp_path / "data", A_KEY, file_mode)

    with pytest.raises(SettingsError, match=re.escape(f"{path} is readable or writable by group or others")) as refused:
        Settings(data_dir=tmp_path / "data").master_secret()

    assert f"mode {file_mode:04o}" in str(refused.value)
    assert f"chmod 600 {path}" in str(refused.value)


def test_a_key_path_that_is_not_a_file_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "data" / "secret.key").mkdir(parents=True)

    with pytest.raises(SettingsError, match=re.escape("secret.key must be a regular file")):
        Settings(data_dir=tmp_path / "data").master_secret()


def test_an_unreadable_key_file_is_refused_by_name(tmp_path: Path) -> None:
    path = key_file(tmp_path / "data", "")
    path.write_bytes(b"\xff" * 40)

    with pytest.raises(SettingsError, match=re.escape(f"{path} cannot be read: UnicodeDecodeError")):
        Settings(data_dir=tmp_path / "data").master_secret()


def test_a_failed_write_leaves_no_key_file_and_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            Settings(data_dir=data_dir).master_secret()

    assert os.listdir(data_dir) == []
    assert len(Settings(data_dir=data_dir).master_secret()) >= 32  # the next start generates it whole


def test_of_two_processes_generating_at_once_the_first_key_wins_and_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    real_link: Callable[[Path, Path], None] = os.link
    winner = "w" * 40

    def another_process_links_first(source: Path, destination: Path) -> None:
        key_file(data_dir, winner)
        real_link(source, destination)

    monkeypatch.setattr(os, "link", another_process_links_first)

    assert Settings(data_dir=data_dir).master_secret() == winner.encode()
    assert os.listdir(data_dir) == ["secret.key"]


def test_a_short_secret_key_variable_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="BARBERSHOP_SECRET_KEY must have at least 32 characters"):
        Settings(security=SecurityConfig(secret_key="x" * 31)).master_secret()


def test_a_postgresql_configuration_without_a_secret_key_is_refused_with_the_reason(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database=DatabaseConfig(url=POSTGRES_URL))

    with pytest.raises(SettingsError, match="BARBERSHOP_SECRET_KEY must be set") as refused:
        settings.master_secret()

    assert "every host using that database must share one master secret" in str(refused.value)
    assert not (tmp_path / "data").exists()


def test_a_configured_sqlite_file_may_keep_its_key_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'own.sqlite3'}")
    )

    assert len(settings.master_secret()) >= 32


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["callback-secret", "--channel", "sms"]])
def test_commands_refuse_to_start_on_postgresql_without_a_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BARBERSHOP_DATABASE_URL", POSTGRES_URL)
    monkeypatch.delenv("BARBERSHOP_SECRET_KEY", raising=False)

    assert main(command) == 2

    assert "BARBERSHOP_SECRET_KEY must be set" in capsys.readouterr().err


def test_serve_refuses_a_world_readable_key_file_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = key_file(tmp_path / "data", A_KEY, 0o644)
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BARBERSHOP_SECRET_KEY", raising=False)
    monkeypatch.delenv("BARBERSHOP_DATABASE_URL", raising=False)

    assert main(["serve"]) == 2

    assert f"barbershop: {path} is readable or writable by group or others" in capsys.readouterr().err


async def test_the_sqlite_file_and_its_wal_and_shm_are_created_readable_by_the_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "data" / "barbershop.sqlite3"
    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///{database}"))
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            await connection.commit()
            wal, shm = database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")
            assert (mode(database), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        await engine.dispose()
    assert mode(database.parent) == 0o700


async def test_a_sqlite_file_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "barbershop.sqlite3"
    wal = database.with_name(database.name + "-wal")
    for path in (database, wal):
        path.touch()
        path.chmod(0o644)

    engine = create_engine(DatabaseSettings(f"sqlite+aiosqlite:///{database}"))
    await engine.dispose()

    assert (mode(database), mode(wal)) == (0o600, 0o600)
