"""The console script's launcher: the CLI when the server is there, a clear word when it is not.

The install without the server extra is exercised for real in tests/integration/test_install.py.
"""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

import barbershop_entrypoints
from barbershop_entrypoints import launcher


def test_launcher_runs_the_cli_when_the_server_is_installed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        launcher.main(["--help"])
    assert exited.value.code == 0
    assert "serve" in capsys.readouterr().out


def test_missing_module_with_the_server_installed_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(barbershop_entrypoints, "cli", raising=False)
    monkeypatch.setitem(sys.modules, "barbershop_entrypoints.cli", None)  # its import fails as a missing module's
    with pytest.raises(ModuleNotFoundError):
        launcher.main(["--help"])


def test_missing_server_distributions_are_named_from_the_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    requires = [
        "attrs>=25.1",
        "litestar>=2.15; extra == 'server'",
        'no-such-distribution-here[extra]>=1; extra == "server"',
        "pytest>=8; extra == 'other'",
    ]
    monkeypatch.setattr(metadata, "requires", lambda name: requires if name == launcher.DISTRIBUTION else None)
    assert launcher.missing_server_distributions() == ["no-such-distribution-here"]
    message = launcher.server_missing_message(["no-such-distribution-here"])
    assert "no-such-distribution-here" in message
    assert "pip install 'barbershop-core[server]'" in message
