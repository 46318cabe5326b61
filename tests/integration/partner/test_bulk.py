"""``POST /api/register-clients``: up to 1000 participants, a result for each, in order."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.http.conftest import new_phone
from tests.integration.partner.conftest import BULK, PartnerApi, participant
from tests.integration.partner.test_register_client import assert_error


def test_each_participant_gets_its_own_result_in_order(partner: PartnerApi) -> None:
    body: list[Any] = [
        participant(),
        participant(phone="89111234567"),
        participant(),
        "not a participant",
        participant(purchases=[]),
        participant(),
    ]

    answer = partner.bulk(body)

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [list(result) for result in results] == [
        ["client_id"],
        ["error"],
        ["client_id"],
        ["error"],
        ["error"],
        ["client_id"],
    ]
    assert results[1]["error"] == "Номер телефона должен быть в формате E.164, например +79111234567"
    assert results[3]["error"] == "Тело запроса должно быть JSON-объектом"
    assert results[4]["error"] == "Нужна хотя бы одна покупка"
    assert len({results[i]["client_id"] for i in (0, 2, 5)}) == 3
    assert partner.api.rows("clients") == 3
    assert partner.api.rows("purchases") == 6


def test_a_price_no_decimal_can_hold_fails_only_its_participant(sqlite_partner: PartnerApi) -> None:
    valid = json.dumps(participant()).encode()
    huge = b'{"fio": "Ivanov Ivan", "phone": "+79111234568", "email": "i@mail.ru", '
    huge += b'"purchases": [{"name": "a", "price": 1e99999999999999999999}]}'

    answer = sqlite_partner.api.client.post(
        BULK,
        content=b"[" + valid + b", " + huge + b"]",
        headers={"Content-Type": "application/json"} | sqlite_partner.headers,
    )

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert list(results[0]) == ["client_id"]
    assert results[1] == {"error": "Покупка №1: цена должна быть меньше 100 000 000"}
    assert sqlite_partner.api.rows("clients") == 1


def test_participants_sharing_a_phone_are_one_client_and_a_repeat_adds_nothing(partner: PartnerApi) -> None:
    phone = new_phone()
    first = participant(phone=phone)
    other_purchase = participant(phone=phone, purchases=[{"name": "Пульт", "price": 5.5}])

    results = partner.bulk([first, other_purchase, first]).json()["results"]

    assert len({result["client_id"] for result in results}) == 1
    assert partner.purchases(results[0]["client_id"]) == [
        ("Телевизор Samsung", Decimal("40000.00")),
        ("Кабель", Decimal("499.99")),
        ("Пульт", Decimal("5.50")),
    ]


def test_a_retried_bulk_request_with_its_key_adds_nothing(partner: PartnerApi) -> None:
    body = [participant() for _ in range(5)]
    first = partner.bulk(body, headers={"Idempotency-Key": "batch-7"})

    again = partner.bulk(body, headers={"Idempotency-Key": "batch-7"})

    assert first.json() == again.json()
    assert partner.api.rows("purchases") == 10


def test_a_retried_bulk_request_without_a_key_adds_nothing(partner: PartnerApi) -> None:
    body = [participant() for _ in range(5)]
    first = partner.bulk(body)

    again = partner.bulk(body)

    assert first.json() == again.json()
    assert partner.api.rows("purchases") == 10


def test_the_same_key_with_a_changed_participant_refuses_only_that_participant(partner: PartnerApi) -> None:
    body = [participant(), participant()]
    first = partner.bulk(body, headers={"Idempotency-Key": "batch-8"}).json()["results"]
    changed = [body[0], body[1] | {"purchases": [{"name": "Другое", "price": 1}]}]

    results = partner.bulk(changed, headers={"Idempotency-Key": "batch-8"}).json()["results"]

    assert results == [first[0], {"error": "Ключ идемпотентности уже использован с другим запросом"}]


def test_a_thousand_participants_are_accepted(sqlite_partner: PartnerApi) -> None:
    body = [participant(purchases=[{"name": "Товар", "price": index + 1}]) for index in range(1000)]

    answer = sqlite_partner.bulk(body)

    assert answer.status_code == 200, answer.text
    assert len({result["client_id"] for result in answer.json()["results"]}) == 1000
    assert sqlite_partner.api.rows("purchases") == 1000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([participant(phone="+79990000000")] * 1001, "Не больше 1000 участников в одном запросе"),
        (participant(), "Тело запроса должно быть JSON-массивом участников"),
        ({"participants": [participant()]}, "Тело запроса должно быть JSON-массивом участников"),
        ([], "Нужен хотя бы один участник"),
    ],
)
def test_a_body_that_is_not_a_list_of_at_most_1000_is_400(partner: PartnerApi, body: Any, message: str) -> None:
    assert_error(partner.bulk(body), 400, message)
    assert partner.api.rows("clients") == 0


def test_malformed_json_is_400(sqlite_partner: PartnerApi) -> None:
    answer = sqlite_partner.api.client.post(
        BULK, content=b"[{", headers=sqlite_partner.headers | {"Content-Type": "application/json"}
    )

    assert_error(answer, 400, "Тело запроса не является корректным JSON")


def test_an_unusable_idempotency_key_is_400(sqlite_partner: PartnerApi) -> None:
    answer = sqlite_partner.bulk([participant()], headers={"Idempotency-Key": "k" * 252})

    assert_error(answer, 400, "Некорректный заголовок Idempotency-Key")


def test_the_bulk_endpoint_needs_a_key(sqlite_partner: PartnerApi) -> None:
    answer = sqlite_partner.api.client.post(BULK, json=[participant()])

    assert_error(
        answer, 401, "Не передан ключ партнёра: укажите его в заголовке X-API-Key или Authorization: Bearer <ключ>"
    )
