from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from barbershop_adapters.channels.provider_client import ProviderClient
from tests.integration.channels.fake_provider import FakeProvider


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
async def http_client() -> AsyncIterator[ProviderClient]:
    async with ProviderClient() as client:
        yield client
