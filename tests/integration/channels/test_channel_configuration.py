"""Which channels an installation has (#11): the local channel belongs to the embedded
default, and `serve` / `worker` refuse a default channel that nothing can send through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_entrypoints.channels import build_channels, require_default_channel
from barbershop_entrypoints.cli import main
from barbershop_entrypoints.settings import Settings, SettingsError

POSTGRES_URL = "postgresql+psycopg://barbershop@db.example/barbershop"
SECRET_KEY = "channel-configuration-" + "k" * 32


async def codes(settings: Settings) -> frozenset[str]:
    async with ProviderClient() as client:
        return build_channels(settings, client).codes


async def test_the_embedded_default_has_the_local_channel(tmp_path: Path) -> None:
    assert await codes(Settings.from_env({"BARBERSHOP_DATA_DIR": str(tmp_path)})) == {"local"}


async def test_a_configured_database_has_no_local_channel_unless_asked_for(tmp_path: Path) -> None:
    configured = {"BARBERSHOP_DATA_DIR": str(tmp_path), "BARBERSHOP_DATABASE_URL": POSTGRES_URL}

    assert await codes(Settings.from_env(configured)) == frozenset()
    assert await codes(Settings.from_env(configured | {"BARBERSHOP_LOCAL_CHANNEL": "true"})) == {"local"}


async def test_the_local_channel_can_be_switched_off_on_the_embedded_default(tmp_path: Path) -> None:
    off = {"BARBERSHOP_DATA_DIR": str(tmp_path), "BARBERSHOP_LOCAL_CHANNEL": "false"}

    assert await codes(Settings.from_env(off)) == frozenset()


@pytest.mark.parametrize("typo", ["ture", "yes please", "2"])
def test_a_local_channel_value_that_is_not_a_boolean_is_refused_by_name(typo: str) -> None:
    expected = f"BARBERSHOP_LOCAL_CHANNEL: expected one of true/false/1/0/yes/no/on/off, got {typo!r}"
    with pytest.raises(SettingsError, match=re.escape(expected)):
        Settings.from_env({"BARBERSHOP_DATABASE_URL": POSTGRES_URL, "BARBERSHOP_LOCAL_CHANNEL": typo})


def test_an_echo_value_that_is_not_auto_true_or_false_is_refused_by_name(tmp_path: Path) -> None:
    expected = "BARBERSHOP_LOCAL_CHANNEL_ECHO: expected auto or one of true/false/1/0/yes/no/on/off, got 'loud'"
    with pytest.raises(SettingsError, match=re.escape(expected)):
        Settings.from_env({"BARBERSHOP_DATA_DIR": str(tmp_path), "BARBERSHOP_LOCAL_CHANNEL_ECHO": "loud"})


async def test_a_default_channel_with_an_adapter_is_accepted(tmp_path: Path) -> None:
    settings = Settings.from_env({"BARBERSHOP_DATA_DIR": str(tmp_path)})
    async with ProviderClient() as client:
        require_default_channel(settings, build_channels(settings, client))  # does not raise


@pytest.mark.parametrize(
    ("environ", "explained"),
    [
        ({"BARBERSHOP_DATABASE_URL": POSTGRES_URL}, "set BARBERSHOP_LOCAL_CHANNEL=true to use it"),
        ({"BARBERSHOP_DEFAULT_CHANNEL": "sms"}, "set BARBERSHOP_SMSRU_API_ID"),
        ({"BARBERSHOP_DEFAULT_CHANNEL": "pigeon"}, "no adapter sends through a channel called 'pigeon'"),
    ],
    ids=["local-on-postgresql", "provider-without-credentials", "unknown"],
)
async def test_a_default_channel_without_an_adapter_is_refused_with_the_fix(
    tmp_path: Path, environ: dict[str, str], explained: str
) -> None:
    settings = Settings.from_env({"BARBERSHOP_DATA_DIR": str(tmp_path)} | environ)
    async with ProviderClient() as client:
        channels = build_channels(settings, client)

    with pytest.raises(SettingsError, match=r"BARBERSHOP_DEFAULT_CHANNEL is '[a-z]+', which has no adapter") as refused:
        require_default_channel(settings, channels)

    assert explained in str(refused.value)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_the_local_default_channel_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    for name in ("BARBERSHOP_LOCAL_CHANNEL", "BARBERSHOP_DEFAULT_CHANNEL", "BARBERSHOP_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BARBERSHOP_DATABASE_URL", POSTGRES_URL)
    monkeypatch.setenv("BARBERSHOP_SECRET_KEY", SECRET_KEY)

    assert main([command]) == 2

    refused = capsys.readouterr().err
    assert refused.startswith("barbershop: BARBERSHOP_DEFAULT_CHANNEL is 'local', which has no adapter here")
    assert "(configured: none)" in refused


def test_serve_refuses_a_provider_default_channel_without_credentials_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("BARBERSHOP_DATABASE_URL", "BARBERSHOP_SMSRU_API_ID", "BARBERSHOP_LOCAL_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BARBERSHOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BARBERSHOP_DEFAULT_CHANNEL", "sms")

    assert main(["serve"]) == 2

    refused = capsys.readouterr().err
    assert "BARBERSHOP_DEFAULT_CHANNEL is 'sms', which has no adapter here (configured: local)" in refused
