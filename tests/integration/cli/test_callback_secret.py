"""`barbershop callback-secret` prints the very key the server checks callbacks with."""

from __future__ import annotations

from pathlib import Path

import pytest

from barbershop_entrypoints.bootstrap import build_container
from barbershop_entrypoints.cli import main
from barbershop_entrypoints.settings import Settings


async def test_callback_secret_command_prints_the_key_the_server_verifies_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path))

    assert main(["callback-secret", "--channel", "sms"]) == 0

    printed = capsys.readouterr().out.strip()
    container = build_container(Settings(data_dir=tmp_path))
    try:
        assert printed == container.callback_secret("sms").hex()
        assert printed != container.callback_secret("vk").hex()
    finally:
        await container.aclose()
