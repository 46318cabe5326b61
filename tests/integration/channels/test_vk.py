from __future__ import annotations

from typing import Any

import attrs
import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_adapters.channels.vk import VkChannel, VkSettings, random_id
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.fake_provider import FakeProvider, Reply
from tests.integration.channels.support import TEXT, outgoing


def _channel(provider: FakeProvider, client: ProviderClient, **overrides: Any) -> VkChannel:
    settings = VkSettings(access_token="vk-token", base_url=provider.url, timeout_seconds=5.0)
    return VkChannel(attrs.evolve(settings, **overrides), client)


async def test_sends_messages_send_to_the_linked_user_with_token_and_version_in_the_body(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.json({"response": 987}))

    receipt = await _channel(provider, http_client).send(outgoing(channel="vk", account="123456"))

    assert receipt.provider_message_id == "987"
    request = provider.last
    assert (request.method, request.path, request.query) == ("POST", "/method/messages.send", {})
    assert request.form() == {
        "user_id": "123456",
        "random_id": "42",
        "message": TEXT,
        "access_token": "vk-token",
        "v": "5.199",
    }


async def test_every_attempt_of_one_notification_carries_the_same_random_id(
    provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.json({"response": 987}))
    channel = _channel(provider, http_client, random_id_offset=1_000_000)

    await channel.send(outgoing(notification_id=7, account="123456"))
    await channel.send(outgoing(notification_id=7, account="123456"))
    await channel.send(outgoing(notification_id=8, account="123456"))

    ids = [request.form()["random_id"] for request in provider.requests]
    assert ids == ["1000007", "1000007", "1000008"]


@pytest.mark.parametrize(
    ("notification_id", "offset"), [(1, 0), (2**31 - 1, 0), (2**31, 0), (10**12, 0), (5, 2**31 - 3)]
)
def test_random_id_is_a_positive_int32(notification_id: int, offset: int) -> None:
    assert 1 <= random_id(notification_id, offset) <= 2**31 - 1


def test_random_ids_of_consecutive_notifications_differ() -> None:
    ids = {random_id(notification_id) for notification_id in range(1, 10_001)}

    assert len(ids) == 10_000


async def test_accepts_an_account_written_as_id_and_number(provider: FakeProvider, http_client: ProviderClient) -> None:
    provider.reply_with(Reply.json({"response": 1}))

    await _channel(provider, http_client).send(outgoing(account=" id123456 "))

    assert provider.last.form()["user_id"] == "123456"


@pytest.mark.parametrize(
    ("account", "words"), [(None, "нет привязанного"), ("", "нет привязанного"), ("durov", "не id")]
)
async def test_a_message_without_a_vk_user_id_fails_permanently_without_a_request(
    account: str | None, words: str, provider: FakeProvider, http_client: ProviderClient
) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing(channel="vk", account=account))

    assert not caught.value.retryable
    assert words in caught.value.reason
    assert provider.requests == []


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (901, False),
        (900, False),
        (902, False),
        (5, False),
        (113, False),
        (6, True),
        (9, True),
        (10, True),
        (777, False),
    ],
    ids=[
        "messages-not-allowed",
        "blacklisted",
        "privacy",
        "bad-token",
        "bad-user-id",
        "too-many-per-second",
        "flood-control",
        "internal",
        "unknown",
    ],
)
async def test_an_error_in_an_http_200_answer_is_classified_by_its_code(
    code: int, retryable: bool, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.json({"error": {"error_code": code, "error_msg": "…", "request_params": []}}))

    with pytest.raises(DeliveryFailed) as caught:
        await _channel(provider, http_client).send(outgoing(account="123456"))

    assert caught.value.retryable is retryable
    assert caught.value.reason.startswith("ВКонтакте: ")
    assert f"код {code}" in caught.value.reason


def test_the_settings_never_show_the_token() -> None:
    assert "vk-secret" not in repr(VkSettings(access_token="vk-secret"))
