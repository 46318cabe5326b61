"""Outcomes every HTTP adapter must classify alike, each tried against the fake provider."""

from __future__ import annotations

import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_core.ports import DeliveryFailed
from tests.integration.channels.adapters import (
    ECHO,
    HANG_TIMEOUT_SECONDS,
    HTTP_ADAPTERS,
    TIMEOUT_SECONDS,
    AdapterCase,
)
from tests.integration.channels.fake_provider import FakeProvider, Reply, closed_port_url
from tests.integration.channels.support import PASSWORD, PHONE, TEXT

by_adapter = pytest.mark.parametrize("case", HTTP_ADAPTERS, ids=str)


async def _failure(
    case: AdapterCase, url: str, client: ProviderClient, timeout_seconds: float = TIMEOUT_SECONDS
) -> DeliveryFailed:
    channel = case.channel(url, client, timeout_seconds)
    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(case.message)
    return caught.value


@by_adapter
async def test_an_accepted_message_returns_the_provider_message_id(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(case.success)

    receipt = await case.channel(provider.url, http_client).send(case.message)

    assert receipt.provider_message_id == case.receipt
    assert len(provider.requests) == 1
    assert provider.last.method == "POST"


@by_adapter
@pytest.mark.parametrize(
    "reply",
    [
        Reply.json({"error": "slow down"}, status=429),
        Reply.text("Internal Server Error", status=500),
        Reply.text("Bad Gateway", status=502),
        Reply.json({"error": {"code": 131000}}, status=503),
    ],
    ids=["429", "500", "502", "503"],
)
async def test_throttling_and_server_errors_are_retryable(
    case: AdapterCase, reply: Reply, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(reply)

    failure = await _failure(case, provider.url, http_client)

    assert failure.retryable
    assert f"HTTP {reply.status}" in failure.reason


@by_adapter
@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_other_client_errors_are_permanent(
    case: AdapterCase, status: int, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.text("rejected", status=status))

    failure = await _failure(case, provider.url, http_client)

    assert not failure.retryable
    assert f"HTTP {status}" in failure.reason


@by_adapter
async def test_a_provider_that_hangs_times_out_as_retryable(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.hanging())

    failure = await _failure(case, provider.url, http_client, HANG_TIMEOUT_SECONDS)

    assert failure.retryable
    assert "вовремя" in failure.reason


@by_adapter
async def test_a_refused_connection_is_retryable(case: AdapterCase, http_client: ProviderClient) -> None:
    failure = await _failure(case, closed_port_url(), http_client)

    assert failure.retryable
    assert "ClientConnectorError" in failure.reason


@by_adapter
async def test_an_unreadable_success_is_permanent_because_the_message_may_have_gone(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.text("<html>OK</html>", status=200))

    failure = await _failure(case, provider.url, http_client)

    assert not failure.retryable
    assert "не распознан" in failure.reason


@pytest.mark.parametrize(
    ("status", "retryable"),
    [pytest.param(200, False, id="success: the message may have gone"), pytest.param(503, True, id="server error")],
)
@by_adapter
async def test_an_answer_that_breaks_off_after_its_status_is_read_as_unreadable(
    case: AdapterCase, status: int, retryable: bool, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(Reply.cut_short_json(case.success.body, status=status))

    failure = await _failure(case, provider.url, http_client)

    assert failure.retryable is retryable


@by_adapter
async def test_no_reason_ever_contains_the_phone_or_the_text(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    outcomes = [
        *case.provider_errors,
        Reply.text(ECHO, status=400),
        Reply.text(ECHO, status=503),
        Reply.text(ECHO, status=200),
        Reply.json({"error": ECHO, "message": ECHO}, status=422),
        Reply.hanging(),
    ]
    reasons = []
    for reply in outcomes:
        provider.reply_with(reply)
        reasons.append((await _failure(case, provider.url, http_client, HANG_TIMEOUT_SECONDS)).reason)
    reasons.append((await _failure(case, closed_port_url(), http_client)).reason)

    secrets = (PHONE.e164, PHONE.e164.removeprefix("+"), TEXT, PASSWORD, case.message.text)
    for reason in reasons:
        assert reason
        assert not any(secret in reason for secret in secrets), reason


@by_adapter
async def test_a_channel_closes_the_client_it_created_but_not_a_shared_one(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    provider.reply_with(case.success)

    async with case.channel(provider.url, None) as own:
        assert (await own.send(case.message)).provider_message_id == case.receipt
    async with case.channel(provider.url, http_client) as sharing:
        await sharing.send(case.message)

    assert not http_client.is_closed


@by_adapter
async def test_only_the_telegram_gateway_declares_it_carries_nothing_but_a_code(
    case: AdapterCase, provider: FakeProvider, http_client: ProviderClient
) -> None:
    channel = case.channel(provider.url, http_client)

    assert channel.carries_only_code is (case.name == "telegram-gateway")
