"""Which channel adapters this installation has: the local one on the embedded default (or
with ``BARBERSHOP_LOCAL_CHANNEL=true``), each provider when
its credentials are set (``BARBERSHOP_SMSRU_API_ID``, ``BARBERSHOP_TELEGRAM_GATEWAY_TOKEN``,
``BARBERSHOP_WHATSAPP_ACCESS_TOKEN``, ``BARBERSHOP_VK_ACCESS_TOKEN``). A channel without an
adapter holds its notifications (A7) until a manager picks another one.
"""

from __future__ import annotations

from typing import Final, Protocol

from barbershop_adapters.channels.directory import StaticChannelDirectory
from barbershop_adapters.channels.local import LocalChannelSettings, LocalFileChannel
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.sms import SmsRuChannel
from barbershop_adapters.channels.telegram import TelegramGatewayChannel
from barbershop_adapters.channels.vk import VkChannel
from barbershop_adapters.channels.whatsapp import WhatsAppCloudChannel
from barbershop_core.ports import ChannelDirectory, NotificationChannel
from barbershop_core.reference import LOCAL_CHANNEL
from barbershop_entrypoints.metrics import MeteredChannel
from barbershop_entrypoints.settings import Settings, SettingsError


def build_channels(settings: Settings, client: ProviderClient) -> StaticChannelDirectory:
    configured = settings.channels
    channels: dict[str, NotificationChannel] = {}
    if settings.local_channel_enabled:
        channels[LOCAL_CHANNEL] = LocalFileChannel(
            LocalChannelSettings(path=settings.local_messages_file, echo=configured.local.echo)
        )
    if configured.sms is not None:
        channels["sms"] = SmsRuChannel(configured.sms, client)
    if configured.telegram is not None:
        channels["telegram"] = TelegramGatewayChannel(configured.telegram, client)
    if configured.whatsapp is not None:
        channels["whatsapp"] = WhatsAppCloudChannel(configured.whatsapp, client)
    if configured.vk is not None:
        channels["vk"] = VkChannel(configured.vk, client)
    # Every hand-over is counted and timed by the metrics (entrypoints/metrics.py).
    return StaticChannelDirectory({code: MeteredChannel(code, adapter) for code, adapter in channels.items()})


PROVIDER_VARIABLES: Final = {
    "sms": "BARBERSHOP_SMSRU_API_ID",
    "telegram": "BARBERSHOP_TELEGRAM_GATEWAY_TOKEN",
    "whatsapp": "BARBERSHOP_WHATSAPP_ACCESS_TOKEN",
    "vk": "BARBERSHOP_VK_ACCESS_TOKEN",
}
"""The variable that switches each provider's adapter on."""


class ListedChannelDirectory(ChannelDirectory, Protocol):
    """A channel directory that can also say which channels it has (for the start-up check)."""

    @property
    def codes(self) -> frozenset[str]: ...


def require_default_channel(settings: Settings, channels: ListedChannelDirectory) -> None:
    """Refuse to serve or send when ``BARBERSHOP_DEFAULT_CHANNEL`` has no adapter here: every
    welcome message that names no channel would be held (A7) until a manager moved it."""
    code = settings.registration.default_channel
    if channels.get(code) is not None:
        return
    configured = ", ".join(sorted(channels.codes)) or "none"
    if code == LOCAL_CHANNEL:
        fix = (
            "the local channel (console and messages.jsonl) is on for the embedded default only; "
            "set BARBERSHOP_LOCAL_CHANNEL=true to use it with BARBERSHOP_DATABASE_URL, "
            "or name a provider's channel"
        )
    elif code in PROVIDER_VARIABLES:
        fix = f"set {PROVIDER_VARIABLES[code]} (and the channel's other variables), or name another channel"
    else:
        fix = f"no adapter sends through a channel called {code!r}"
    raise SettingsError(
        f"BARBERSHOP_DEFAULT_CHANNEL is {code!r}, which has no adapter here (configured: {configured}): {fix}"
    )
