"""Which channel adapters this installation has: the local one on the embedded default (or
with ``BARBERSHOP_LOCAL_CHANNEL=true``), each provider when
its credentials are set (``BARBERSHOP_SMSRU_API_ID``, ``BARBERSHOP_TELEGRAM_GATEWAY_TOKEN``,
``BARBERSHOP_WHATSAPP_ACCESS_TOKEN``, ``BARBERSHOP_VK_ACCESS_TOKEN``). A channel without an
adapter holds its notifications (A7) until a manager picks another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol

import httpx

from barbershop_adapters.channels.directory import StaticChannelDirectory
from barbershop_adapters.channels.local import LocalChannelSettings, LocalFileChannel
from barbershop_adapters.channels.sms import SmsRuChannel, SmsRuSettings
from barbershop_adapters.channels.telegram import TelegramGatewayChannel, TelegramGatewaySettings
from barbershop_adapters.channels.vk import VkChannel, VkSettings
from barbershop_adapters.channels.whatsapp import WhatsAppCloudChannel, WhatsAppCloudSettings
from barbershop_core.ports import ChannelDirectory, NotificationChannel
from barbershop_core.reference import LOCAL_CHANNEL
from barbershop_entrypoints.metrics import MeteredChannel
from barbershop_entrypoints.settings import Settings, SettingsError


def build_channels(settings: Settings, client: httpx.AsyncClient) -> StaticChannelDirectory:
    env = _Env(settings.environ)
    channels: dict[str, NotificationChannel] = {}
    if settings.local_channel_enabled:
        channels[LOCAL_CHANNEL] = LocalFileChannel(
            LocalChannelSettings(path=settings.local_messages_file, echo=env.echo("LOCAL_CHANNEL_ECHO"))
        )
    if api_id := env.get("SMSRU_API_ID"):
        channels["sms"] = SmsRuChannel(
            SmsRuSettings(
                api_id=api_id,
                sender=env.get("SMSRU_SENDER"),
                base_url=env.get("SMSRU_BASE_URL") or "https://sms.ru",
                test=env.flag("SMSRU_TEST", default=False),
            ),
            client,
        )
    if token := env.get("TELEGRAM_GATEWAY_TOKEN"):
        channels["telegram"] = TelegramGatewayChannel(
            TelegramGatewaySettings(
                token=token,
                base_url=env.get("TELEGRAM_GATEWAY_BASE_URL") or "https://gatewayapi.telegram.org",
                sender_username=env.get("TELEGRAM_GATEWAY_SENDER_USERNAME"),
                callback_url=env.get("TELEGRAM_GATEWAY_CALLBACK_URL"),
            ),
            client,
        )
    if token := env.get("WHATSAPP_ACCESS_TOKEN"):
        channels["whatsapp"] = WhatsAppCloudChannel(
            WhatsAppCloudSettings(
                access_token=token,
                phone_number_id=env.required("WHATSAPP_PHONE_NUMBER_ID"),
                template_name=env.required("WHATSAPP_TEMPLATE_NAME"),
                language_code=env.get("WHATSAPP_TEMPLATE_LANGUAGE") or "ru",
                base_url=env.get("WHATSAPP_BASE_URL") or "https://graph.facebook.com",
            ),
            client,
        )
    if token := env.get("VK_ACCESS_TOKEN"):
        channels["vk"] = VkChannel(
            VkSettings(access_token=token, base_url=env.get("VK_BASE_URL") or "https://api.vk.com"), client
        )
    # Every hand-over is counted and timed by the metrics (entrypoints/metrics.py).
    return StaticChannelDirectory({code: MeteredChannel(code, adapter) for code, adapter in channels.items()})


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        return self._environ.get(f"BARBERSHOP_{name}", "").strip() or None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SettingsError(f"BARBERSHOP_{name} must be set with the channel's other credentials")
        return value

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.get(name)
        return default if value is None else value.lower() in {"1", "true", "yes", "on"}

    def echo(self, name: str) -> bool | None:
        """``auto`` (or unset): None; ``true`` / ``false``; anything else stops the start."""
        value = (self.get(name) or "auto").lower()
        if value == "auto":
            return None
        if value in {"1", "true", "yes", "on"}:
            return True
        if value in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(f"BARBERSHOP_{name} must be auto, true or false, got {value!r}")


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
    code = settings.default_channel
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
