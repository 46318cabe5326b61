"""``POST /api/register-client``: every answer of the seed's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from barbershop_core.use_cases.accounts import RevokePartner, revoke_partner
from barbershop_entrypoints.http.controllers import partner as partner_controller
from tests.integration.http.conftest import clients_table_refusing_rows, new_phone
from tests.integration.partner.conftest import SINGLE, PartnerApi, participant

INTERNAL = "Внутренняя ошибка сервера. Повторите запрос позже"


def assert_error(answer: httpx.Response, status: int, message: str) -> None:
    """The contract's error: this status, ``application/json``, exactly ``{"error": message}``."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    assert answer.json() == {"error": message}
    assert answer.headers["x-request-id"]


def purchase(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"name": "Телевизор", "price": 100}
    item.update(fields)
    return {name: value for name, value in item.items() if value is not ...}


# --- 200 -----------------------------------------------------------------------------------


def test_a_valid_participant_is_registered_and_only_its_client_id_is_answered(partner: PartnerApi) -> None:
    answer = partner.register(fio="Петров  Пётр", email="Petrov@Mail.RU")

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert list(body) == ["client_id"]
    assert isinstance(body["client_id"], int)
    client_id = body["client_id"]
    assert partner.purchases(client_id) == [("Телевизор Samsung", Decimal("40000.00")), ("Кабель", Decimal("499.99"))]
    api = partner.api
    assert api.scalar("SELECT full_name FROM clients WHERE id = :id", id=client_id) == "Петров Пётр"
    assert api.scalar("SELECT email FROM clients WHERE id = :id", id=client_id) == "Petrov@mail.ru"
    assert api.scalar("SELECT source FROM clients WHERE id = :id", id=client_id) == "partner:retail-1"
    assert (
        api.scalar("SELECT registered_by FROM clients WHERE id = :id", id=client_id) == f"partner:{partner.partner.id}"
    )


def test_prices_keep_their_decimals_exactly(partner: PartnerApi) -> None:
    prices = b'[{"name": "a", "price": 0.1}, {"name": "b", "price": 19.99}, {"name": "c", "price": 1e2}, '
    prices += b'{"name": "d", "price": 99999999.99}, {"name": "e", "price": 7}]'
    raw = (
        f'{{"fio": "Иванов Иван", "phone": "{new_phone()}", "email": "i@mail.ru", "purchases": '.encode()
        + prices
        + b"}"
    )

    answer = partner.register_raw(raw)

    assert answer.status_code == 200, answer.text
    assert [price for _, price in partner.purchases(answer.json()["client_id"])] == [
        Decimal("0.10"),
        Decimal("19.99"),
        Decimal("100.00"),
        Decimal("99999999.99"),
        Decimal("7.00"),
    ]


def test_unknown_fields_are_ignored_at_the_top_level_and_in_a_purchase(partner: PartnerApi) -> None:
    body = participant(loyalty_card="1234", purchases=[purchase(sku="TV-1", price=10)])

    answer = partner.register(body)

    assert answer.status_code == 200, answer.text
    assert partner.purchases(answer.json()["client_id"]) == [("Телевизор", Decimal("10.00"))]


def test_ten_purchases_and_names_and_fio_of_fifty_characters_are_accepted(partner: PartnerApi) -> None:
    answer = partner.register(fio="Ж" * 50, purchases=[purchase(name="Я" * 50)] * 10)

    assert answer.status_code == 200, answer.text
    assert len(partner.purchases(answer.json()["client_id"])) == 10


# --- 400: the body -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("fio", "Не указано ФИО"),
        ("phone", "Не указан номер телефона"),
        ("email", "Не указан email"),
        ("purchases", "Не указаны покупки"),
    ],
)
def test_a_missing_field_is_named_in_its_own_message(partner: PartnerApi, field: str, message: str) -> None:
    assert_error(partner.register(participant(**{field: ...})), 400, message)
    assert_error(partner.register(participant(**{field: None})), 400, message)
    assert partner.api.rows("clients") == 0


