"""Every HTTP adapter, set up against the fake provider, with what success looks like."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from barbershop_adapters.channels.http_base import HttpChannel
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.sms import SmsRuChannel, SmsRuSettings
from barbershop_adapters.channels.telegram import TelegramGatewayChannel, TelegramGatewaySettings
from barbershop_adapters.channels.vk import VkChannel, VkSettings
from barbershop_adapters.channels.whatsapp import WhatsAppCloudChannel, WhatsAppCloudSettings
from barbershop_core.ports import OutgoingMessage
from tests.integration.channels.fake_provider import Reply
from tests.integration.channels.support import NUMERIC_CODE, PASSWORD, PHONE, TEXT, outgoing

TIMEOUT_SECONDS = 5.0
HANG_TIMEOUT_SECONDS = 0.3
"""The timeout of tests where the provider hangs; the others leave room for a slow machine."""

ECHO = f"{PHONE.e164} {PHONE.e164.removeprefix('+')} {TEXT} {PASSWORD}"
"""What a careless provider might quote back in an error."""


@attrs.frozen
class AdapterCase:
    name: str
    make: Callable[[str, ProviderClient | None, float], HttpChannel]
    message: OutgoingMessage
    success: Reply
    receipt: str
    provider_errors: tuple[Reply, ...]
    """Provider-level errors whose free text quotes the phone and the message."""

    def channel(self, url: str, client: ProviderClient | None, timeout: float = TIMEOUT_SECONDS) -> HttpChannel:
        return self.make(url, client, timeout)

    def __str__(self) -> str:
        return self.name


SMS_RU = AdapterCase(
    name="sms.ru",
    make=lambda url, client, timeout: SmsRuChannel(
        SmsRuSettings(api_id="test-api-id", base_url=url, timeout_seconds=timeout), client
    ),
    message=outgoing(channel="sms"),
    success=Reply.json(
        {
            "status": "OK",
            "status_code": 100,
            "sms": {"79111234567": {"status": "OK", "status_code": 100, "sms_id": "000000-10000001"}},
            "balance": 120.5,
        }
    ),
    receipt="000000-10000001",
    provider_errors=(
        Reply.json(
            {
                "status": "OK",
                "status_code": 100,
                "sms": {"79111234567": {"status": "ERROR", "status_code": 202, "status_text": ECHO}},
            }
        ),
        Reply.json({"status": "ERROR", "status_code": 201, "status_text": ECHO}),
        Reply.json({"status": "ERROR", "status_code": 220, "status_text": ECHO}),
    ),
)

TELEGRAM = AdapterCase(
    name="telegram-gateway",
    make=lambda url, client, timeout: TelegramGatewayChannel(
        TelegramGatewaySettings(token="test-token", base_url=url, timeout_seconds=timeout), client
    ),
    message=outgoing(channel="telegram", text=NUMERIC_CODE),
    success=Reply.json(
        {"ok": True, "result": {"request_id": "tg-req-1", "phone_number": PHONE.e164, "request_cost": 0.01}}
    ),
    receipt="tg-req-1",
    provider_errors=(
        Reply.json({"ok": False, "error": "PHONE_NUMBER_INVALID", "description": ECHO}, status=400),
        Reply.json({"ok": False, "error": ECHO}, status=400),
        Reply.json({"ok": False, "error": "FLOOD_WAIT_30", "description": ECHO}, status=400),
    ),
)

WHATSAPP = AdapterCase(
    name="whatsapp-cloud",
    make=lambda url, client, timeout: WhatsAppCloudChannel(
        WhatsAppCloudSettings(
            access_token="test-token",
            phone_number_id="106540352242922",
            template_name="reg_welcome",
            base_url=url,
            timeout_seconds=timeout,
        ),
        client,
    ),
    message=outgoing(channel="whatsapp"),
    success=Reply.json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": PHONE.e164, "wa_id": "79111234567"}],
            "messages": [{"id": "wamid.HBgLNzkxMTEyMzQ1NjcVAgARGBI", "message_status": "accepted"}],
        }
    ),
    receipt="wamid.HBgLNzkxMTEyMzQ1NjcVAgARGBI",
    provider_errors=(
        Reply.json(
            {"error": {"message": ECHO, "type": "OAuthException", "code": 131026, "error_data": {"details": ECHO}}},
            status=400,
        ),
        Reply.json({"error": {"message": ECHO, "code": 130429}}, status=400),
    ),
)

VK = AdapterCase(
    name="vk",
    make=lambda url, client, timeout: VkChannel(
        VkSettings(access_token="test-token", base_url=url, timeout_seconds=timeout), client
    ),
    message=outgoing(channel="vk", account="123456"),
    success=Reply.json({"response": 987}),
    receipt="987",
    provider_errors=(
        Reply.json(
            {
                "error": {
                    "error_code": 901,
                    "error_msg": ECHO,
                    "request_params": [{"key": "message", "value": TEXT}, {"key": "user_id", "value": "123456"}],
                }
            }
        ),
        Reply.json({"error": {"error_code": 9, "error_msg": ECHO}}),
    ),
)

HTTP_ADAPTERS = (SMS_RU, TELEGRAM, WHATSAPP, VK)
