"""One phone, one client: partner registrations join the clients managers register; all audited."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.http.conftest import new_phone
from tests.integration.partner.conftest import PartnerApi, participant


def test_a_phone_a_manager_registered_is_that_client_and_gets_the_purchases(partner: PartnerApi) -> None:
    api = partner.api
    phone = new_phone()
    registered = api.register(phone, first_name="Иван")
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["client_id"]

    answer = partner.register(phone=phone, fio="Иванов Иван Иванович", email="ivanov@mail.ru")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"client_id": client_id}
    assert api.rows("clients") == api.rows("persons") == 1
    assert len(partner.purchases(client_id)) == 2
    assert api.scalar("SELECT source FROM clients WHERE id = :id", id=client_id) == "manager"
    assert api.scalar("SELECT email FROM clients WHERE id = :id", id=client_id) == "ivanov@mail.ru"
    card = api.get(f"/api/clients/{client_id}").json()
    assert [purchase["price"] for purchase in card["purchases"]] == ["40000.00", "499.99"]
    assert card["full_name"] == "Иванов Иван Иванович"


def test_each_registration_of_a_phone_appends_its_purchases(partner: PartnerApi) -> None:
    phone = new_phone()
    first = partner.register(phone=phone, purchases=[{"name": "Телевизор", "price": 100}])
    second = partner.register(phone=phone, purchases=[{"name": "Пульт", "price": 5.5}])

    assert first.json() == second.json()
    assert partner.purchases(first.json()["client_id"]) == [
        ("Телевизор", Decimal("100.00")),
        ("Пульт", Decimal("5.50")),
    ]
    assert partner.api.rows("clients") == 1


def test_a_registration_is_audited_with_the_partner_and_the_request_id(partner: PartnerApi) -> None:
    answer = partner.register(phone="+79111234567")
    api = partner.api

    assert api.scalar("SELECT count(*) FROM audit_events WHERE action = 'promo_registered'") == 1
    assert api.scalar("SELECT actor FROM audit_events WHERE action = 'promo_registered'") == (
        f"partner:{partner.partner.id}"
    )
    assert (
        api.scalar("SELECT request_id FROM audit_events WHERE action = 'promo_registered'")
        == (answer.headers["x-request-id"])
    )
    assert api.scalar("SELECT masked_phone FROM audit_events WHERE action = 'promo_registered'") == "+7911*****67"


def _trace(log: str, request_id: str) -> str:
    lines = [line for line in log.splitlines() if "partner_request" in line and f"request_id={request_id}" in line]
    assert len(lines) == 1, log
    return lines[0]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (participant(), 200),
        (participant(phone=...), 400),
        (participant(email="not-an-email"), 400),
        ([1, 2], 400),
    ],
)
def test_every_request_of_a_partner_leaves_a_trace_with_its_id(
    sqlite_partner: PartnerApi, captured_log: io.StringIO, body: object, status: int
) -> None:
    answer = sqlite_partner.register(body)

    assert answer.status_code == status
    line = _trace(captured_log.getvalue(), answer.headers["x-request-id"])
    assert f"partner={sqlite_partner.partner.id} " in line
    assert f"status={status} " in line
    assert "/api/register-client" in line


def test_a_replay_a_conflict_and_a_bulk_request_leave_traces_too(
    sqlite_partner: PartnerApi, captured_log: io.StringIO
) -> None:
    body = participant()
    sqlite_partner.register(body, headers={"Idempotency-Key": "k1"})
    answers = [
        sqlite_partner.register(body, headers={"Idempotency-Key": "k1"}),
        sqlite_partner.register(participant(), headers={"Idempotency-Key": "k1"}),
        sqlite_partner.bulk([participant(), participant(email="x")]),
    ]

    log = captured_log.getvalue()
    outcomes = [re.search(r"outcome=(\w+)", _trace(log, a.headers["x-request-id"])) for a in answers]
    assert [match.group(1) if match else None for match in outcomes] == ["replayed", "refused", "bulk"]
    assert "registered=1 replayed=0 refused=1" in _trace(log, answers[2].headers["x-request-id"])


def test_a_refused_key_leaves_a_trace_without_a_partner(sqlite_partner: PartnerApi, captured_log: io.StringIO) -> None:
    answer = sqlite_partner.register(headers={"X-API-Key": "bsk_guess"})

    assert answer.status_code == 401
    line = _trace(captured_log.getvalue(), answer.headers["x-request-id"])
    assert "partner=- " in line
    assert "status=401" in line
    assert "bsk_guess" not in captured_log.getvalue()


def _audit_rows(api: Any, action: str) -> list[tuple[Any, ...]]:
    async def query() -> list[tuple[Any, ...]]:
        async with api.container.engine.connect() as connection:
            result = await connection.execute(
                text("SELECT actor, request_id, masked_phone, details FROM audit_events WHERE action = :a ORDER BY id"),
                {"a": action},
            )
            return [tuple(row) for row in result]

    return [(*row[:3], row[3] if isinstance(row[3], dict) else json.loads(row[3])) for row in api.run(query)]


def test_a_refused_body_is_an_audit_event_with_the_partner_and_the_reason(sqlite_partner: PartnerApi) -> None:
    answer = sqlite_partner.register(email="not-an-email")

    assert answer.status_code == 400
    [(actor, request_id, masked_phone, details)] = _audit_rows(sqlite_partner.api, "promo_refused")
    assert actor == f"partner:{sqlite_partner.partner.id}"
    assert request_id == answer.headers["x-request-id"]
    assert masked_phone is None
    assert details == {"status": "400", "reason": "Некорректный email"}


def test_a_refused_key_leaves_no_audit_row_so_strangers_cannot_make_the_database_write(
    sqlite_partner: PartnerApi,
) -> None:
    answer = sqlite_partner.register(headers={"X-API-Key": "bsk_guess"})

    assert answer.status_code == 401
    assert _audit_rows(sqlite_partner.api, "promo_refused") == []


def test_a_replayed_request_is_an_audit_event_of_its_own(sqlite_partner: PartnerApi) -> None:
    body = participant(phone="+79111234567")
    first = sqlite_partner.register(body, headers={"Idempotency-Key": "k-audit"})
    again = sqlite_partner.register(body, headers={"Idempotency-Key": "k-audit"})

    assert again.json() == first.json()
    [(actor, request_id, masked_phone, _)] = _audit_rows(sqlite_partner.api, "promo_replayed")
    assert (actor, request_id, masked_phone) == (
        f"partner:{sqlite_partner.partner.id}",
        again.headers["x-request-id"],
        "+7911*****67",
    )
