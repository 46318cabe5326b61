from __future__ import annotations

from pathlib import Path

from barbershop_adapters.channels.directory import StaticChannelDirectory
from barbershop_adapters.channels.local import LocalChannelSettings, LocalFileChannel
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.sms import SmsRuChannel, SmsRuSettings


def test_finds_a_channel_by_its_code_and_nothing_for_an_unknown_code(tmp_path: Path) -> None:
    local = LocalFileChannel(LocalChannelSettings(path=tmp_path / "outbox.jsonl"))
    directory = StaticChannelDirectory({"local": local})

    assert directory.get("local") is local
    assert directory.get("sms") is None
    assert directory.codes == frozenset({"local"})


async def test_closing_the_directory_closes_what_its_channels_opened_and_spares_a_shared_client(
    tmp_path: Path, http_client: ProviderClient
) -> None:
    own = SmsRuChannel(SmsRuSettings(api_id="id"))
    sharing = SmsRuChannel(SmsRuSettings(api_id="id"), http_client)
    directory = StaticChannelDirectory(
        {"sms": own, "sms-shared": sharing, "local": LocalFileChannel(LocalChannelSettings(path=tmp_path / "o.jsonl"))}
    )

    await directory.aclose()

    assert own._client.is_closed
    assert not http_client.is_closed
