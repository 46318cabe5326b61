"""The providers' HTTP client and the environment: its proxy, and nothing else.

The fake provider stands in for a forward proxy here: a proxied request arrives at it with
the provider's address in its ``Host`` header.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from yarl import URL

from barbershop_adapters.channels.provider_client import (
    ProviderClient,
    ProviderRequest,
    ProviderUnreachable,
    environment_proxy,
)
from tests.integration.channels.fake_provider import FakeProvider, closed_port_url

_PROXY_NAMES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_NO_PROXY_NAMES = ("no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*_PROXY_NAMES, *_NO_PROXY_NAMES, "NETRC"):
        monkeypatch.delenv(name, raising=False)


async def test_a_send_goes_through_the_proxy_the_environment_names(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", provider.url.replace("http://", "http://relay:s3cret@"))
    async with ProviderClient() as client:
        answer = await client.post(
            ProviderRequest("http://sms.provider.invalid/sms/send", json_body={"to": "x"}), timeout_seconds=5
        )
    assert answer.status_code == 200
    assert provider.last.path == "/sms/send"
    assert provider.last.headers["host"] == "sms.provider.invalid"
    assert provider.last.headers["proxy-authorization"] == "Basic cmVsYXk6czNjcmV0"  # relay:s3cret


async def test_a_host_that_no_proxy_covers_is_reached_directly(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())  # a send through it would be refused
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with ProviderClient() as client:
        answer = await client.post(ProviderRequest(f"{provider.url}/sms/send"), timeout_seconds=5)
    assert answer.status_code == 200


@pytest.mark.parametrize("address", ["//127.0.0.1:1/sms/send", "http://[::1/sms/send", "http://host:99999/x", "sms"])
async def test_a_provider_address_that_is_no_url_is_unreachable(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", closed_port_url())
    async with ProviderClient() as client:
        with pytest.raises(ProviderUnreachable):
            await client.post(ProviderRequest(address), timeout_seconds=5)


async def test_the_proxy_is_looked_up_once_per_provider_origin(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ProviderClient() as client:
        await client.post(ProviderRequest(f"{provider.url}/first"), timeout_seconds=5)
        # A proxy named after the first send is not looked up again for the same provider.
        monkeypatch.setenv("HTTP_PROXY", closed_port_url())
        answer = await client.post(ProviderRequest(f"{provider.url}/second"), timeout_seconds=5)
    assert answer.status_code == 200
    assert [request.path for request in provider.requests] == ["/first", "/second"]


async def test_a_netrc_login_is_never_sent_to_a_provider(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with ProviderClient() as client:
        await client.post(ProviderRequest(f"{provider.url}/sms/send"), timeout_seconds=5)
    assert "authorization" not in provider.last.headers


def test_the_environment_proxy_of_an_https_provider_is_the_https_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain.proxy.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls.proxy.invalid:3128")
    proxy = environment_proxy(URL("https://api.provider.invalid/send"))
    assert proxy is not None
    assert str(proxy) == "http://tls.proxy.invalid:3128"
    assert environment_proxy(URL("https://api.provider.invalid/send").with_host("localhost")) is not None
    monkeypatch.setenv("NO_PROXY", ".provider.invalid")
    assert environment_proxy(URL("https://api.provider.invalid/send")) is None
