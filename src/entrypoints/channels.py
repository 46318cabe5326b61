"""Which channel adapters this installation has: the local one always, each provider when
its credentials are set (``BARBERSHOP_SMSRU_API_ID``, ``BARBERSHOP_TELEGRAM_GATEWAY_TOKEN``,
``BARBERSHOP_WHATSAPP_ACCESS_TOKEN``, ``BARBERSHOP_VK_ACCESS_TOKEN``). A channel without an
adapter holds its notifications (A7) until a manager picks another one.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from adapters.channels.directory import StaticChannelDirectory
from adapters.channels.local import LocalChannelSettings, LocalFileChannel
from adapters.channels.sms import SmsRuChannel, SmsRuSettings
from adapters.channels.telegram import TelegramGatewayChannel, TelegramGatewaySettings
from adapters.channels.vk import VkChannel, VkSettings
from adapters.channels.whatsapp import WhatsAppCloudChannel, WhatsAppCloudSettings
from barbershop_core.ports import NotificationChannel
from barbershop_core.reference import LOCAL_CHANNEL
from entrypoints.settings import Settings, SettingsError


def build_channels(settings: Settings, client: httpx.AsyncClient) -> StaticChannelDirectory:
    env = _Env(settings.environ)
    channels: dict[str, NotificationChannel] = {
        LOCAL_CHANNEL: LocalFileChannel(
            # Echoing prints phones and passwords: only on the embedded default, where the
            # console is the operator's own, unless asked for.
            LocalChannelSettings(
                path=settings.local_messages_file, echo=env.flag("LOCAL_CHANNEL_ECHO", default=settings.embedded)
            )
        )
    }
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
    return StaticChannelDirectory(channels)


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
