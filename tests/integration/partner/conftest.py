"""The partner API (seed 002) on a real database: the app of ``create_app`` and a partner's key.

``partner`` runs each test on SQLite and on PostgreSQL (skipped locally when no server
answers, required under ``CI=true``), through the same app and container fixtures as
the manager API's tests; ``sqlite_partner`` runs on SQLite only, for the HTTP layer itself.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest

from barbershop_core.model import Partner
from barbershop_core.use_cases.accounts import CreatePartner, create_partner
from barbershop_entrypoints.logging_setup import QUIET_LOGGERS, log_handler
from tests.integration.http.conftest import (
    Api,
    api,
    clock,
    new_phone,
    portal,
    postgres_settings,
    sqlite_api,
    sqlite_settings,
)

__all__ = ["api", "clock", "portal", "postgres_settings", "sqlite_api", "sqlite_settings"]

SINGLE = "/api/register-client"
BULK = "/api/register-clients"
PARTNER_NAME = "retail-1"


@attrs.define
class PartnerApi:
    """The app, with a partner and its key; requests carry ``X-API-Key`` unless told otherwise."""

    api: Api
    partner: Partner
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def register(self, body: Any = None, *, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        """``POST /api/register-client`` with ``body`` (a valid participant by default, with ``fields``)."""
        payload = participant(**fields) if body is None else body
        return self.api.client.post(SINGLE, json=payload, headers=self.headers | (headers or {}))

    def register_raw(self, content: bytes, *, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.api.client.post(
            SINGLE, content=content, headers={"Content-Type": "application/json"} | self.headers | (headers or {})
        )

    def bulk(self, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.api.client.post(BULK, json=body, headers=self.headers | (headers or {}))

    def purchases(self, client_id: int) -> list[tuple[str, Decimal]]:
        async def query() -> list[tuple[str, Decimal]]:
            async with self.api.container.uow_factory() as uow:
                return [(p.name, p.price.amount) for p in await uow.purchases.list_for_client(client_id)]

        return self.api.run(query)

    def new_partner(self, name: str) -> tuple[Partner, str]:
        container = self.api.container
        created = self.api.run(create_partner, CreatePartner(name), container.partners())
        return created.partner, created.api_key


def participant(**fields: Any) -> dict[str, Any]:
    """A valid participant with a fresh phone; ``field=...`` (Ellipsis) leaves a field out."""
    body: dict[str, Any] = {
        "fio": "Иванов Иван Иванович",
        "phone": new_phone(),
        "email": "ivanov@mail.ru",
        "purchases": [{"name": "Телевизор Samsung", "price": 40000.00}, {"name": "Кабель", "price": 499.99}],
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not ...}


def _with_partner(api: Api) -> PartnerApi:
    container = api.container
    created = api.run(create_partner, CreatePartner(PARTNER_NAME), container.partners())
    return PartnerApi(api, created.partner, created.api_key)


@pytest.fixture
def partner(api: Api) -> PartnerApi:
    """A partner of the app on SQLite and on PostgreSQL."""
    return _with_partner(api)


@pytest.fixture
def sqlite_partner(sqlite_api: Api) -> PartnerApi:
    """A partner of the app on SQLite only: for the HTTP layer's own behaviour."""
    return _with_partner(sqlite_api)


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """Logging as ``configure_logging`` sets it up, at DEBUG, into a buffer."""
    buffer = io.StringIO()
    handler = log_handler(buffer)
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in QUIET_LOGGERS)]
    levels = [logger.level for logger in loggers]
    root = loggers[0]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
