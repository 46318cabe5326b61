"""A value the settings cannot read stops every command before it starts: the variable's
name and what it expects on stderr, exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from barbershop_entrypoints.cli import main
from tests.integration.http.server import barbershop, environment
from tests.unit.test_settings_reader import BOOLEAN, BOOLEAN_VARIABLES


@pytest.fixture
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [name for name in os.environ if name.startswith("BARBERSHOP_")]:
        monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(data_dir))
    return data_dir


@pytest.mark.parametrize("variable", BOOLEAN_VARIABLES)
def test_a_boolean_typo_stops_serve_naming_the_variable(
    variable: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "ture")

    assert main(["serve"]) == 2

    refused = capsys.readouterr().err
    assert refused.startswith(f"barbershop: {variable}: expected ")
    assert refused.rstrip().endswith(f"{BOOLEAN}, got 'ture'")
    assert not clean_environment.exists()  # stopped before the database was made


@pytest.mark.parametrize("command", [["worker"], ["scheduler"], ["db", "upgrade"], ["audit", "purge"]])
def test_every_command_refuses_a_bad_value_before_it_starts(
    command: list[str], clean_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARBERSHOP_LOG_FORMAT", "xml")

    assert main(command) == 2

    assert capsys.readouterr().err == "barbershop: BARBERSHOP_LOG_FORMAT: expected one of text/json, got 'xml'\n"
    assert not clean_environment.exists()


def test_the_barbershop_command_prints_the_refusal_without_a_traceback(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", BARBERSHOP_DB_ECHO="ture")

    finished = subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
        barbershop("serve"), env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert finished.returncode == 2
    assert finished.stderr == f"barbershop: BARBERSHOP_DB_ECHO: expected {BOOLEAN}, got 'ture'\n"
    assert finished.stdout == ""


def test_db_upgrade_says_what_it_migrated_without_alembics_plugin_list(tmp_path: Path) -> None:
    finished = subprocess.run(  # noqa: S603 -- our own CLI with fixed arguments
        barbershop("db", "upgrade"),
        env=environment(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    assert "Running upgrade" in finished.stderr
    assert "setup plugin" not in finished.stderr
    assert finished.stdout == "База данных обновлена.\n"