E164 = "Номер телефона должен быть в формате E.164, например +79111234567"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": "89111234567"}, E164),
        ({"phone": "+7 911 123-45-67"}, E164),
        ({"phone": "79111234567"}, E164),
        ({"phone": "+7911123"}, E164),
        ({"phone": 79111234567}, "Номер телефона должен быть строкой"),
        ({"email": "ivanov@"}, "Некорректный email"),
        ({"email": "ivanov mail.ru"}, "Некорректный email"),
        ({"email": "a" * 39 + "@example.com"}, "Email длиннее 50 символов"),
        ({"email": ["ivanov@mail.ru"]}, "Email должен быть строкой"),
        ({"fio": "   "}, "Не указано ФИО"),
        ({"fio": "Ж" * 51}, "ФИО длиннее 50 символов"),
        ({"fio": 42}, "ФИО должно быть строкой"),
        ({"purchases": []}, "Нужна хотя бы одна покупка"),
        ({"purchases": [purchase()] * 11}, "Не больше 10 покупок в одной регистрации"),
        ({"purchases": {"name": "Телевизор", "price": 1}}, "Покупки должны быть списком"),
        ({"purchases": ["Телевизор"]}, "Покупка №1 должна быть объектом"),
        ({"purchases": [purchase(), purchase(name="")]}, "Не указано название покупки №2"),
        ({"purchases": [purchase(name=...)]}, "Не указано название покупки №1"),
        ({"purchases": [purchase(name="Я" * 51)]}, "Название покупки №1 длиннее 50 символов"),
        ({"purchases": [purchase(name=7)]}, "Название покупки №1 должно быть строкой"),
        ({"purchases": [purchase(), purchase(name="TV\x00")]}, "Недопустимые символы в названии покупки №2"),
        ({"fio": "Иванов\x00"}, "Недопустимые символы в поле «ФИО»"),
        ({"purchases": [purchase(price=...)]}, "Не указана цена покупки №1"),
        ({"purchases": [purchase(price=0)]}, "Покупка №1: цена должна быть положительным числом"),
        ({"purchases": [purchase(price=-10.5)]}, "Покупка №1: цена должна быть положительным числом"),
        ({"purchases": [purchase(price=100_000_000)]}, "Покупка №1: цена должна быть меньше 100 000 000"),
        ({"purchases": [purchase(price=1e8)]}, "Покупка №1: цена должна быть меньше 100 000 000"),
        ({"purchases": [purchase(price="100")]}, "Покупка №1: цена должна быть числом"),
        ({"purchases": [purchase(price=True)]}, "Покупка №1: цена должна быть числом"),
    ],
)
def test_each_problem_of_the_body_gets_its_own_message(
    partner: PartnerApi, fields: dict[str, Any], message: str
) -> None:
    assert_error(partner.register(participant(**fields)), 400, message)


@pytest.mark.parametrize("price", [b"1.005", b"0.001", b"19.999", b"1e-3"])
def test_a_price_with_more_than_two_decimals_is_refused(partner: PartnerApi, price: bytes) -> None:
    raw = b'{"fio": "Ivanov Ivan", "phone": "+79111234567", "email": "i@mail.ru", "purchases": [{"name": "a", '
    raw += b'"price": ' + price + b"}]}"

    assert_error(partner.register_raw(raw), 400, "Покупка №1: цена может иметь не более двух знаков после запятой")


