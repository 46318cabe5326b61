from __future__ import annotations

from typing import Any

import attrs
import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.whatsapp import WhatsAppCloudChannel, WhatsAppCloudSettings
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.fake_provider import FakeProvider, Reply
from tests.integration.channels.support import PHONE, TEXT, outgoing


def _channel(provider: FakeProvider, client: ProviderClient, **overrides: Any) -> WhatsAppCloudChannel:
    settings = WhatsAppCloudSettings(
        access_token="wa-token",
        phone_number_id="106540352242922",
        template_name="reg_welcome",
        base_url=provider.url,
        timeout_seconds=5.0,
    )
    return WhatsAppCloudChannel(attrs.evolve(settings, **overrides), client)


def _accepted(message_id: str = "wamid.ABC123") -> Reply:
    return Reply.json(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": PHONE.e164, "wa_id": "79111234567"}],
            "messages": [{"id": message_id}],
        }
    )


def _error(code: int, status: int = 400) -> Reply:
    return Reply.json(
        {"error": {"message": f"(#{code}) …", "type": "OAuthException", "code": code, "fbtrace_id": "Az"}},
        status=status,
    )


async def test_sends_the_text_as_the_body_parameter_of_the_configured_template(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())

    receipt = await _channel(provider, http_client).send(outgoing(channel="whatsapp"))

    assert receipt.provider_message_id == "wamid.ABC123"
    request = provider.last
    assert (request.method, request.path) == ("POST", "/v21.0/106540352242922/messages")
    assert request.headers["authorization"] == "Bearer wa-token"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+79111234567",
        "type": "template",
        "template": {
            "name": "reg_welcome",
            "language": {"code": "ru"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": TEXT}]}],
        },
        "biz_opaque_callback_data": "42",
    }


async def test_uses_the_configured_api_version_and_language(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())

    await _channel(provider, http_client, api_version="v23.0", language_code="en_US").send(outgoing())

    assert provider.last.path == "/v23.0/106540352242922/messages"
    assert provider.last.json()["template"]["language"] == {"code": "en_US"}


async def test_folds_newlines_tabs_and_long_spaces_which_meta_refuses_in_a_parameter(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())

    await _channel(provider, http_client).send(outgoing(text="Логин: +79111234567\n\tпароль:      Xk7m"))

    parameter = provider.last.json()["template"]["components"][0]["parameters"][0]
    assert parameter == {"type": "text", "text": "Логин: +79111234567 пароль: Xk7m"}


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        (131026, 400, False),
        (131050, 400, False),
        (132001, 404, False),
        (190, 401, False),
        (130429, 400, True),
        (131056, 400, True),
        (4, 403, True),
        (999999, 400, False),
    ],
    ids=[
        "undeliverable",
        "opted-out",
        "no-template",
        "token-expired",
        "throughput",
        "pair-rate",
        "app-rate",
        "unknown",
    ],
)
async def test_a_cloud_api_error_is_classified_by_its_code_not_its_http_status(
    code: int, status: int, retryable: bool, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_error(code, status))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing())

    assert caught.value.retryable is retryable
    assert caught.value.reason.startswith("WhatsApp: ")
    assert f"код {code}" in caught.value.reason


async def test_an_error_object_with_a_server_status_stays_retryable(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_error(131026, status=500))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing())

    assert caught.value.retryable


def test_the_settings_never_show_the_token() -> None:
    settings = WhatsAppCloudSettings(access_token="wa-secret", phone_number_id="1", template_name="t")
    assert "wa-secret" not in repr(settings)
