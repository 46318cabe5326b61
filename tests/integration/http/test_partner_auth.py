"""Partner authentication, ready for ``POST /api/register-client`` (its own issue) to use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.testing import TestClient

from barbershop_core.model import Partner
from barbershop_core.use_cases.accounts import CreatePartner, RevokePartner, create_partner, revoke_partner
from barbershop_entrypoints.http.auth import guarded_partner, require_partner
from barbershop_entrypoints.http.deps import CONTAINER
from barbershop_entrypoints.http.problems import handle_exception
from barbershop_entrypoints.http.request_id import echo_request_id
from tests.integration.http.conftest import Api, assert_problem


@get(
    "/partner-probe", guards=[require_partner], dependencies={"partner": Provide(guarded_partner, sync_to_thread=False)}
)
async def partner_probe(partner: NamedDependency[Partner]) -> dict[str, Any]:
    return {"partner": partner.name}


@pytest.fixture
def partner_client(sqlite_api: Api, portal: BlockingPortal) -> Iterator[TestClient[Any]]:
    app = Litestar(
        [partner_probe],
        exception_handlers={Exception: handle_exception},
        before_send=[echo_request_id],
        logging_config=None,
    )
    app.state[CONTAINER] = sqlite_api.container
    client = TestClient(app)
    client.blocking_portal = portal
    with client:
        yield client


def _new_key(api: Api, name: str) -> str:
    created = api.run(create_partner, CreatePartner(name), api.container.partners())
    return created.api_key


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
def test_a_partner_key_in_either_header_authenticates_the_partner(
    sqlite_api: Api, partner_client: TestClient[Any], header: str
) -> None:
    key = _new_key(sqlite_api, "retailer")
    value = key if header == "X-API-Key" else f"Bearer {key}"

    answer = partner_client.get("/partner-probe", headers={header: value})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"partner": "retailer"}


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "bsk_not-a-real-key"}, {"X-API-Key": "plain"}])
def test_a_missing_or_wrong_partner_key_is_401(partner_client: TestClient[Any], headers: dict[str, str]) -> None:
    assert_problem(partner_client.get("/partner-probe", headers=headers), 401, "unauthorized")


def test_a_revoked_partner_key_is_401(sqlite_api: Api, partner_client: TestClient[Any]) -> None:
    key = _new_key(sqlite_api, "gone")
    sqlite_api.run(revoke_partner, RevokePartner("gone"), sqlite_api.container.partners())

    assert_problem(partner_client.get("/partner-probe", headers={"X-API-Key": key}), 401, "unauthorized")
