from __future__ import annotations

from typing import Any

import attrs
import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.sms import SmsRuChannel, SmsRuSettings
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.fake_provider import FakeProvider, Reply
from tests.integration.channels.support import TEXT, outgoing


def _channel(provider: FakeProvider, client: ProviderClient, **overrides: Any) -> SmsRuChannel:
    settings = SmsRuSettings(api_id="A3CA597E-api-id", base_url=provider.url + "/", timeout_seconds=5.0)
    return SmsRuChannel(attrs.evolve(settings, **overrides), client)


def _accepted(number: str = "79111234567", sms_id: str = "000000-10000001") -> Reply:
    return Reply.json(
        {
            "status": "OK",
            "status_code": 100,
            "sms": {number: {"status": "OK", "status_code": 100, "sms_id": sms_id}},
            "balance": 4122.56,
        }
    )


def _number_error(code: int) -> Reply:
    return Reply.json(
        {
            "status": "OK",
            "status_code": 100,
            "sms": {"79111234567": {"status": "ERROR", "status_code": code, "status_text": "…"}},
            "balance": 4122.56,
        }
    )


async def test_sends_a_form_post_to_sms_send_with_the_api_id_number_and_text(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())

    receipt = await _channel(provider, http_client).send(outgoing())

    assert receipt.provider_message_id == "000000-10000001"
    request = provider.last
    assert (request.method, request.path, request.query) == ("POST", "/sms/send", {})
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"api_id": "A3CA597E-api-id", "to": "79111234567", "msg": TEXT, "json": "1"}


async def test_passes_the_optional_sender_ttl_translit_and_test_flags(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted())
    channel = _channel(provider, http_client, sender="BARBER", ttl_minutes=60, translit=True, test=True)

    await channel.send(outgoing())

    form = provider.last.form()
    assert (form["from"], form["ttl"], form["translit"], form["test"]) == ("BARBER", "60", "1", "1")


async def test_accepts_the_single_answer_when_sms_ru_keys_it_by_another_spelling(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_accepted(number="+79111234567", sms_id="202-1"))

    receipt = await _channel(provider, http_client).send(outgoing())

    assert receipt.provider_message_id == "202-1"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (202, "неверный номер"),
        (207, "нельзя отправлять"),
        (209, "стоп-лист"),
        (231, "повтор"),
        (999, "ошибка провайдера"),
    ],
)
async def test_a_refused_number_fails_permanently_with_its_code(
    code: int, words: str, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(_number_error(code))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing())

    assert not caught.value.retryable
    assert words in caught.value.reason
    assert f"код {code}" in caught.value.reason


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(200, False), (201, False), (204, False), (301, False), (220, True), (500, True)],
    ids=["bad-api-id", "no-money", "sender-not-approved", "bad-credentials", "unavailable", "server-error"],
)
async def test_a_request_level_error_is_classified_by_its_code(
    code: int, retryable: bool, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.json({"status": "ERROR", "status_code": code, "status_text": "…"}))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing())

    assert caught.value.retryable is retryable
    assert caught.value.reason.startswith("SMS.ru: ")


async def test_a_number_error_inside_an_ok_answer_with_a_string_code_still_counts(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(
        Reply.json(
            {"status": "OK", "status_code": "100", "sms": {"79111234567": {"status": "ERROR", "status_code": "220"}}}
        )
    )

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing())

    assert caught.value.retryable


def test_the_settings_never_show_the_api_id() -> None:
    assert "secret-id" not in repr(SmsRuSettings(api_id="secret-id"))
