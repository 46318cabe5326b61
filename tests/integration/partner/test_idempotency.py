"""Retries add nothing twice: the ``Idempotency-Key`` header, and the same body without one."""

from __future__ import annotations

from datetime import timedelta

from barbershop_core.model import Actor, IdempotencyRecord
from barbershop_core.use_cases.promo import parse_promo_registration
from tests.integration.partner.conftest import PartnerApi, participant
from tests.integration.partner.test_register_client import assert_error

KEY_REUSED = "Ключ идемпотентности уже использован с другим запросом"
IN_FLIGHT = "Запрос с этим ключом идемпотентности ещё выполняется"


def test_a_retry_with_the_same_key_replays_the_first_answer_and_adds_nothing(partner: PartnerApi) -> None:
    body = participant()
    first = partner.register(body, headers={"Idempotency-Key": "order-1"})
    partner.api.clock.advance(timedelta(hours=23))  # past the 5-minute window: only the key can match now

    retry = partner.register(body, headers={"Idempotency-Key": "order-1"})

    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(partner.purchases(first.json()["client_id"])) == 2


def test_the_same_key_with_another_body_is_422(partner: PartnerApi) -> None:
    body = participant()
    assert partner.register(body, headers={"Idempotency-Key": "order-2"}).status_code == 200

    other = body | {"purchases": [{"name": "Другое", "price": 1}]}
    assert_error(partner.register(other, headers={"Idempotency-Key": "order-2"}), 422, KEY_REUSED)
    assert partner.api.rows("purchases") == 2


def test_the_same_body_typed_differently_is_the_same_request(partner: PartnerApi) -> None:
    body = participant()
    first = partner.register(body, headers={"Idempotency-Key": "order-3"})
    spaced = body | {"fio": "  Иванов   Иван Иванович ", "purchases": [{"name": "Телевизор Samsung", "price": 40000}]}
    spaced["purchases"].append({"name": "Кабель", "price": 499.990})

    assert partner.register(spaced, headers={"Idempotency-Key": "order-3"}).json() == first.json()


def test_a_key_still_in_flight_is_409(partner: PartnerApi) -> None:
    api = partner.api
    body = participant()
    fingerprint = parse_promo_registration(body).fingerprint()

    async def claim() -> None:
        async with api.container.uow_factory() as uow:
            now = api.clock.now()
            scope = str(Actor.partner(partner.partner.id))
            await uow.idempotency.add(
                IdempotencyRecord(scope, "key:order-4", fingerprint, now, now + timedelta(days=1))
            )
            await uow.commit()

    api.run(claim)

    answer = partner.register(body, headers={"Idempotency-Key": "order-4"})

    assert_error(answer, 409, IN_FLIGHT)
    assert answer.headers["retry-after"] == "2"
    assert api.rows("clients") == 0


def test_keys_belong_to_one_partner(partner: PartnerApi) -> None:
    _, other_key = partner.new_partner("retail-2")
    body = participant()
    assert partner.register(body, headers={"Idempotency-Key": "shared"}).status_code == 200

    other = participant()
    answer = partner.register(other, headers={"Idempotency-Key": "shared", "X-API-Key": other_key})

    assert answer.status_code == 200, answer.text
    assert answer.json() != partner.register(body, headers={"Idempotency-Key": "shared"}).json()


def test_an_unusable_idempotency_key_is_400(partner: PartnerApi) -> None:
    message = "Некорректный заголовок Idempotency-Key"
    assert_error(partner.register(headers={"Idempotency-Key": "k" * 256}), 400, message)
    assert_error(partner.register(headers={"Idempotency-Key": "   "}), 400, message)
    assert partner.api.rows("clients") == 0


def test_without_a_key_the_same_body_within_five_minutes_adds_no_purchases(partner: PartnerApi) -> None:
    body = participant()
    first = partner.register(body)
    partner.api.clock.advance(timedelta(minutes=4))

    again = partner.register(body)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(partner.purchases(first.json()["client_id"])) == 2


def test_without_a_key_the_same_body_after_five_minutes_is_a_new_purchase(partner: PartnerApi) -> None:
    body = participant()
    first = partner.register(body)
    partner.api.clock.advance(timedelta(minutes=5, seconds=1))

    later = partner.register(body)

    assert later.json() == first.json()
    assert "idempotent-replayed" not in later.headers
    assert len(partner.purchases(first.json()["client_id"])) == 4