@pytest.mark.parametrize(
    ("price", "message"),
    [
        (b"1e99999999999999999999", "цена должна быть меньше 100 000 000"),
        (b"-1e99999999999999999999", "цена должна быть положительным числом"),
        (b"1e-99999999999999999999", "цена может иметь не более двух знаков после запятой"),
        (b"0e99999999999999999999", "цена должна быть положительным числом"),
        (b"9" * 5000, "цена должна быть меньше 100 000 000"),
        (b"1" + b"0" * 400 + b".5", "цена должна быть меньше 100 000 000"),
    ],
    ids=["huge-exponent", "huge-negative", "tiny", "zero-huge-exponent", "5000-digits", "long-fraction"],
)
def test_a_price_no_decimal_can_hold_is_refused_with_its_own_message(
    sqlite_partner: PartnerApi, price: bytes, message: str
) -> None:
    raw = b'{"fio": "Ivanov Ivan", "phone": "+79111234567", "email": "i@mail.ru", "purchases": [{"name": "a", '
    raw += b'"price": ' + price + b"}]}"

    assert_error(sqlite_partner.register_raw(raw), 400, f"Покупка №1: {message}")
    assert sqlite_partner.api.rows("clients") == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"fio": ' + b"[" * 3000 + b"]" * 3000 + b"}", "Тело запроса не является корректным JSON"),
        ('{"fio": "Иванов"'.encode(), "Тело запроса не является корректным JSON"),
        (b"fio=Ivanov&phone=%2B79111234567", "Тело запроса не является корректным JSON"),
        (b'{"fio": NaN}', "Тело запроса не является корректным JSON"),
        (b"\xff\xfe\x00", "Тело запроса не является корректным JSON"),
        (b"", "Пустое тело запроса: ожидается JSON"),
        (b"[]", "Тело запроса должно быть JSON-объектом"),
        ('[{"fio": "Иванов Иван"}]'.encode(), "Тело запроса должно быть JSON-объектом"),
        ('"Иванов"'.encode(), "Тело запроса должно быть JSON-объектом"),
        (b"null", "Тело запроса должно быть JSON-объектом"),
        (b"42", "Тело запроса должно быть JSON-объектом"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(partner: PartnerApi, raw: bytes, message: str) -> None:
    assert_error(partner.register_raw(raw), 400, message)


def test_a_body_in_another_format_is_refused_with_the_contracts_400(partner: PartnerApi) -> None:
    answer = partner.api.client.post(
        SINGLE, content=b"fio=Ivanov", headers=partner.headers | {"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert_error(answer, 400, "Тело запроса должно быть в формате JSON (Content-Type: application/json)")


def test_a_body_too_large_is_a_400_not_an_undocumented_status(sqlite_partner: PartnerApi) -> None:
    raw = b'{"fio": "' + b"x" * (70 * 1024) + b'"}'

    assert_error(sqlite_partner.register_raw(raw), 400, "Тело запроса слишком большое")


def test_json_without_a_content_type_is_accepted(partner: PartnerApi) -> None:
    raw = httpx.Request("POST", "http://x", json=participant()).content

    answer = partner.api.client.post(SINGLE, content=raw, headers=partner.headers)

    assert answer.status_code == 200, answer.text


# --- 401 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization"])
def test_the_key_is_accepted_in_either_header(partner: PartnerApi, header: str) -> None:
    value = partner.key if header == "X-API-Key" else f"Bearer {partner.key}"

    answer = partner.api.client.post(SINGLE, json=participant(), headers={header: value})

    assert answer.status_code == 200, answer.text


NO_KEY = "Не передан ключ партнёра: укажите его в заголовке X-API-Key или Authorization: Bearer <ключ>"
WRONG_KEY = "Неверный или отозванный ключ партнёра"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, NO_KEY),
        ({"X-API-Key": ""}, NO_KEY),
        ({"Authorization": "Basic cGFydG5lcjprZXk="}, NO_KEY),
        ({"X-API-Key": "bsk_not-a-real-key"}, WRONG_KEY),
        ({"X-API-Key": "plain"}, WRONG_KEY),
        ({"Authorization": "Bearer bsk_not-a-real-key"}, WRONG_KEY),
    ],
)
def test_without_a_valid_key_the_answer_is_401_in_the_contracts_shape(
    partner: PartnerApi, headers: dict[str, str], message: str
) -> None:
    answer = partner.api.client.post(SINGLE, json=participant(), headers=headers)

    assert_error(answer, 401, message)
    assert answer.headers["www-authenticate"] == "Bearer"
    assert partner.api.rows("clients") == 0


def test_a_managers_token_is_not_a_partner_key(partner: PartnerApi) -> None:
    assert_error(partner.api.client.post(SINGLE, json=participant(), headers=partner.api.auth), 401, WRONG_KEY)


def test_authentication_comes_before_the_body(partner: PartnerApi) -> None:
    assert_error(partner.api.client.post(SINGLE, content=b"{broken"), 401, NO_KEY)


def test_a_revoked_key_is_refused(partner: PartnerApi) -> None:
    api = partner.api
    assert partner.register().status_code == 200
    api.run(revoke_partner, RevokePartner(partner.partner.name), api.container.partners())

    assert_error(partner.register(), 401, WRONG_KEY)


def test_another_partners_key_works_while_one_is_revoked(partner: PartnerApi) -> None:
    api = partner.api
    _, other_key = partner.new_partner("retail-2")
    api.run(revoke_partner, RevokePartner(partner.partner.name), api.container.partners())

    assert partner.register(headers={"X-API-Key": other_key}).status_code == 200


# --- 500 -----------------------------------------------------------------------------------


def test_a_database_failure_is_a_500_that_names_nothing_internal(partner: PartnerApi) -> None:
    with clients_table_refusing_rows(partner.api):
        answer = partner.register()

    assert_error(answer, 500, "Сервер временно недоступен. Повторите запрос позже")
    assert answer.headers["retry-after"] == "2"
    assert partner.api.rows("clients") == 0
    assert partner.api.rows("idempotency_records") == 0  # released: a retry is not "in flight"
    assert partner.register().status_code == 200


def test_an_unexpected_error_is_a_generic_500(sqlite_partner: PartnerApi, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("psycopg: duplicate key (phone)=(+79111234567) ivanov@mail.ru at /srv/app/db.py:42")

    monkeypatch.setattr(partner_controller, "register_promo_participant", broken)

    answer = sqlite_partner.register()

    assert_error(answer, 500, INTERNAL)
    for secret in ("psycopg", "+79111234567", "ivanov@mail.ru", "db.py", "Traceback", "RuntimeError"):
        assert secret not in answer.text
