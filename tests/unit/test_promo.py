"""Seed 002: a partner registers promo participants with purchases."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from barbershop_core.errors import (
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidPhone,
    TemporaryError,
    ValidationError,
)
from barbershop_core.model import AuditAction, IdempotencyRecord, Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    PromoRegistration,
    PromoResult,
    PurchaseLine,
    RefusedPartnerRequest,
    RegisterPromoParticipant,
    parse_promo_registration,
    record_partner_refusal,
    register_promo_participant,
)
from barbershop_core.values import Email, FirstName, FullName, Money, PhoneNumber
from tests.conftest import World
from tests.unit.support import MASKED_PHONE, PHONE, audit_events, interleaving, make_partner, register, rows


def body(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "fio": "Иванов Иван Иванович",
        "phone": PHONE,
        "email": "ivan@example.com",
        "purchases": [{"name": "Стрижка", "price": 1500}, {"name": "Воск", "price": 499.99}],
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not ...}


def purchase(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"name": "Стрижка", "price": 1500}
    item.update(overrides)
    return {key: value for key, value in item.items() if value is not ...}


def parse_error(payload: object) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        parse_promo_registration(payload)
    return error.value


# --- parsing: one specific message per problem ---------------------------------------------


def test_a_valid_body_is_parsed_into_value_objects() -> None:
    registration = parse_promo_registration(body(fio="  Иванов   Иван ", email="Ivan@Example.COM", extra="ignored"))

    assert registration == PromoRegistration(
        fio=FullName("Иванов Иван"),
        phone=PhoneNumber(PHONE),
        email=Email("Ivan@example.com"),
        purchases=(PurchaseLine("Стрижка", Money(Decimal("1500.00"))), PurchaseLine("Воск", Money(Decimal("499.99")))),
    )
    assert registration.fio.first_name == FirstName("Иван")


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("fio", "Не указано ФИО"),
        ("phone", "Не указан номер телефона"),
        ("email", "Не указан email"),
        ("purchases", "Не указаны покупки"),
    ],
)
def test_a_missing_field_is_named_in_its_own_message(field: str, message: str) -> None:
    error = parse_error(body(**{field: ...}))

    assert (error.code, error.message, error.field) == ("validation_error", message, field)


@pytest.mark.parametrize(
    ("field", "message"),
    [("fio", "Не указано ФИО"), ("phone", "Не указан номер телефона"), ("email", "Не указан email")],
)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_null_or_blank_field_counts_as_missing(field: str, message: str, value: str | None) -> None:
    assert parse_error(body(**{field: value})).message == message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fio", 42, "ФИО должно быть строкой"),
        ("fio", ["Иванов"], "ФИО должно быть строкой"),
        ("phone", 79111234567, "Номер телефона должен быть строкой"),
        ("email", True, "Email должен быть строкой"),
        ("purchases", {"name": "Стрижка", "price": 1}, "Покупки должны быть списком"),
        ("purchases", "Стрижка", "Покупки должны быть списком"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(field: str, value: object, message: str) -> None:
    error = parse_error(body(**{field: value}))

    assert (error.message, error.field) == (message, field)


@pytest.mark.parametrize("phone", ["89111234567", "+7 911 123 45 67", "+7(911)1234567", "79111234567", "+7911123456"])
def test_a_phone_not_in_e164_is_refused_with_an_example(phone: str) -> None:
    with pytest.raises(InvalidPhone) as error:
        parse_promo_registration(body(phone=phone))

    assert (error.value.code, error.value.message, error.value.field) == (
        "invalid_phone",
        "Номер телефона должен быть в формате E.164, например +79111234567",
        "phone",
    )


@pytest.mark.parametrize("email", ["ivan", "ivan@", "@example.com", "ivan@example", "iv an@example.com", "a@@b.ru"])
def test_a_malformed_email_is_refused(email: str) -> None:
    assert parse_error(body(email=email)).message == "Некорректный email"


def test_an_email_longer_than_fifty_characters_is_refused() -> None:
    email = "a" * 39 + "@example.com"  # 51 characters
    assert parse_error(body(email=email)).message == "Email длиннее 50 символов"
    assert parse_promo_registration(body(email=email[1:])).email == Email(email[1:])


def test_a_full_name_longer_than_fifty_characters_is_refused() -> None:
    assert parse_error(body(fio="Ж" * 51)).message == "ФИО длиннее 50 символов"
    assert parse_promo_registration(body(fio="Ж" * 50)).fio == FullName("Ж" * 50)


def test_no_purchases_and_eleven_purchases_are_refused_and_one_to_ten_accepted() -> None:
    assert parse_error(body(purchases=[])).message == "Нужна хотя бы одна покупка"
    assert parse_error(body(purchases=[purchase()] * 11)).message == "Не больше 10 покупок в одной регистрации"
    assert len(parse_promo_registration(body(purchases=[purchase()] * 10)).purchases) == 10
    assert len(parse_promo_registration(body(purchases=[purchase()])).purchases) == 1


@pytest.mark.parametrize(
    ("item", "message", "field"),
    [
        ("Стрижка", "Покупка №2 должна быть объектом", "purchases[1]"),
        (purchase(name=...), "Не указано название покупки №2", "purchases[1].name"),
        (purchase(name="  "), "Не указано название покупки №2", "purchases[1].name"),
        (purchase(name=5), "Название покупки №2 должно быть строкой", "purchases[1].name"),
        (purchase(name="Щ" * 51), "Название покупки №2 длиннее 50 символов", "purchases[1].name"),
        (purchase(name="TV\x00"), "Недопустимые символы в названии покупки №2", "purchases[1].name"),
        (purchase(price=...), "Не указана цена покупки №2", "purchases[1].price"),
        (purchase(price=None), "Не указана цена покупки №2", "purchases[1].price"),
        (purchase(price="1500"), "Покупка №2: цена должна быть числом", "purchases[1].price"),
        (purchase(price=True), "Покупка №2: цена должна быть числом", "purchases[1].price"),
        (purchase(price=0), "Покупка №2: цена должна быть положительным числом", "purchases[1].price"),
        (purchase(price=-10.5), "Покупка №2: цена должна быть положительным числом", "purchases[1].price"),
        (
            purchase(price=10.999),
            "Покупка №2: цена может иметь не более двух знаков после запятой",
            "purchases[1].price",
        ),
        (purchase(price=10**8), "Покупка №2: цена должна быть меньше 100 000 000", "purchases[1].price"),
        (purchase(price=1e8), "Покупка №2: цена должна быть меньше 100 000 000", "purchases[1].price"),
        (purchase(price=float("nan")), "Покупка №2: цена должна быть числом", "purchases[1].price"),
    ],
)
def test_a_bad_purchase_is_named_by_its_number_and_problem(item: object, message: str, field: str) -> None:
    error = parse_error(body(purchases=[purchase(), item]))

    assert (error.message, error.field) == (message, field)


def test_purchase_boundaries_are_accepted() -> None:
    registration = parse_promo_registration(
        body(purchases=[purchase(name="Щ" * 50, price=0.01), purchase(price=99_999_999.99)])
    )

    assert [line.price.amount for line in registration.purchases] == [Decimal("0.01"), Decimal("99999999.99")]
    assert registration.purchases[0].name == "Щ" * 50


@pytest.mark.parametrize("payload", [[], "text", 42, None, [body()]])
def test_a_body_that_is_not_a_json_object_is_refused(payload: object) -> None:
    error = parse_error(payload)

    assert (error.message, error.field) == ("Тело запроса должно быть JSON-объектом", None)


def test_the_first_problem_found_is_reported() -> None:
    assert parse_error({"email": "bad"}).message == "Не указано ФИО"


def test_the_fingerprint_identifies_the_meaning_not_the_spelling() -> None:
    one = parse_promo_registration(body(fio="Иванов  Иван", email="ivan@EXAMPLE.com"))
    same = parse_promo_registration(body(fio=" Иванов Иван", email="ivan@example.com"))
    other = parse_promo_registration(body(fio="Иванов Иван", purchases=[purchase()]))

    assert one.fingerprint() == same.fingerprint()
    assert one.fingerprint() != other.fingerprint()


# --- registering participants --------------------------------------------------------------


@pytest.fixture
async def partner(world: World) -> Partner:
    return await make_partner(world)


async def promo(
    world: World, partner: Partner, payload: dict[str, Any] | None = None, key: str | None = None
) -> PromoResult:
    command = RegisterPromoParticipant(
        parse_promo_registration(payload or body()), partner, idempotency_key=key, request_id="req-p"
    )
    return await register_promo_participant(command, world.promo())


def purchases(world: World) -> list[tuple[int, int, str, Decimal]]:
    return [(p.client_id, p.partner_id, p.name, p.price.amount) for p in rows(world, "purchases")]


async def test_a_new_participant_becomes_a_client_with_purchases(world: World, partner: Partner) -> None:
    result = await promo(world, partner)

    [person] = rows(world, "persons")
    [client] = rows(world, "clients")
    assert result == PromoResult(client.id, replayed=False)
    assert (person.phone, person.first_name, person.password_hash) == (PhoneNumber(PHONE), FirstName("Иван"), None)
    assert (client.person_id, client.source, client.registered_by) == (person.id, "partner:retail-1", "partner:1")
    assert (client.full_name, client.email) == (FullName("Иванов Иван Иванович"), Email("ivan@example.com"))
    assert purchases(world) == [
        (client.id, partner.id, "Стрижка", Decimal("1500.00")),
        (client.id, partner.id, "Воск", Decimal("499.99")),
    ]


async def test_a_promo_registration_is_audited_with_masked_phone_and_email(world: World, partner: Partner) -> None:
    await promo(world, partner)

    [event] = audit_events(world)
    assert (event.action, event.actor, event.request_id, event.masked_phone) == (
        AuditAction.PROMO_REGISTERED,
        "partner:1",
        "req-p",
        MASKED_PHONE,
    )
    assert event.details == {"purchases": "2", "email": "i***@example.com"}


async def test_a_known_phone_adds_the_purchases_to_the_same_client(world: World, partner: Partner) -> None:
    first = await promo(world, partner)

    second = await promo(world, partner, body(purchases=[purchase(name="Бритьё", price=700)]))

    assert second == PromoResult(first.client_id, replayed=False)
    assert len(rows(world, "clients")) == 1
    assert [name for _, _, name, _ in purchases(world)] == ["Стрижка", "Воск", "Бритьё"]


async def test_a_client_registered_by_a_manager_gets_the_purchases_and_the_missing_fio_and_email(
    world: World, partner: Partner
) -> None:
    registered = await register(world)

    result = await promo(world, partner)

    assert result.client_id == registered.client_id
    [client] = rows(world, "clients")
    assert (client.source, client.full_name, client.email) == (
        "manager",
        FullName("Иванов Иван Иванович"),
        Email("ivan@example.com"),
    )


async def test_a_known_participant_keeps_the_fio_and_email_it_has(world: World, partner: Partner) -> None:
    await promo(world, partner)

    await promo(world, partner, body(fio="Петров Пётр", email="petr@example.com", purchases=[purchase()]))

    [client] = rows(world, "clients")
    assert (client.full_name, client.email) == (FullName("Иванов Иван Иванович"), Email("ivan@example.com"))


async def test_the_same_body_again_within_five_minutes_adds_nothing(world: World, partner: Partner) -> None:
    first = await promo(world, partner)
    world.clock.advance(timedelta(minutes=4, seconds=59))

    again = await promo(world, partner)

    assert again == PromoResult(first.client_id, replayed=True)
    assert len(purchases(world)) == 2
    assert [event.action for event in audit_events(world)] == [
        AuditAction.PROMO_REGISTERED,
        AuditAction.PROMO_REPLAYED,
    ]


async def test_the_same_body_after_five_minutes_adds_the_purchases_again(world: World, partner: Partner) -> None:
    first = await promo(world, partner)
    world.clock.advance(timedelta(minutes=5, seconds=1))

    again = await promo(world, partner)

    assert again == PromoResult(first.client_id, replayed=False)
    assert len(purchases(world)) == 4


async def test_the_same_body_from_another_partner_is_not_a_replay(world: World, partner: Partner) -> None:
    other = await make_partner(world, "retail-2")
    first = await promo(world, partner)

    again = await promo(world, other)

    assert again == PromoResult(first.client_id, replayed=False)
    assert {partner_id for _, partner_id, _, _ in purchases(world)} == {partner.id, other.id}


async def test_an_idempotency_key_replays_its_first_answer(world: World, partner: Partner) -> None:
    first = await promo(world, partner, key="order-1")
    world.clock.advance(timedelta(hours=23))

    again = await promo(world, partner, key=" order-1 ")

    assert again == PromoResult(first.client_id, replayed=True)
    assert len(purchases(world)) == 2


async def test_an_idempotency_key_expires_after_a_day(world: World, partner: Partner) -> None:
    await promo(world, partner, key="order-1")
    world.clock.advance(timedelta(hours=24))

    again = await promo(world, partner, key="order-1")

    assert again.replayed is False
    assert len(purchases(world)) == 4


async def test_a_new_idempotency_key_with_the_same_body_adds_again(world: World, partner: Partner) -> None:
    await promo(world, partner, key="order-1")

    again = await promo(world, partner, key="order-2")

    assert again.replayed is False
    assert len(purchases(world)) == 4


async def test_the_same_idempotency_key_with_another_body_answers_key_reused(world: World, partner: Partner) -> None:
    await promo(world, partner, key="order-1")

    with pytest.raises(IdempotencyKeyReused) as error:
        await promo(world, partner, body(purchases=[purchase(price=1)]), key="order-1")

    assert error.value.code == "idempotency_key_reused"
    assert len(purchases(world)) == 2


async def test_a_retry_with_the_same_key_while_the_first_runs_is_answered_as_its_replay(
    world: World, partner: Partner
) -> None:
    deps = attrs.evolve(world.promo(), uow_factory=interleaving(world, after_commit=True))
    command = RegisterPromoParticipant(parse_promo_registration(body()), partner, idempotency_key="order-1")

    first, second = await asyncio.gather(
        register_promo_participant(command, deps), register_promo_participant(command, deps)
    )

    assert (first, second) == (PromoResult(1, replayed=False), PromoResult(1, replayed=True))
    assert len(purchases(world)) == 2


async def test_two_requests_with_one_key_at_the_same_moment_register_once(world: World, partner: Partner) -> None:
    deps = attrs.evolve(world.promo(), uow_factory=interleaving(world, before_commit=True))
    command = RegisterPromoParticipant(parse_promo_registration(body()), partner, idempotency_key="order-1")

    first, second = await asyncio.gather(
        register_promo_participant(command, deps), register_promo_participant(command, deps)
    )

    # both found no record; the store let one write it, the other then found it
    assert (first, second) == (PromoResult(1, replayed=False), PromoResult(1, replayed=True))
    assert len(purchases(world)) == 2
    assert len(rows(world, "clients")) == 1


async def test_a_key_held_by_a_request_in_flight_answers_in_flight_until_that_request_is_surely_dead(
    world: World, partner: Partner
) -> None:
    # a record left in flight (by a process of an earlier version that claimed keys first)
    scope, fingerprint = f"partner:{partner.id}", parse_promo_registration(body()).fingerprint()
    now = world.clock.now()
    async with world.uow() as uow:
        await uow.idempotency.add(IdempotencyRecord(scope, "key:order-1", fingerprint, now, now + timedelta(days=1)))
        await uow.commit()

    world.clock.advance(timedelta(seconds=59))
    with pytest.raises(IdempotencyInFlight) as error:
        await promo(world, partner, key="order-1")
    assert error.value.code == "idempotency_in_flight"
    world.clock.advance(timedelta(seconds=1))
    assert (await promo(world, partner, key="order-1")).replayed is False
    assert (await promo(world, partner, key="order-1")).replayed is True
    assert len(purchases(world)) == 2


async def test_two_bodies_for_one_new_phone_at_once_give_one_client_with_both_purchases(
    world: World, partner: Partner
) -> None:
    deps = attrs.evolve(world.promo(), uow_factory=interleaving(world, before_commit=True))

    def command(name: str) -> RegisterPromoParticipant:
        return RegisterPromoParticipant(parse_promo_registration(body(purchases=[purchase(name=name)])), partner)

    first, second = await asyncio.gather(
        register_promo_participant(command("Стрижка"), deps), register_promo_participant(command("Бритьё"), deps)
    )

    assert first == second == PromoResult(1, replayed=False)
    assert len(rows(world, "persons")) == 1
    assert len(rows(world, "clients")) == 1
    assert sorted(name for _, _, name, _ in purchases(world)) == ["Бритьё", "Стрижка"]


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "bad\nkey"])
async def test_a_malformed_idempotency_key_is_refused(world: World, partner: Partner, key: str) -> None:
    with pytest.raises(ValidationError) as error:
        await promo(world, partner, key=key)

    assert (error.value.message, error.value.field) == ("Некорректный заголовок Idempotency-Key", "Idempotency-Key")
    assert rows(world, "persons") == []


@pytest.mark.parametrize("operation", ["purchases.add", "clients.add", "audit.append", "commit"])
async def test_a_storage_failure_answers_temporary_error_and_leaves_the_key_free(
    world: World, partner: Partner, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    world.db.fail(operation, StorageUnavailable("connection lost"))

    with pytest.raises(TemporaryError):
        await promo(world, partner, key="order-1")

    assert (rows(world, "persons"), rows(world, "purchases"), rows(world, "idempotency")) == ([], [], [])
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == f"ERROR_REGISTER_CLIENT partner=1 phone={MASKED_PHONE}"
    assert PHONE not in caplog.text
    retried = await promo(world, partner, key="order-1")
    assert retried.replayed is False
    assert len(purchases(world)) == 2


async def test_a_storage_failure_while_claiming_the_key_answers_temporary_error(world: World, partner: Partner) -> None:
    world.db.fail("idempotency.add", StorageUnavailable("connection lost"))

    with pytest.raises(TemporaryError):
        await promo(world, partner)

    assert rows(world, "idempotency") == []


async def test_a_failure_that_is_not_a_storage_fault_also_leaves_the_key_free(world: World, partner: Partner) -> None:
    world.db.fail("purchases.add", RuntimeError("bug"))

    with pytest.raises(RuntimeError):
        await promo(world, partner, key="order-1")

    assert rows(world, "idempotency") == []


async def test_a_replayed_request_is_audited_as_a_replay_with_the_partner(world: World, partner: Partner) -> None:
    first = await promo(world, partner, key="k1")
    again = await promo(world, partner, key="k1")

    assert again.replayed is True
    replay = [event for event in audit_events(world) if event.action is AuditAction.PROMO_REPLAYED]
    assert [(e.actor, e.client_id, e.masked_phone, e.request_id) for e in replay] == [
        (f"partner:{partner.id}", first.client_id, MASKED_PHONE, "req-p")
    ]


async def test_a_refused_partner_request_is_audited_with_its_reason(world: World, partner: Partner) -> None:
    await record_partner_refusal(
        RefusedPartnerRequest(partner_id=partner.id, status=400, reason="Некорректный email", request_id="r-9"),
        world.promo(),
    )
    await record_partner_refusal(
        RefusedPartnerRequest(partner_id=None, status=401, reason="Неверный ключ"), world.promo()
    )

    refused = [e for e in audit_events(world) if e.action is AuditAction.PROMO_REFUSED]
    assert [(e.actor, e.request_id, e.details) for e in refused] == [
        (f"partner:{partner.id}", "r-9", {"status": "400", "reason": "Некорректный email"}),
        ("partner:unknown", None, {"status": "401", "reason": "Неверный ключ"}),
    ]


async def test_auditing_a_refusal_while_the_store_is_down_only_logs_it(
    world: World, partner: Partner, caplog: pytest.LogCaptureFixture
) -> None:
    world.db.fail("audit.append", StorageUnavailable("down"))

    await record_partner_refusal(RefusedPartnerRequest(partner_id=partner.id, status=500, reason="x"), world.promo())

    assert not [e for e in audit_events(world) if e.action is AuditAction.PROMO_REFUSED]
    assert f"could not audit a refused request of partner:{partner.id}" in caplog.text


def test_fingerprints_of_bodies_that_only_join_alike_differ() -> None:
    split = parse_promo_registration(body(purchases=[purchase(name="a", price=1), purchase(name="b", price=2)]))
    joined = parse_promo_registration(body(purchases=[purchase(name="a=1.00;b", price=2)]))

    assert split.fingerprint() != joined.fingerprint()
