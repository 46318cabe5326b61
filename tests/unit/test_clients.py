"""Persons and clients step by step: check phone (step 3), create (5, 6), find / card (A1.1), update (A1.2)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from barbershop_core.context import Context
from barbershop_core.errors import ClientExists, InvalidPhone, LoginTaken, NotFound, PersonExists, ValidationError
from barbershop_core.model import Actor, AuditAction, Person
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.audit_trail import PurgeAuditTrail, purge_audit_trail
from barbershop_core.use_cases.clients import (
    CheckPhone,
    ClientCard,
    CreateClient,
    CreatePerson,
    FindByPhone,
    GetClientCard,
    GetPerson,
    PhoneCheck,
    UpdateClient,
    check_phone,
    create_client,
    create_person,
    find_clients_by_phone,
    find_persons_by_phone,
    get_client_card,
    get_person,
    update_client,
)
from barbershop_core.use_cases.promo import (
    RegisterPromoParticipant,
    parse_promo_registration,
    register_promo_participant,
)
from barbershop_core.values import Email, FirstName, Login, PhoneNumber
from tests.conftest import MANAGER, World
from tests.fakes import InMemoryAttemptCounter
from tests.unit.support import (
    MASKED_PHONE,
    OTHER_PHONE,
    PHONE,
    audit_actions,
    audit_events,
    interleaving,
    make_partner,
    register,
    rows,
)


async def _create_person(world: World, phone: str = PHONE, login: str | None = None) -> int:
    person = await create_person(
        CreatePerson(phone=phone, first_name="Иван", context=MANAGER, login=login), world.clients()
    )
    return person.id


async def _update(world: World, client_id: int = 1, **changes: Any) -> ClientCard:
    return await update_client(UpdateClient(client_id=client_id, context=MANAGER, **changes), world.clients())


# --- check phone (step 3) -----------------------------------------------------------------


async def _check(world: World, phone: str, context: Context = MANAGER) -> PhoneCheck:
    return await check_phone(CheckPhone(phone, context), world.clients())


async def test_checking_one_phone_again_and_again_is_audited_once_per_manager_in_the_window(world: World) -> None:
    for typed in ("+7 911 123-45-67", "89111234567", PHONE):
        await _check(world, typed)
    await _check(world, PHONE, Context(Actor.manager(2)))
    await _check(world, "+79111234568")
    assert [(e.actor, e.masked_phone) for e in audit_events(world)] == [
        ("manager:1", MASKED_PHONE),
        ("manager:2", MASKED_PHONE),
        ("manager:1", "+7911*****68"),
    ]

    world.clock.advance(world.policy.phone_check_audit_window)
    await _check(world, PHONE)

    assert len(audit_events(world)) == 4
    assert all(PHONE not in key and "9111234567" not in key for key, _ in world.attempts.counts)


async def test_a_phone_check_is_audited_when_the_window_counter_is_down(world: World) -> None:
    class DownCounter(InMemoryAttemptCounter):
        async def add(self, key: str, window_start: int, window_seconds: int) -> int:
            raise StorageUnavailable("redis is down")

    world.attempts = DownCounter()
    await _check(world, PHONE)
    await _check(world, PHONE)

    assert len(audit_events(world)) == 2


async def test_checking_an_unknown_phone_answers_the_normalised_phone_and_not_exists(world: World) -> None:
    check = await _check(world, "8 (911) 123-45-67")

    assert check == PhoneCheck(phone=PHONE, exists=False, person_id=None, client_id=None)


async def test_checking_a_registered_phone_answers_the_person_and_client_ids(world: World) -> None:
    result = await register(world)

    check = await _check(world, PHONE)

    assert check == PhoneCheck(phone=PHONE, exists=True, person_id=result.person_id, client_id=result.client_id)


async def test_checking_the_phone_of_a_person_without_client_answers_no_client_id(world: World) -> None:
    person_id = await _create_person(world)

    check = await _check(world, PHONE)

    assert check == PhoneCheck(phone=PHONE, exists=True, person_id=person_id, client_id=None)


async def test_checking_a_phone_is_audited_with_the_masked_phone(world: World) -> None:
    await _check(world, PHONE)

    [event] = audit_events(world)
    assert (event.action, event.actor, event.request_id, event.masked_phone, event.details) == (
        AuditAction.PHONE_CHECKED,
        "manager:1",
        "req-1",
        MASKED_PHONE,
        {"exists": "false"},
    )
    assert event.occurred_at == world.clock.now()


async def test_checking_an_invalid_phone_answers_invalid_phone_and_audits_nothing(world: World) -> None:
    commits_before = world.db.commits

    with pytest.raises(InvalidPhone):
        await _check(world, "911-ABC")

    assert audit_events(world) == []
    assert world.db.commits == commits_before


# --- persons (step 5) ---------------------------------------------------------------------


async def test_creating_a_person_uses_the_phone_as_login_and_sets_no_password(world: World) -> None:
    person_id = await _create_person(world, "8 911 123 45 67")

    [person] = rows(world, "persons")
    assert person.id == person_id
    assert (person.phone, person.login, person.first_name) == (PhoneNumber(PHONE), Login(PHONE), FirstName("Иван"))
    assert (person.password_hash, person.must_change_password) == (None, False)
    assert audit_actions(world) == [AuditAction.PERSON_CREATED]


async def test_creating_a_person_with_an_explicit_login_keeps_it(world: World) -> None:
    await _create_person(world, login="ivan.petrov")

    [person] = rows(world, "persons")
    assert person.login == Login("ivan.petrov")


async def test_creating_a_person_whose_login_is_their_own_phone_is_allowed(world: World) -> None:
    await _create_person(world, "8 911 123 45 67", login=PHONE)

    [person] = rows(world, "persons")
    assert person.login == Login(PHONE)


async def test_creating_a_person_whose_login_is_another_phone_is_refused(world: World) -> None:
    with pytest.raises(ValidationError) as error:
        await _create_person(world, OTHER_PHONE, login=PHONE)

    assert (error.value.message, error.value.field) == (
        "Логин в виде номера телефона может быть только номером этого человека",
        "login",
    )
    assert rows(world, "persons") == []
    assert (await register(world)).idempotent is False  # so that phone's owner can still be registered


async def test_creating_a_person_with_a_taken_phone_answers_person_exists_with_the_client(world: World) -> None:
    result = await register(world)

    with pytest.raises(PersonExists) as error:
        await _create_person(world, "89111234567")

    assert (error.value.person_id, error.value.client_id) == (result.person_id, result.client_id)
    assert error.value.message == "Телефон уже зарегистрирован"


async def test_creating_a_person_with_a_taken_login_answers_login_taken(world: World) -> None:
    await _create_person(world, PHONE, login="ivan")

    with pytest.raises(LoginTaken) as error:
        await _create_person(world, OTHER_PHONE, login="ivan")

    assert (error.value.code, error.value.message) == ("login_taken", "Такой логин уже занят")
    assert len(rows(world, "persons")) == 1


async def test_two_people_created_with_one_phone_at_once_leave_one_and_the_other_answers_person_exists(
    world: World,
) -> None:
    factory = interleaving(world, before_commit=True)

    def create(name: str) -> CreatePerson:
        return CreatePerson(phone=PHONE, first_name=name, context=MANAGER)

    outcomes = await asyncio.gather(
        create_person(create("Иван"), attrs.evolve(world.clients(), uow_factory=factory)),
        create_person(create("Пётр"), attrs.evolve(world.clients(), uow_factory=factory)),
        return_exceptions=True,
    )

    [winner] = rows(world, "persons")
    assert outcomes[0] == winner
    assert isinstance(outcomes[1], PersonExists)
    assert (outcomes[1].person_id, outcomes[1].client_id) == (winner.id, None)


async def test_finding_persons_by_phone_answers_zero_or_one(world: World) -> None:
    assert await find_persons_by_phone(FindByPhone(PHONE), world.clients()) == []
    person_id = await _create_person(world)

    [found] = await find_persons_by_phone(FindByPhone("8 911 123-45-67"), world.clients())

    assert found.id == person_id


async def test_getting_a_person_by_id_answers_it_or_not_found(world: World) -> None:
    person_id = await _create_person(world)

    assert (await get_person(GetPerson(person_id), world.clients())).phone == PhoneNumber(PHONE)
    with pytest.raises(NotFound) as error:
        await get_person(GetPerson(99), world.clients())
    assert error.value.message == "Персона 99 не найдена"


# --- clients (step 6) ---------------------------------------------------------------------


async def test_making_a_person_a_client_records_the_client_consents_and_audit(world: World) -> None:
    person_id = await _create_person(world)

    client = await create_client(
        CreateClient(
            person_id=person_id, context=MANAGER, consents={"marketing": True}, channel_accounts={"vk": "id7"}
        ),
        world.clients(),
    )

    [stored] = rows(world, "clients")
    assert stored == client
    assert (client.person_id, client.registered_by, client.source, client.channel_accounts) == (
        person_id,
        "manager:1",
        "manager",
        {"vk": "id7"},
    )
    assert [(c.consent_type, c.granted) for c in rows(world, "consents")] == [("marketing", True)]
    assert audit_actions(world)[-2:] == [AuditAction.CLIENT_CREATED, AuditAction.CONSENT_RECORDED]


async def test_making_an_unknown_person_a_client_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await create_client(CreateClient(person_id=42, context=MANAGER), world.clients())

    assert rows(world, "clients") == []


async def test_making_a_client_twice_answers_client_exists(world: World) -> None:
    result = await register(world)

    with pytest.raises(ClientExists) as error:
        await create_client(CreateClient(person_id=result.person_id, context=MANAGER), world.clients())

    assert error.value.client_id == result.client_id


async def test_making_one_person_a_client_twice_at_once_leaves_one_client(world: World) -> None:
    person_id = await _create_person(world)
    factory = interleaving(world, before_commit=True)
    command = CreateClient(person_id=person_id, context=MANAGER)

    outcomes = await asyncio.gather(
        create_client(command, attrs.evolve(world.clients(), uow_factory=factory)),
        create_client(command, attrs.evolve(world.clients(), uow_factory=factory)),
        return_exceptions=True,
    )

    [winner] = rows(world, "clients")
    assert outcomes[0] == winner
    assert isinstance(outcomes[1], ClientExists)
    assert outcomes[1].client_id == winner.id


# --- find and card (A1.1) -----------------------------------------------------------------


async def test_the_client_card_shows_person_consents_notifications_and_purchases(world: World) -> None:
    result = await register(world, consents={"personal_data": True})
    partner = await make_partner(world)
    payload = {
        "fio": "Иванов Иван",
        "phone": PHONE,
        "email": "i@example.com",
        "purchases": [{"name": "Воск", "price": 9}],
    }
    await register_promo_participant(
        RegisterPromoParticipant(parse_promo_registration(payload), partner), world.promo()
    )

    card = await get_client_card(GetClientCard(result.client_id), world.clients())

    assert (card.client.id, card.person.id) == (result.client_id, result.person_id)
    assert card.consents == {"personal_data": True}
    assert [n.id for n in card.notifications] == [result.notification_id]
    assert [(p.name, p.price.amount) for p in card.purchases] == [("Воск", Decimal("9.00"))]
    assert card.client.email == Email("i@example.com")


async def test_the_card_of_an_unknown_client_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound) as error:
        await get_client_card(GetClientCard(5), world.clients())

    assert (error.value.code, error.value.message) == ("not_found", "Клиент 5 не найден")


async def test_finding_clients_by_phone_answers_the_card_of_the_client(world: World) -> None:
    result = await register(world)

    [card] = await find_clients_by_phone(FindByPhone("8 (911) 123 45 67"), world.clients())

    assert card.client.id == result.client_id


async def test_finding_clients_by_an_unknown_phone_or_a_person_without_client_answers_nothing(world: World) -> None:
    assert await find_clients_by_phone(FindByPhone(PHONE), world.clients()) == []
    await _create_person(world)
    assert await find_clients_by_phone(FindByPhone(PHONE), world.clients()) == []


# --- update (A1.2) ------------------------------------------------------------------------


async def test_updating_the_first_name_and_email_is_saved_and_audited(world: World) -> None:
    await register(world)

    card = await _update(world, first_name="Пётр", email="Petr@Example.COM")

    [person] = rows(world, "persons")
    [client] = rows(world, "clients")
    assert person.first_name == FirstName("Пётр")
    assert client.email == Email("Petr@example.com")
    assert card.person == person
    [event] = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_UPDATED]
    assert event.details == {"fields": "first_name,email"}


async def test_changing_the_phone_moves_a_phone_login_along_with_it(world: World) -> None:
    await register(world)

    await _update(world, phone="8 921 765-43-21")

    [person] = rows(world, "persons")
    assert (person.phone, person.login) == (PhoneNumber(OTHER_PHONE), Login(OTHER_PHONE))
    check = await _check(world, PHONE)
    assert check.exists is False


async def test_changing_the_phone_keeps_a_login_that_is_not_the_phone(world: World) -> None:
    person_id = await _create_person(world, login="ivan")
    await create_client(CreateClient(person_id=person_id, context=MANAGER), world.clients())

    await _update(world, phone=OTHER_PHONE)

    [person] = rows(world, "persons")
    assert (person.phone, person.login) == (PhoneNumber(OTHER_PHONE), Login("ivan"))


async def test_changing_the_phone_to_a_taken_one_answers_person_exists_and_changes_nothing(world: World) -> None:
    await register(world)
    other = await register(world, OTHER_PHONE, "Пётр")

    with pytest.raises(PersonExists) as error:
        await _update(world, phone=OTHER_PHONE, first_name="Иван Иванович")

    assert (error.value.person_id, error.value.client_id) == (other.person_id, other.client_id)
    assert [p.first_name for p in rows(world, "persons")] == [FirstName("Иван"), FirstName("Пётр")]


async def test_changing_the_phone_to_one_taken_concurrently_answers_person_exists(world: World) -> None:
    await register(world)
    factory = interleaving(world, before_commit=True)
    update = update_client(
        UpdateClient(client_id=1, context=MANAGER, phone=OTHER_PHONE),
        attrs.evolve(world.clients(), uow_factory=factory),
    )
    create = create_person(
        CreatePerson(phone=OTHER_PHONE, first_name="Пётр", context=MANAGER),
        attrs.evolve(world.clients(), uow_factory=factory),
    )

    created, updated = await asyncio.gather(create, update, return_exceptions=True)

    assert isinstance(created, Person)
    assert isinstance(updated, PersonExists)
    assert (updated.person_id, updated.client_id) == (created.id, None)
    assert [p.phone for p in rows(world, "persons")] == [PhoneNumber(PHONE), PhoneNumber(OTHER_PHONE)]


async def test_updating_consents_appends_history_and_the_latest_record_wins(world: World) -> None:
    await register(world, consents={"marketing": True})
    world.clock.advance(world.policy.idempotency_window)

    card = await _update(world, consents={"marketing": False})

    assert [(c.consent_type, c.granted) for c in rows(world, "consents")] == [("marketing", True), ("marketing", False)]
    assert card.consents == {"marketing": False}
    assert AuditAction.CLIENT_UPDATED not in audit_actions(world)  # consents alone are audited as consents


async def test_updating_channel_accounts_replaces_them(world: World) -> None:
    await register(world, channel_accounts={"vk": "id1"})

    await _update(world, channel_accounts={"vk": "id2", "telegram": "@ivan"})

    [client] = rows(world, "clients")
    assert client.channel_accounts == {"vk": "id2", "telegram": "@ivan"}


async def test_updating_with_a_blank_channel_account_answers_validation_error(world: World) -> None:
    await register(world)

    with pytest.raises(ValidationError) as error:
        await _update(world, channel_accounts={"vk": "  "})

    assert (error.value.message, error.value.field) == ("Пустой идентификатор аккаунта", "channel_accounts")


async def test_updating_with_the_same_values_audits_no_change(world: World) -> None:
    await register(world, channel_accounts={"vk": "id1"})
    events_before = len(audit_events(world))

    await _update(world, first_name="Иван", phone="89111234567", channel_accounts={"vk": "id1"})

    assert len(audit_events(world)) == events_before


@pytest.mark.parametrize(
    ("changes", "error_type"),
    [
        ({"phone": "12"}, InvalidPhone),
        ({"email": "not-an-email"}, ValidationError),
        ({"first_name": ""}, ValidationError),
    ],
)
async def test_updating_with_bad_input_changes_nothing(
    world: World, changes: dict[str, str], error_type: type[Exception]
) -> None:
    await register(world)
    persons_before, clients_before = rows(world, "persons"), rows(world, "clients")

    with pytest.raises(error_type):
        await _update(world, **changes)

    assert (rows(world, "persons"), rows(world, "clients")) == (persons_before, clients_before)


async def test_updating_an_unknown_client_answers_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await _update(world, client_id=3, first_name="Пётр")


async def test_updated_card_is_what_was_committed(world: World) -> None:
    await register(world)

    card = await _update(world, email="ivan@example.com")

    assert card.client == rows(world, "clients")[0]


# --- audit retention ----------------------------------------------------------------------


async def test_purging_the_audit_trail_deletes_only_events_older_than_the_retention(world: World) -> None:
    await register(world)
    world.clock.advance(timedelta(days=100))
    await _check(world, "+79111234568")
    kept = audit_events(world)[-1]

    deleted = await purge_audit_trail(PurgeAuditTrail(retention=timedelta(days=90)), world.audit())

    assert deleted > 0
    assert audit_events(world) == [kept]


async def test_a_retention_shorter_than_thirty_days_is_refused(world: World) -> None:
    await register(world)

    with pytest.raises(ValidationError) as refused:
        await purge_audit_trail(PurgeAuditTrail(retention=timedelta(days=29)), world.audit())

    assert refused.value.message == "Срок хранения журнала — не меньше 30 дней"
    assert audit_events(world)
