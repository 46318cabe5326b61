from __future__ import annotations

from typing import Any

import attrs
import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.telegram import TelegramGatewayChannel, TelegramGatewaySettings
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.fake_provider import FakeProvider, Reply
from tests.integration.channels.support import NUMERIC_CODE, PHONE, TEXT, outgoing


def _channel(provider: FakeProvider, client: ProviderClient, **overrides: Any) -> TelegramGatewayChannel:
    settings = TelegramGatewaySettings(token="gw-token", base_url=provider.url, timeout_seconds=5.0)
    return TelegramGatewayChannel(attrs.evolve(settings, **overrides), client)


def _accepted(request_id: str = "req-7") -> Reply:
    return Reply.json({"ok": True, "result": {"request_id": request_id, "phone_number": PHONE.e164, "request_cost": 0}})


async def test_sends_the_code_to_the_phone_with_a_bearer_token_and_the_notification_as_payload(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())

    receipt = await _channel(provider, http_client).send(outgoing(channel="telegram", text=NUMERIC_CODE))

    assert receipt.provider_message_id == "req-7"
    request = provider.last
    assert (request.method, request.path, request.query) == ("POST", "/sendVerificationMessage", {})
    assert request.headers["authorization"] == "Bearer gw-token"
    assert request.json() == {"phone_number": "+79111234567", "code": NUMERIC_CODE, "payload": "42"}


async def test_passes_the_optional_sender_callback_and_ttl(provider: FakeProvider, http_client: ProviderClient) -> None:
    provider.reply_with(_accepted())
    channel = _channel(
        provider,
        http_client,
        sender_username="barbershop_codes",
        callback_url="https://barbershop.example/api/notifications/telegram-report",
        ttl_seconds=600,
    )

    await channel.send(outgoing(channel="telegram", text=f" {NUMERIC_CODE}\n"))

    body = provider.last.json()
    assert body["code"] == NUMERIC_CODE
    assert body["sender_username"] == "barbershop_codes"
    assert body["callback_url"] == "https://barbershop.example/api/notifications/telegram-report"
    assert body["ttl"] == 600


@pytest.mark.parametrize("text", [TEXT, "123", "123456789", "12ab56"])
async def test_a_text_that_is_not_a_4_to_8_digit_code_fails_permanently_without_a_request(
    text: str, provider: FakeProvider, http_client: ProviderClient
) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing(channel="telegram", text=text))

    assert not caught.value.retryable
    assert "4–8 цифр" in caught.value.reason
    assert provider.requests == []


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [
        ("PHONE_NUMBER_INVALID", 400, False),
        ("PHONE_NUMBER_NOT_FOUND", 400, False),
        ("BALANCE_NOT_ENOUGH", 400, False),
        ("ACCESS_TOKEN_INVALID", 401, False),
        ("FLOOD_WAIT_30", 400, True),
        ("SOMETHING_NEW", 400, False),
        ("PHONE_NUMBER_INVALID", 200, False),
    ],
)
async def test_a_gateway_error_is_classified_by_its_name(
    error: str, status: int, retryable: bool, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.json({"ok": False, "error": error}, status=status))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing(channel="telegram", text=NUMERIC_CODE))

    assert caught.value.retryable is retryable
    assert caught.value.reason.startswith("Telegram: ")
    assert error in caught.value.reason


def test_the_settings_never_show_the_token() -> None:
    assert "gw-secret" not in repr(TelegramGatewaySettings(token="gw-secret"))
