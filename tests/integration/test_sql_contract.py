"""The repository and unit-of-work contract, the same on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
import sqlalchemy as sa

from barbershop_adapters.sqlalchemy import tables
from barbershop_core.model import (
    UNSAVED,
    AddressKind,
    AttemptOutcome,
    AuditAction,
    AuditEvent,
    Channel,
    Client,
    Consent,
    IdempotencyRecord,
    IdempotencyState,
    Manager,
    NotificationStatus,
    NotificationTemplate,
    Partner,
    Person,
    ProviderReport,
    Purchase,
    Staleness,
    TemplateKind,
)
from barbershop_core.ports import (
    AuditQuery,
    KnownPerson,
    NewRegistration,
    PromoParticipantIds,
    PromoParticipantRow,
    PromoSignUp,
    Route,
    RouteChanged,
    UniqueViolation,
)
from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from barbershop_core.values import Email, FirstName, FullName, Login, Money, PhoneNumber
from tests.fakes import FakeUnitOfWork
from tests.integration.sql_fixtures import (
    ALL_BACKENDS,
    NOW,
    OTHER_PHONE,
    PHONE,
    Backend,
    a_notification,
    a_person,
    add_client,
    add_partner,
    stored_notification,
)

pytestmark = pytest.mark.parametrize("backend", ALL_BACKENDS, indirect=True)

# -- unit of work -------------------------------------------------------------------------


async def test_add_assigns_ids_and_a_committed_person_reads_back_equal(backend: Backend) -> None:
    person, other = a_person(), a_person(OTHER_PHONE)
    async with backend.uow_factory() as uow:
        await uow.persons.add(person)
        await uow.persons.add(other)
        await uow.commit()
    assert person.id > 0
    assert other.id > 0
    assert person.id != other.id
    async with backend.uow_factory() as uow:
        stored = await uow.persons.get(person.id)
        assert await uow.persons.get_by_phone(PHONE) == person
        assert await uow.persons.get(person.id + other.id + 1000) is None
        assert await uow.persons.get_by_phone(PhoneNumber("+79990000000")) is None
    assert stored == person
    assert isinstance(stored.phone, PhoneNumber)
    assert isinstance(stored.login, Login)
    assert isinstance(stored.first_name, FirstName)


async def test_timezone_aware_datetimes_come_back_aware_and_as_the_same_instant(backend: Backend) -> None:
    person = a_person()
    async with backend.uow_factory() as uow:
        await uow.persons.add(person)
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.persons.get(person.id)
    assert stored is not None
    assert stored.temporary_password_expires_at is not None
    assert stored.temporary_password_expires_at.utcoffset() is not None
    assert stored.temporary_password_expires_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert stored.created_at == NOW  # microseconds included
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_leaving_without_commit_rolls_back(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person())
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is None


async def test_an_error_inside_the_block_rolls_back_and_propagates(backend: Backend) -> None:
    async def add_then_fail() -> None:
        async with backend.uow_factory() as uow:
            await uow.persons.add(a_person())
            raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        await add_then_fail()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is None


async def test_explicit_rollback_discards_the_work_since_the_last_commit(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person())
        await uow.commit()
        await uow.persons.add(a_person(OTHER_PHONE))
        await uow.rollback()
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is not None
        assert await uow.persons.get_by_phone(OTHER_PHONE) is None


async def test_the_unit_of_work_stays_usable_after_commit(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.commit()
        assert await uow.clients.get(client.id) == client
        await uow.consents.add(Consent(client.id, "personal_data", True, NOW, "manager:1"))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert len(await uow.consents.list_for_client(client.id)) == 1


async def test_a_change_without_save_is_not_stored(backend: Backend) -> None:
    person = a_person()
    async with backend.uow_factory() as uow:
        await uow.persons.add(person)
        await uow.commit()
    async with backend.uow_factory() as uow:
        loaded = await uow.persons.get(person.id)
        assert loaded is not None
        loaded.first_name = FirstName("Пётр")
        await uow.commit()
    async with backend.uow_factory() as uow:
        again = await uow.persons.get(person.id)
    assert again is not None
    assert again.first_name == FirstName("Иван")


async def test_save_stores_every_changed_field(backend: Backend) -> None:
    person = a_person()
    async with backend.uow_factory() as uow:
        await uow.persons.add(person)
        await uow.commit()
    person.phone = OTHER_PHONE
    person.login = Login("ivan.petrov")
    person.first_name = FirstName("Пётр")
    person.password_hash = "$argon2id$new"
    person.must_change_password = False
    person.temporary_password_expires_at = None
    person.temporary_password_voided_at = NOW
    person.first_signed_in_at = NOW
    person.session_version = 3
    async with backend.uow_factory() as uow:
        await uow.persons.save(person)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get(person.id) == person
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.persons.get_by_phone(OTHER_PHONE) == person


async def test_a_client_read_with_its_person_carries_the_account_fields(backend: Backend) -> None:
    person = a_person()
    async with backend.uow_factory() as uow:
        await uow.persons.add(person)
        client = Client(person.id, NOW, "manager:1", "manager")
        await uow.clients.add(client)
        await uow.commit()
    person.first_signed_in_at = NOW
    person.temporary_password_voided_at = NOW
    person.end_sessions()
    async with backend.uow_factory() as uow:
        await uow.persons.save(person)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.clients.get_with_person(client.id) == (client, person)


async def test_saving_an_entity_that_was_never_added_is_refused(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        with pytest.raises(KeyError):
            await uow.persons.save(a_person())


async def test_saving_a_notification_that_was_never_added_is_refused_and_an_unchanged_one_is_not(
    backend: Backend,
) -> None:
    async with backend.uow_factory() as uow:
        notification = a_notification((await add_client(uow)).id)
        await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        await uow.notifications.save(notification)
        await uow.notifications.save(notification)
        never_added = a_notification(notification.client_id)
        never_added.id = notification.id + 1000
        with pytest.raises(KeyError):
            await uow.notifications.save(never_added)
    async with backend.uow_factory() as uow:
        another = a_notification(notification.client_id)
        another.id = notification.id + 1001
        with pytest.raises(KeyError):
            await uow.notifications.save_many([notification, never_added, another])


# -- uniqueness ---------------------------------------------------------------------------


async def test_a_second_person_with_the_same_phone_is_a_person_phone_violation(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person())
        await uow.commit()
    duplicate = a_person(login="another-login")
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.persons.add(duplicate)
    assert raised.value.what == "person_phone"
    assert duplicate.id == 0
    # Nothing of the driver's error (which quotes the raw phone) travels with it.
    assert PHONE.e164 not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


async def test_a_clash_within_one_transaction_is_caught_too(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person())
        with pytest.raises(UniqueViolation, match="person_phone"):
            await uow.persons.add(a_person(login="another-login"))


async def test_a_clash_costs_only_its_statement_and_the_transaction_goes_on(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person())
        with pytest.raises(UniqueViolation):
            await uow.persons.add(a_person(login="another-login"))
        await uow.persons.add(a_person(OTHER_PHONE))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is not None
        assert await uow.persons.get_by_phone(OTHER_PHONE) is not None


async def test_a_taken_login_is_a_person_login_violation(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.persons.add(a_person(login="ivan"))
        await uow.commit()
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.persons.add(a_person(OTHER_PHONE, login="ivan"))
    assert raised.value.what == "person_login"


async def test_saving_a_person_onto_a_taken_phone_is_a_person_phone_violation(backend: Backend) -> None:
    first, second = a_person(), a_person(OTHER_PHONE)
    async with backend.uow_factory() as uow:
        await uow.persons.add(first)
        await uow.persons.add(second)
        await uow.commit()
    second.phone = PHONE
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.persons.save(second)
    assert raised.value.what == "person_phone"


async def test_a_second_client_of_one_person_is_a_client_person_violation(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.commit()
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.clients.add(attrs.evolve(client, id=0, source="partner:retail-1"))
    assert raised.value.what == "client_person"


async def test_a_taken_manager_login_is_a_manager_login_violation(backend: Backend) -> None:
    def manager() -> Manager:
        return Manager(login=Login("admin"), display_name="Admin", password_hash="h", created_at=NOW)

    async with backend.uow_factory() as uow:
        await uow.managers.add(manager())
        await uow.commit()
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.managers.add(manager())
    assert raised.value.what == "manager_login"


async def test_partner_name_and_key_digest_are_each_unique(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await add_partner(uow, "retail-1")
        await uow.commit()
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as by_name:
            await uow.partners.add(Partner(name="retail-1", key_digest="fresh", created_at=NOW))
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as by_key:
            await uow.partners.add(Partner(name="retail-2", key_digest="digest-of-retail-1", created_at=NOW))
    assert by_name.value.what == "partner_name"
    assert by_key.value.what == "partner_key"


# -- clients, consents, managers, partners, purchases --------------------------------------


async def test_a_client_round_trips_with_its_value_objects_and_accounts(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        person = a_person()
        await uow.persons.add(person)
        client = Client(
            person_id=person.id,
            registered_at=NOW,
            registered_by="partner:3",
            source="partner:retail-1",
            full_name=FullName("Иванов Иван Иванович"),
            email=Email("ivan@example.ru"),
            channel_accounts={"vk": "id12345", "telegram": "@ivan"},
        )
        await uow.clients.add(client)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.clients.get(client.id) == client
        assert await uow.clients.get_by_person(person.id) == client
        assert await uow.clients.get_by_person(person.id + 1000) is None
    client.email = Email("ivan.new@example.ru")
    client.channel_accounts = {}
    client.full_name = None
    async with backend.uow_factory() as uow:
        await uow.clients.save(client)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.clients.get(client.id) == client


async def test_consents_are_listed_oldest_first(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        other = await add_client(uow, OTHER_PHONE)
        await uow.consents.add(Consent(client.id, "marketing", True, NOW, "manager:1"))
        await uow.consents.add(Consent(other.id, "marketing", True, NOW, "manager:1"))
        later = Consent(client.id, "marketing", False, NOW + timedelta(minutes=1), "manager:2")
        await uow.consents.add(later)
        await uow.commit()
    async with backend.uow_factory() as uow:
        history = await uow.consents.list_for_client(client.id)
    assert [(c.granted, c.recorded_by) for c in history] == [(True, "manager:1"), (False, "manager:2")]
    assert history[-1] == later
    assert history[0].id < history[1].id


async def test_managers_are_found_by_id_and_login_saved_and_counted(backend: Backend) -> None:
    manager = Manager(login=Login("admin"), display_name="Админ", password_hash="h1", created_at=NOW)
    async with backend.uow_factory() as uow:
        assert await uow.managers.count() == 0
        await uow.managers.add(manager)
        await uow.managers.add(Manager(login=Login("desk"), display_name="Desk", password_hash="h", created_at=NOW))
        await uow.commit()
    manager.password_hash = "h2"
    manager.must_change_password = True
    manager.is_active = False
    async with backend.uow_factory() as uow:
        await uow.managers.save(manager)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.managers.count() == 2
        assert await uow.managers.get(manager.id) == manager
        assert await uow.managers.get_by_login("admin") == manager
        assert await uow.managers.get_by_login("ADMIN") is None
        assert await uow.managers.get_by_login("nobody") is None


async def test_the_session_reader_reads_committed_managers_clients_and_partners_outside_a_unit_of_work(
    backend: Backend,
) -> None:
    manager = Manager(login=Login("admin"), display_name="Админ", password_hash="h1", created_at=NOW)
    async with backend.uow_factory() as uow:
        await uow.managers.add(manager)
        client = await add_client(uow)
        partner = await add_partner(uow)
        await uow.commit()
    async with backend.uow_factory() as uow:
        person = await uow.persons.get(client.person_id)
        await uow.managers.add(Manager(login=Login("desk"), display_name="Desk", password_hash="h", created_at=NOW))
        # Not committed yet: what a session check reads is committed data.
        assert await backend.sessions.manager(manager.id + 1) is None

    assert await backend.sessions.manager(manager.id) == manager
    assert await backend.sessions.manager(manager.id + 100) is None
    assert await backend.sessions.client_with_person(client.id) == (client, person)
    assert await backend.sessions.client_with_person(client.id + 100) is None
    assert await backend.sessions.partner_by_key_digest(partner.key_digest) == partner
    assert await backend.sessions.partner_by_key_digest("digest-of-nobody") is None


async def test_partners_are_found_by_id_name_and_key_digest_and_can_be_revoked(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        partner = await add_partner(uow)
        await uow.commit()
    partner.revoked_at = NOW + timedelta(days=1)
    async with backend.uow_factory() as uow:
        await uow.partners.save(partner)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.partners.get(partner.id) == partner
        assert await uow.partners.get_by_name("retail-1") == partner
        assert await uow.partners.get_by_key_digest("digest-of-retail-1") == partner
        assert await uow.partners.get_by_key_digest("unknown") is None
        assert await uow.partners.get_by_name("unknown") is None


async def test_purchases_keep_exact_prices_in_order(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        partner = await add_partner(uow)
        prices = [Decimal("99999999.99"), Decimal("0.01"), Decimal("1234.50")]
        added = [Purchase(client.id, partner.id, f"Товар {n}", Money(price), NOW) for n, price in enumerate(prices)]
        for purchase in added:
            await uow.purchases.add(purchase)
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.purchases.list_for_client(client.id)
        assert await uow.purchases.list_for_client(client.id + 1000) == []
    assert stored == added
    assert [p.price.amount for p in stored] == prices
    assert str(stored[2].price) == "1234.50"


# -- notifications ------------------------------------------------------------------------


async def test_a_notification_round_trips_with_secret_history_and_attempts(backend: Backend) -> None:
    notification = await stored_notification(backend)
    assert notification.id > 0
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(notification.id)
        assert await uow.notifications.get(notification.id + 1000) is None
    assert stored == notification
    assert stored.secret == b"sealed:\x00\xffsecret"
    assert stored.kind is TemplateKind.SERVICE
    assert stored.status is NotificationStatus.SCHEDULED


async def test_saving_a_notification_appends_its_new_history_and_attempts(backend: Backend) -> None:
    notification = await stored_notification(backend)
    later = NOW + timedelta(seconds=5)
    async with backend.uow_factory() as uow:
        loaded = await uow.notifications.get_for_update(notification.id)
        assert loaded is not None
        loaded.claim(later, later + timedelta(minutes=2))
        loaded.record_retryable_failure(later, "timeout", later + timedelta(seconds=30))
        await uow.notifications.save(loaded)
        await uow.commit()
    async with backend.uow_factory() as uow:
        again = await uow.notifications.get_for_update(notification.id)
        assert again is not None
        again.record_sent(later + timedelta(seconds=31), "provider-42")
        again.apply_delivery_report(later + timedelta(seconds=40), NotificationStatus.DELIVERED, None)
        await uow.notifications.save(again)
        await uow.commit()
    async with backend.uow_factory() as uow:
        final = await uow.notifications.get(notification.id)
    assert final == again
    assert final is not None
    assert [change.status for change in final.history] == [
        NotificationStatus.SCHEDULED,
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
    ]
    assert [(a.number, a.outcome) for a in final.attempts] == [
        (1, AttemptOutcome.RETRYABLE_FAILURE),
        (2, AttemptOutcome.SENT),
    ]
    assert final.secret is None
    assert final.provider_message_id == "provider-42"


async def test_history_and_attempt_instants_read_back_to_the_microsecond(backend: Backend) -> None:
    claimed = datetime(2026, 12, 2, 10, 14, 15, 123456, tzinfo=UTC)
    sent = datetime(2026, 12, 2, 10, 14, 16, tzinfo=UTC)  # no fraction of a second
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notification = a_notification(client.id)
        await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        loaded = await uow.notifications.get_for_update(notification.id)
        assert loaded is not None
        loaded.claim(claimed, claimed + timedelta(minutes=2))
        loaded.record_retryable_failure(claimed, "timeout", claimed)
        loaded.claim(claimed, claimed + timedelta(minutes=2))
        loaded.record_sent(sent, "provider-1")
        await uow.notifications.save(loaded)
        await uow.commit()

    async with backend.uow_factory() as uow:
        [by_client] = await uow.notifications.list_for_client(client.id)
        [locked] = await uow.notifications.get_many_for_update([notification.id])

    for stored in (by_client, locked):
        assert stored == loaded
        assert [attempt.at for attempt in stored.attempts] == [claimed, sent]
        assert stored.history[-1].at == sent
        assert stored.attempts[0].at.utcoffset() == timedelta(0)


async def test_several_notifications_are_read_in_id_order_and_saved_together(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notifications = [a_notification(client.id) for _ in range(3)]
        for notification in notifications:
            await uow.notifications.add(notification)
        await uow.commit()
    first, second, third = notifications
    later = NOW + timedelta(seconds=5)
    async with backend.uow_factory() as uow:
        unknown = third.id + 1000
        loaded = await uow.notifications.get_many_for_update([third.id, unknown, first.id, third.id])
        assert loaded == [first, third]
        assert await uow.notifications.get_many_for_update([]) == []
        sent, failed = loaded
        sent.claim(later, later + timedelta(minutes=2))
        sent.record_sent(later, "provider-1")
        failed.record_permanent_failure(later, "номер не существует")
        await uow.notifications.save_many([sent, failed])
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get_many_for_update([first.id, second.id, third.id])
    assert stored == [sent, second, failed]
    assert [change.status for change in stored[0].history] == [NotificationStatus.SCHEDULED, NotificationStatus.SENT]
    assert [(a.number, a.outcome) for a in stored[2].attempts] == [(1, AttemptOutcome.PERMANENT_FAILURE)]
    assert stored[2].last_error == "номер не существует"


async def test_notifications_saved_together_are_handed_off_like_single_saves(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        held = [a_notification(client.id, held=True) for _ in range(2)]
        for notification in held:
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        loaded = await uow.notifications.get_many_for_update([n.id for n in held])
        for notification in loaded:
            notification.release(NOW, "sms")
        await uow.notifications.save_many(loaded)
        assert backend.queue.enqueued == []
        await uow.commit()
    assert backend.queue.enqueued == [n.id for n in held]


async def test_several_clients_are_read_with_their_persons_by_id(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        other = await add_client(uow, OTHER_PHONE)
        await uow.commit()
    async with backend.uow_factory() as uow:
        both = await uow.clients.get_many_with_person([other.id, client.id, other.id, other.id + 1000])
        assert await uow.clients.get_many_with_person([]) == {}
        assert dict(both) == {
            client.id: await uow.clients.get_with_person(client.id),
            other.id: await uow.clients.get_with_person(other.id),
        }


async def test_notifications_of_a_client_are_listed_in_creation_order(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        other = await add_client(uow, OTHER_PHONE)
        first, foreign, second = a_notification(client.id), a_notification(other.id), a_notification(client.id)
        for notification in (first, foreign, second):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.notifications.list_for_client(client.id) == [first, second]
        assert await uow.notifications.list_for_client(client.id + other.id + 1000) == []


async def test_due_ids_are_scheduled_due_unleased_oldest_first_and_limited(backend: Backend) -> None:
    now = NOW + timedelta(hours=1)
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        late = a_notification(client.id, now=NOW + timedelta(minutes=10))
        early = a_notification(client.id, now=NOW)
        future = a_notification(client.id, now=now + timedelta(seconds=1))
        leased = a_notification(client.id, now=NOW)
        leased.claim(now, now + timedelta(minutes=2))
        lease_over = a_notification(client.id, now=NOW + timedelta(minutes=20))
        lease_over.claim(NOW + timedelta(minutes=30), now)  # the lease ends exactly now
        held = a_notification(client.id, now=NOW, held=True)
        sent = a_notification(client.id, now=NOW)
        sent.record_sent(NOW, "provider-1")
        exactly_now = a_notification(client.id, now=now)
        for notification in (late, early, future, leased, lease_over, held, sent, exactly_now):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        due = await uow.notifications.due_ids(now, 10)
        first_two = await uow.notifications.due_ids(now, 2)
    assert list(due) == [early.id, late.id, lease_over.id, exactly_now.id]
    assert list(first_two) == [early.id, late.id]


async def test_notifications_needing_attention_are_failed_or_held_and_not_superseded(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        failed, held, superseded, scheduled = (a_notification(client.id) for _ in range(4))
        failed.fail(NOW, "Попытки отправки исчерпаны")
        held.hold(NOW, "Канал недоступен")
        superseded.fail(NOW, "нет")
        for notification in (failed, held, superseded, scheduled):
            await uow.notifications.add(notification)
        replacement = a_notification(client.id)
        replacement.resend_of = superseded.id
        await uow.notifications.add(replacement)
        superseded.superseded_by = replacement.id
        await uow.notifications.save(superseded)
        await uow.commit()
    async with backend.uow_factory() as uow:
        attention = await uow.notifications.list_needing_attention(10)
        only_one = await uow.notifications.list_needing_attention(1)
        stored_replacement = await uow.notifications.get(replacement.id)
    assert [n.id for n in attention] == [failed.id, held.id]
    assert [n.id for n in only_one] == [failed.id]
    assert stored_replacement is not None
    assert stored_replacement.resend_of == superseded.id


async def test_a_notification_is_found_by_its_channel_and_provider_message_id(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        sms, other_channel, unsent = a_notification(client.id), a_notification(client.id), a_notification(client.id)
        other_channel.channel = "whatsapp"
        sms.record_sent(NOW, "wamid.1")
        other_channel.record_sent(NOW, "wamid.2")
        for notification in (sms, other_channel, unsent):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        found = await uow.notifications.get_by_provider_message_id("sms", "wamid.1")
        assert found == sms
        assert await uow.notifications.get_by_provider_message_id("whatsapp", "wamid.1") is None
        assert await uow.notifications.get_by_provider_message_id("sms", "wamid.2") is None
        assert await uow.notifications.get_by_provider_message_id("whatsapp", "wamid.2") == other_channel


async def test_notifications_awaiting_their_fallback_step_are_listed_and_not_alerted(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        waiting, failed, other = a_notification(client.id), a_notification(client.id), a_notification(client.id)
        waiting.fail(NOW, "нет")
        waiting.await_fallback()
        failed.fail(NOW, "нет")
        for notification in (waiting, failed, other):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert list(await uow.notifications.fallback_pending_ids(10)) == [waiting.id]
        assert [n.id for n in await uow.notifications.list_needing_attention(10)] == [failed.id]
        stored = await uow.notifications.get(waiting.id)
        assert stored is not None
        assert stored.fallback_pending
        stored.fallback_pending = False
        await uow.notifications.save(stored)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert list(await uow.notifications.fallback_pending_ids(10)) == []


def a_report(
    message_id: str, status: NotificationStatus = NotificationStatus.DELIVERED, **changes: object
) -> ProviderReport:
    report = ProviderReport(channel="sms", provider_message_id=message_id, status=status, received_at=NOW)
    return attrs.evolve(report, **changes)


async def test_a_saved_notification_is_seen_by_the_rest_of_its_unit_of_work(backend: Backend) -> None:
    """A save may be written later, with the commit; every statement in between sees it."""
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notification = a_notification(client.id)
        await uow.notifications.add(notification)
        assert await uow.provider_reports.keep(a_report("sms-7"))
        await uow.commit()
    async with backend.uow_factory() as uow:
        [loaded] = await uow.notifications.get_many_for_update([notification.id])
        loaded.record_sent(NOW, "sms-7")
        await uow.notifications.save(loaded)

        matched = await uow.provider_reports.list_matched(10)  # joins the notifications' rows

        assert [report.provider_message_id for report in matched] == ["sms-7"]
        await uow.rollback()
    async with backend.uow_factory() as uow:
        assert await uow.provider_reports.list_matched(10) == []  # nothing of it was kept


async def test_a_saved_notification_survives_a_clash_that_follows_it_in_its_unit_of_work(backend: Backend) -> None:
    """The clash costs only its own statement (its savepoint), not a save made before it."""
    notification = await stored_notification(backend)
    async with backend.uow_factory() as uow:
        [loaded] = await uow.notifications.get_many_for_update([notification.id])
        loaded.record_sent(NOW, "sms-8")
        await uow.notifications.save(loaded)
        with pytest.raises(UniqueViolation):
            await uow.persons.add(a_person(login="someone-else"))  # the phone is taken
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(notification.id)
    assert stored == loaded
    assert stored is not None
    assert stored.provider_message_id == "sms-8"


async def test_a_provider_report_is_kept_once_and_listed_when_its_message_id_turns_up(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        assert await uow.provider_reports.keep(a_report("sms-1", error=None))
        assert not await uow.provider_reports.keep(a_report("sms-1"))  # the provider's retry
        assert await uow.provider_reports.keep(a_report("sms-1", NotificationStatus.FAILED, error="нет"))
        assert await uow.provider_reports.keep(a_report("sms-2"))
        assert await uow.provider_reports.keep(a_report("sms-1", channel="whatsapp"))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.provider_reports.list_matched(10) == []
        client = await add_client(uow)
        notification = a_notification(client.id)
        notification.record_sent(NOW, "sms-1")
        await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        matched = list(await uow.provider_reports.list_matched(10))
        assert [(r.provider_message_id, r.status, r.error) for r in matched] == [
            ("sms-1", NotificationStatus.DELIVERED, None),
            ("sms-1", NotificationStatus.FAILED, "нет"),
        ]
        assert all(r.channel == "sms" and r.received_at == NOW and r.id > 0 for r in matched)
        assert [r.id for r in await uow.provider_reports.list_matched(1)] == [matched[0].id]
        await uow.provider_reports.delete(matched[0].id)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert [r.id for r in await uow.provider_reports.list_matched(10)] == [matched[1].id]


async def test_kept_reports_older_than_the_limit_are_purged(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.provider_reports.keep(a_report("old", received_at=NOW - timedelta(days=8)))
        await uow.provider_reports.keep(a_report("new"))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.provider_reports.purge_before(NOW - timedelta(days=7)) == 1
        client = await add_client(uow)
        for message_id in ("old", "new"):
            notification = a_notification(client.id)
            notification.record_sent(NOW, message_id)
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert [r.provider_message_id for r in await uow.provider_reports.list_matched(10)] == ["new"]


async def test_held_notifications_are_listed_by_channel(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        held_sms = a_notification(client.id, held=True)
        held_vk = attrs.evolve(a_notification(client.id, held=True), channel="vk")
        for notification in (held_sms, held_vk, a_notification(client.id)):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert [n.id for n in await uow.notifications.list_held(None, 10)] == [held_sms.id, held_vk.id]
        assert [n.id for n in await uow.notifications.list_held("vk", 10)] == [held_vk.id]
        assert [n.id for n in await uow.notifications.list_held(None, 1)] == [held_sms.id]


async def test_notifications_with_expired_secrets_are_found(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        expired = a_notification(client.id, now=NOW - timedelta(hours=73))
        fresh = a_notification(client.id)
        wiped = a_notification(client.id, now=NOW - timedelta(hours=73))
        wiped.wipe_secret()
        for notification in (expired, fresh, wiped):
            await uow.notifications.add(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        found = await uow.notifications.with_expired_secrets(NOW, 10)
    assert [n.id for n in found] == [expired.id]


# -- audit --------------------------------------------------------------------------------


async def test_audit_events_are_listed_newest_first_filtered_and_limited(backend: Backend) -> None:
    def event(action: AuditAction, client_id: int | None, notification_id: int | None = None) -> AuditEvent:
        return AuditEvent(
            action=action,
            actor="manager:1",
            occurred_at=NOW,
            request_id="req-1",
            person_id=7,
            client_id=client_id,
            notification_id=notification_id,
            masked_phone=PHONE.masked,
            details={"channel": "sms", "exists": "false"},
        )

    async with backend.uow_factory() as uow:
        for appended in (
            event(AuditAction.PERSON_CREATED, None),
            event(AuditAction.CLIENT_CREATED, 1),
            event(AuditAction.NOTIFICATION_SCHEDULED, 1, 5),
            event(AuditAction.CLIENT_CREATED, 2),
        ):
            uow.record(appended)
        await uow.commit()
    async with backend.uow_factory() as uow:
        everything = await uow.audit.list_recent()
        of_client = await uow.audit.list_recent(client_id=1)
        of_notification = await uow.audit.list_recent(notification_id=5)
        newest = await uow.audit.list_recent(limit=1)
    assert [e.action for e in everything] == [
        AuditAction.CLIENT_CREATED,
        AuditAction.NOTIFICATION_SCHEDULED,
        AuditAction.CLIENT_CREATED,
        AuditAction.PERSON_CREATED,
    ]
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    assert all(e.id > 0 for e in everything)
    assert [e.action for e in of_client] == [AuditAction.NOTIFICATION_SCHEDULED, AuditAction.CLIENT_CREATED]
    assert [attrs.evolve(e, id=0) for e in of_notification] == [event(AuditAction.NOTIFICATION_SCHEDULED, 1, 5)]
    assert newest == everything[:1]


# -- reference data -----------------------------------------------------------------------


async def test_the_shipped_channels_and_welcome_templates_are_there_from_the_start(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        channels = await uow.reference.list_channels()
        templates = await uow.reference.list_templates()
        vk = await uow.reference.get_channel("vk")
        welcome = await uow.reference.get_template("REG_WELCOME", "local")
    assert sorted(channels, key=lambda c: c.code) == sorted(DEFAULT_CHANNELS, key=lambda c: c.code)
    assert sorted(templates, key=lambda t: t.channel) == sorted(DEFAULT_TEMPLATES, key=lambda t: t.channel)
    assert vk is not None
    assert vk.address_kind is AddressKind.ACCOUNT
    assert welcome in DEFAULT_TEMPLATES


async def test_saving_reference_data_inserts_or_updates_by_its_key(backend: Backend) -> None:
    changed_sms = Channel("sms", "SMS-шлюз", is_active=False)
    new_channel = Channel("max", "MAX", address_kind=AddressKind.ACCOUNT)
    promo = NotificationTemplate("PROMO", "max", TemplateKind.MARKETING, "{first_name}, скидка!")
    async with backend.uow_factory() as uow:
        await uow.reference.save_channel(changed_sms)
        await uow.reference.save_channel(new_channel)
        await uow.reference.save_template(promo)
        await uow.reference.save_template(attrs.evolve(promo, body="{first_name}, скидка 20%!", is_active=False))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.reference.get_channel("sms") == changed_sms
        assert await uow.reference.get_channel("max") == new_channel
        assert await uow.reference.get_channel("nope") is None
        assert await uow.reference.get_template("PROMO", "max") == attrs.evolve(
            promo, body="{first_name}, скидка 20%!", is_active=False
        )
        assert await uow.reference.get_template("PROMO", "sms") is None
        assert len(await uow.reference.list_channels()) == len(DEFAULT_CHANNELS) + 1


async def test_notifications_to_send_come_locked_with_their_recipient_and_route(backend: Backend) -> None:
    """The claim's one read: each notification with its client and person and its channel
    and template, as ``get_route`` would read them; unknown ids left out, in id order."""
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        welcome = a_notification(client.id)  # sms, REG_WELCOME: both shipped
        no_template = attrs.evolve(a_notification(client.id), template_code="NO_SUCH_TEMPLATE")
        no_channel = attrs.evolve(a_notification(client.id), channel="pigeon")
        for notification in (welcome, no_template, no_channel):
            await uow.notifications.add(notification)
        await uow.commit()
    ids = [no_channel.id, welcome.id, welcome.id + 1000, no_template.id]

    async with backend.uow_factory() as uow:
        found = await uow.notifications.get_many_to_send(ids)
        routes = [await uow.reference.get_route(n.channel, n.template_code) for n in (welcome, no_template, no_channel)]
        expected_recipient = await uow.clients.get_with_person(client.id)

    assert [each.notification for each in found] == [welcome, no_template, no_channel]
    assert [each.recipient for each in found] == [expected_recipient] * 3
    assert [(each.channel, each.template) for each in found] == routes
    assert None not in routes[0]
    assert routes[1][0] is not None
    assert routes[1][1] is None
    assert routes[2] == (None, None)


async def test_notifications_to_send_see_inactive_routes_as_get_route_does(backend: Backend) -> None:
    """The claim's rules decide on an inactive channel or template: the read hands them over
    as they are; a template of the code on another channel is not this channel's."""
    async with backend.uow_factory() as uow:
        await uow.reference.save_channel(Channel("max", "MAX", is_active=False, address_kind=AddressKind.ACCOUNT))
        await uow.reference.save_template(
            NotificationTemplate("PROMO", "max", TemplateKind.MARKETING, "{first_name}!", is_active=False)
        )
        await uow.reference.save_template(NotificationTemplate("ONLY_SMS", "sms", TemplateKind.SERVICE, "{login}"))
        client = await add_client(uow)
        inactive = attrs.evolve(a_notification(client.id), channel="max", template_code="PROMO")
        elsewhere = attrs.evolve(a_notification(client.id), channel="max", template_code="ONLY_SMS")
        for notification in (inactive, elsewhere):
            await uow.notifications.add(notification)
        await uow.commit()

    async with backend.uow_factory() as uow:
        found = await uow.notifications.get_many_to_send([inactive.id, elsewhere.id])
        routes = [await uow.reference.get_route(n.channel, n.template_code) for n in (inactive, elsewhere)]

    assert [(each.channel, each.template) for each in found] == routes
    channel, template = routes[0]
    assert channel is not None
    assert not channel.is_active
    assert template is not None
    assert not template.is_active
    assert routes[1][0] == channel
    assert routes[1][1] is None


# -- idempotency records ------------------------------------------------------------------


def a_record(key: str = "key:abc", *, expires_at: datetime = NOW + timedelta(hours=24)) -> IdempotencyRecord:
    return IdempotencyRecord("partner:1", key, "f" * 64, NOW, expires_at)


async def test_an_idempotency_record_is_claimed_once_completed_and_released(backend: Backend) -> None:
    record = a_record()
    async with backend.uow_factory() as uow:
        await uow.idempotency.add(record)
        await uow.commit()
    async with backend.uow_factory() as uow:
        with pytest.raises(UniqueViolation) as raised:
            await uow.idempotency.add(a_record())
    assert raised.value.what == "idempotency_key"
    record.state = IdempotencyState.COMPLETED
    record.result_id = 42
    async with backend.uow_factory() as uow:
        await uow.idempotency.save(record)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.idempotency.get("partner:1", "key:abc") == record
        assert await uow.idempotency.get("partner:2", "key:abc") is None
        await uow.idempotency.delete("partner:1", "key:abc")
        await uow.idempotency.delete("partner:1", "key:never-there")
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.idempotency.get("partner:1", "key:abc") is None
        await uow.idempotency.add(a_record())  # the key may be claimed again
        await uow.commit()


async def test_an_expired_key_deleted_in_a_transaction_may_be_claimed_again_in_it(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.idempotency.add(a_record(expires_at=NOW))
        await uow.commit()
    async with backend.uow_factory() as uow:
        await uow.idempotency.delete("partner:1", "key:abc")
        await uow.idempotency.add(a_record())
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.idempotency.get("partner:1", "key:abc")
    assert stored is not None
    assert stored.expires_at == NOW + timedelta(hours=24)


async def test_purging_removes_only_expired_idempotency_records(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.idempotency.add(a_record("key:old", expires_at=NOW - timedelta(seconds=1)))
        await uow.idempotency.add(a_record("key:edge", expires_at=NOW))
        await uow.idempotency.add(a_record("key:live", expires_at=NOW + timedelta(seconds=1)))
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.idempotency.purge_expired(NOW) == 2
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.idempotency.get("partner:1", "key:live") is not None
        assert await uow.idempotency.get("partner:1", "key:old") is None
        assert await uow.idempotency.purge_expired(NOW) == 0


# -- what the unit of work collects -------------------------------------------------------


def an_event(action: AuditAction = AuditAction.CLIENT_CREATED, client_id: int | None = 1) -> AuditEvent:
    return AuditEvent(action=action, actor="manager:1", occurred_at=NOW, client_id=client_id, details={"k": "v"})


async def test_recorded_events_are_written_with_the_commit_and_only_then(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        uow.record(an_event(AuditAction.PERSON_CREATED), an_event(AuditAction.CLIENT_CREATED))
        assert await uow.audit.list_recent() == []  # kept, not yet written
        uow.record(an_event(AuditAction.CONSENT_RECORDED))
        await uow.commit()
        await uow.commit()  # what was written is not written twice
    async with backend.uow_factory() as uow:
        stored = await uow.audit.list_recent()
    assert [e.action for e in reversed(stored)] == [
        AuditAction.PERSON_CREATED,
        AuditAction.CLIENT_CREATED,
        AuditAction.CONSENT_RECORDED,
    ]
    assert attrs.evolve(stored[0], id=0) == an_event(AuditAction.CONSENT_RECORDED)


async def test_recorded_events_are_dropped_by_a_rollback_or_a_block_left_without_commit(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        uow.record(an_event(AuditAction.PERSON_CREATED))
        await uow.rollback()
        uow.record(an_event(AuditAction.CLIENT_CREATED))
        await uow.commit()
        uow.record(an_event(AuditAction.CONSENT_RECORDED))
    async with backend.uow_factory() as uow:
        assert [e.action for e in await uow.audit.list_recent()] == [AuditAction.CLIENT_CREATED]


async def test_a_due_notification_is_handed_to_the_queue_after_the_commit_only(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        due, held = a_notification(client.id), a_notification(client.id, held=True)
        await uow.notifications.add(due)
        await uow.notifications.add(held)
        assert backend.queue.enqueued == []
        await uow.commit()
        assert backend.queue.enqueued == [due.id]
        assert not due.due_now
        await uow.commit()
    assert backend.queue.enqueued == [due.id]  # handed off once


async def test_nothing_is_handed_off_when_the_work_is_rolled_back(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.notifications.add(a_notification(client.id))
        await uow.rollback()
        await uow.commit()
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.notifications.add(a_notification(client.id))
    assert backend.queue.enqueued == []


async def test_a_held_notification_released_later_is_handed_off_when_that_work_commits(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        held = a_notification(client.id, held=True)
        await uow.notifications.add(held)
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get_for_update(held.id)
        assert stored is not None
        assert not stored.due_now  # the flag is an event, never stored
        stored.release(NOW, "sms")
        await uow.notifications.save(stored)
        await uow.commit()
    assert backend.queue.enqueued == [held.id]


async def test_a_queue_that_fails_leaves_the_commit_standing(backend: Backend) -> None:
    backend.queue.available = False
    notification = await stored_notification(backend)
    async with backend.uow_factory() as uow:
        assert await uow.notifications.get(notification.id) is not None
    assert backend.queue.enqueued == []


async def test_add_if_new_adds_a_new_phone_and_returns_the_stored_person_for_a_known_one(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        first = a_person()
        assert await uow.persons.add_if_new(first) is None
        assert first.id > 0
        second = a_person()
        known = await uow.persons.add_if_new(second)
        assert known is not None
        assert known.id == first.id
        assert second.id == 0
        # No error was raised: the transaction goes on.
        assert await uow.persons.add_if_new(a_person(OTHER_PHONE)) is None
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(OTHER_PHONE) is not None


async def test_add_if_new_for_clients_returns_the_client_the_person_already_is(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        other = attrs.evolve(client, id=0, source="partner:retail-1")
        known = await uow.clients.add_if_new(other)
        assert known == client
        assert other.id == 0
        person = a_person(OTHER_PHONE)
        await uow.persons.add(person)
        new = attrs.evolve(client, id=0, person_id=person.id)
        assert await uow.clients.add_if_new(new) is None
        assert new.id > 0
        found = await uow.clients.get_with_person(new.id)
        assert found == (new, person)
        assert await uow.clients.get_with_person(new.id + 100) is None


def a_registration(
    phone: PhoneNumber = PHONE, *, consents: dict[str, bool] | None = None, held: bool = False
) -> NewRegistration:
    """A new client's records as the registration makes them: no ids, no links yet."""
    granted = {"personal_data": True, "marketing": False} if consents is None else consents
    return NewRegistration(
        person=a_person(phone),
        client=Client(UNSAVED, NOW, "manager:1", "manager", channel_accounts={"vk": "id42"}),
        consents=[Consent(UNSAVED, code, value, NOW, "manager:1") for code, value in granted.items()],
        notification=a_notification(UNSAVED, held=held),
    )


async def test_a_registration_adds_its_records_linked_and_they_read_back_through_their_repositories(
    backend: Backend,
) -> None:
    registration = a_registration()
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(registration) is None
        assert backend.queue.enqueued == []
        await uow.commit()
    person, client, notification = registration.person, registration.client, registration.notification
    assert 0 < person.id == client.person_id
    assert 0 < client.id == notification.client_id
    assert all(consent.client_id == client.id for consent in registration.consents)
    assert 0 < registration.consents[0].id < registration.consents[1].id
    assert notification.id > 0
    assert backend.queue.enqueued == [notification.id]  # handed off after the commit, as an added one
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) == person
        assert await uow.clients.get_with_person(client.id) == (client, person)
        assert await uow.consents.list_for_client(client.id) == registration.consents
        stored = await uow.notifications.get(notification.id)
        assert stored == notification
        assert stored is not None
        assert [change.status for change in stored.history] == [NotificationStatus.SCHEDULED]
        # Its history is known to be stored: a save in the same unit appends, not repeats.
        stored.hold(NOW, "Отложено менеджером")
        await uow.notifications.save(stored)
        await uow.commit()
    async with backend.uow_factory() as uow:
        again = await uow.notifications.get(notification.id)
    assert again is not None
    assert [change.status for change in again.history] == [NotificationStatus.SCHEDULED, NotificationStatus.HELD]


async def test_a_new_notification_saved_in_the_unit_that_registered_it_keeps_each_history_entry_once(
    backend: Backend,
) -> None:
    registration = a_registration(consents={}, held=True)
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(registration) is None
        notification = registration.notification
        notification.release(NOW, "sms")
        await uow.notifications.save(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(notification.id)
        assert await uow.consents.list_for_client(registration.client.id) == []
    assert stored == notification
    assert [change.status for change in stored.history] == [NotificationStatus.HELD, NotificationStatus.SCHEDULED]


async def test_a_registration_of_a_known_phone_adds_nothing_and_answers_the_person_with_its_client(
    backend: Backend,
) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        person = await uow.persons.get(client.person_id)
        assert person is not None
        lone = a_person(OTHER_PHONE)
        await uow.persons.add(lone)
        await uow.commit()
    clashing, clashing_lone = a_registration(), a_registration(OTHER_PHONE)
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(clashing) == KnownPerson(person, client)
        assert await uow.registrations.add_if_new(clashing_lone) == KnownPerson(lone, None)
        # No error was raised: the transaction goes on.
        third = a_registration(PhoneNumber("+79990000000"))
        assert await uow.registrations.add_if_new(third) is None
        await uow.commit()
    for registration in (clashing, clashing_lone):
        assert registration.person.id == registration.client.id == registration.notification.id == 0
        assert all(consent.id == 0 for consent in registration.consents)
    assert backend.queue.enqueued == [third.notification.id]
    async with backend.uow_factory() as uow:
        assert [n.id for n in await uow.notifications.list_for_client(client.id)] == []
        assert await uow.clients.get_by_person(lone.id) is None
        assert await uow.clients.get_by_person(third.person.id) == third.client


def with_events(registration: NewRegistration) -> NewRegistration:
    """``registration`` with events as the registration makes them: its own records named UNSAVED."""
    person = registration.person
    return attrs.evolve(
        registration,
        events=[
            AuditEvent(
                AuditAction.PERSON_CREATED, "manager:1", NOW, "req-1", UNSAVED, None, None, person.phone.masked
            ),
            AuditEvent(AuditAction.CONSENT_RECORDED, "manager:1", NOW, "req-1", UNSAVED, UNSAVED,
                       details={"consent_type": "personal_data", "granted": "true"}),
            AuditEvent(AuditAction.NOTIFICATION_SCHEDULED, "manager:1", NOW, "req-1", UNSAVED, UNSAVED, UNSAVED),
            AuditEvent(AuditAction.CLIENT_UPDATED, "manager:1", NOW, None, 7, 8, 9),
        ],
    )  # fmt: skip


async def test_a_registrations_events_are_committed_with_it_naming_its_records_by_their_ids(backend: Backend) -> None:
    registration = with_events(a_registration())
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(registration) is None
        await uow.commit()
    person, client, notification = registration.person, registration.client, registration.notification
    async with backend.uow_factory() as uow:
        trail = await uow.audit.search(AuditQuery(limit=10))
    # Newest first: reversed, the order they were made in.
    assert [attrs.evolve(event, id=UNSAVED) for event in reversed(trail)] == [
        AuditEvent(AuditAction.PERSON_CREATED, "manager:1", NOW, "req-1", person.id, None, None, person.phone.masked),
        AuditEvent(AuditAction.CONSENT_RECORDED, "manager:1", NOW, "req-1", person.id, client.id,
                   details={"consent_type": "personal_data", "granted": "true"}),
        AuditEvent(AuditAction.NOTIFICATION_SCHEDULED, "manager:1", NOW, "req-1",
                   person.id, client.id, notification.id),
        AuditEvent(AuditAction.CLIENT_UPDATED, "manager:1", NOW, None, 7, 8, 9),
    ]  # fmt: skip


async def test_a_registrations_events_are_not_written_for_a_known_phone_nor_without_commit(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await add_client(uow)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(with_events(a_registration())) is not None
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(with_events(a_registration(OTHER_PHONE))) is None
    async with backend.uow_factory() as uow:
        assert await uow.audit.search(AuditQuery(limit=10)) == []


async def test_commit_if_new_commits_the_registration_and_hands_it_off(backend: Backend) -> None:
    registration = with_events(a_registration())
    async with backend.uow_factory() as uow:
        assert await uow.registrations.commit_if_new(registration) is None
        assert backend.queue.enqueued == [registration.notification.id]  # committed: handed off
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) == registration.person
        assert await uow.clients.get_by_person(registration.person.id) == registration.client
        assert len(await uow.audit.search(AuditQuery(limit=10))) == len(registration.events)


async def test_commit_if_new_for_a_known_phone_commits_nothing_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.commit()
    async with backend.uow_factory() as uow:
        known = await uow.registrations.commit_if_new(with_events(a_registration()))
        assert known is not None
        assert known.client == client
        third = a_registration(OTHER_PHONE)
        assert await uow.registrations.add_if_new(third) is None  # the same transaction goes on
    assert backend.queue.enqueued == []
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(OTHER_PHONE) is None  # left without commit
        assert await uow.audit.search(AuditQuery(limit=10)) == []


async def test_commit_if_new_commits_what_the_unit_of_work_recorded_before_in_the_same_transaction(
    backend: Backend,
) -> None:
    earlier = AuditEvent(AuditAction.CLIENT_UPDATED, "manager:1", NOW, None, 7, 8, 9)
    registration = a_registration()

    class Refused(Exception):
        pass

    async def refused() -> None:
        raise Refused

    async def register_with_the_commit_refused() -> None:
        async with backend.uow_factory() as uow:
            uow.record(earlier)
            uow.commit = refused  # type: ignore[method-assign]  # the commit fails after the write
            await uow.registrations.commit_if_new(registration)

    with pytest.raises(Refused):
        await register_with_the_commit_refused()
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.audit.search(AuditQuery(limit=10)) == []
    assert backend.queue.enqueued == []


WELCOME = ("sms", "REG_WELCOME")


async def saved_by_another_process(backend: Backend, template: NotificationTemplate) -> None:
    """``template`` stored as another process would: under this process's copies of routes."""
    if backend.engine is None:
        uow = backend.uow_factory()
        assert isinstance(uow, FakeUnitOfWork)
        uow.db.tables["templates"][template.code, template.channel] = template
        return
    async with backend.sql.begin() as connection:
        templates = tables.notification_templates
        await connection.execute(
            sa.update(templates)
            .where(templates.c.code == template.code, templates.c.channel == template.channel)
            .values(body=template.body, kind=template.kind.value, is_active=template.is_active)
        )


async def seen_and_changed_behind(backend: Backend) -> tuple[Route, NotificationTemplate]:
    """The welcome route as this process saw it, and its template as another process then saved it."""
    async with backend.uow_factory() as uow:
        channel, template = await uow.reference.seen_route(*WELCOME)
    assert channel is not None
    assert template is not None
    changed = attrs.evolve(template, body="Здравствуйте! Логин {login}, пароль {password}")
    await saved_by_another_process(backend, changed)
    return Route(channel, template), changed


async def test_a_seen_route_is_the_copy_until_the_route_is_read_afresh(backend: Backend) -> None:
    seen, changed = await seen_and_changed_behind(backend)

    async with backend.uow_factory() as uow:
        assert await uow.reference.seen_route(*WELCOME) == (seen.channel, seen.template)
        assert await uow.reference.get_route(*WELCOME) == (seen.channel, changed)
        assert await uow.reference.seen_route(*WELCOME) == (seen.channel, changed)  # the read refreshed it


async def test_saving_reference_data_in_this_process_drops_the_copies(backend: Backend) -> None:
    seen, changed = await seen_and_changed_behind(backend)

    async with backend.uow_factory() as uow:
        await uow.reference.save_channel(seen.channel)
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.reference.seen_route(*WELCOME) == (seen.channel, changed)


async def test_a_copy_made_while_a_save_was_not_committed_yet_is_dropped_with_its_commit(backend: Backend) -> None:
    if backend.name == "sqlite":
        pytest.skip("SQLite's units of work of one process take turns: none reads while another saves")
    async with backend.uow_factory() as uow:
        channel, template = await uow.reference.get_route(*WELCOME)
    assert channel is not None
    assert template is not None
    changed = attrs.evolve(template, body="Здравствуйте! Логин {login}, пароль {password}")
    async with backend.uow_factory() as saving, backend.uow_factory() as reading:
        await saving.reference.save_template(changed)
        # the row before the save, as another request of this process reads it meanwhile
        assert await reading.reference.seen_route(*WELCOME) == (channel, template)
        await saving.commit()
    async with backend.uow_factory() as uow:
        assert await uow.reference.seen_route(*WELCOME) == (channel, changed)


async def test_a_route_that_is_not_deliverable_is_never_a_copy(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        channel = await uow.reference.get_channel("sms")
        template = await uow.reference.get_template("REG_WELCOME", "sms")
    assert template is not None
    await saved_by_another_process(backend, attrs.evolve(template, is_active=False))
    async with backend.uow_factory() as uow:
        assert await uow.reference.seen_route(*WELCOME) == (channel, attrs.evolve(template, is_active=False))
    await saved_by_another_process(backend, template)
    async with backend.uow_factory() as uow:
        assert await uow.reference.seen_route(*WELCOME) == (channel, template)  # read afresh


async def test_a_registration_on_a_route_out_of_date_adds_nothing_and_the_route_is_read_afresh(
    backend: Backend,
) -> None:
    seen, changed = await seen_and_changed_behind(backend)

    async with backend.uow_factory() as uow:
        with pytest.raises(RouteChanged):
            await uow.registrations.commit_if_new(with_events(attrs.evolve(a_registration(), route=seen)))
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.audit.search(AuditQuery(limit=10)) == []
        assert await uow.reference.seen_route(*WELCOME) == (seen.channel, changed)
        registration = with_events(attrs.evolve(a_registration(), route=Route(seen.channel, changed)))
        assert await uow.registrations.commit_if_new(registration) is None
    assert backend.queue.enqueued == [registration.notification.id]


async def test_a_known_phone_is_answered_whatever_the_route_of_its_registration(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        await uow.commit()
    seen, changed = await seen_and_changed_behind(backend)

    async with backend.uow_factory() as uow:
        known = await uow.registrations.commit_if_new(attrs.evolve(a_registration(), route=seen))
    assert known is not None
    assert known.client == client
    async with backend.uow_factory() as uow:  # the copy was found out of date all the same
        channel, template = await uow.reference.seen_route(*WELCOME)
    assert (channel, template) == (seen.channel, changed)


async def test_a_route_saved_earlier_in_the_unit_of_work_holds_for_its_registration(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        channel = await uow.reference.get_channel("sms")
        assert channel is not None
        template = NotificationTemplate("REG_SHORT", "sms", TemplateKind.SERVICE, "{login} / {password}")
        await uow.reference.save_template(template)
        registration = with_events(attrs.evolve(a_registration(), route=Route(channel, template)))
        assert await uow.registrations.commit_if_new(registration) is None
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) == registration.person
        assert await uow.reference.get_template("REG_SHORT", "sms") == template


async def test_a_registration_left_without_commit_leaves_nothing(backend: Backend) -> None:
    registration = a_registration()
    async with backend.uow_factory() as uow:
        assert await uow.registrations.add_if_new(registration) is None
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PHONE) is None
        assert await uow.clients.get(registration.client.id) is None
        assert await uow.consents.list_for_client(registration.client.id) == []
        assert await uow.notifications.get(registration.notification.id) is None
    assert backend.queue.enqueued == []


async def test_add_if_new_for_idempotency_records_returns_the_record_under_the_key(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        record = a_record()
        assert await uow.idempotency.add_if_new(record) is None
        assert await uow.idempotency.add_if_new(attrs.evolve(record, fingerprint="other")) == record
        await uow.commit()


async def test_consents_and_purchases_added_together_get_their_ids_in_order(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        partner = await add_partner(uow)
        consents = [Consent(client.id, code, True, NOW, "manager:1") for code in ("personal_data", "marketing")]
        purchases = [
            Purchase(client.id, partner.id, name, Money(Decimal(price)), NOW)
            for name, price in (("Шампунь", "10.50"), ("Бальзам", "3.00"))
        ]
        await uow.consents.add_many(consents)
        await uow.purchases.add_many(purchases)
        await uow.consents.add_many([])
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert list(await uow.consents.list_for_client(client.id)) == consents
        assert list(await uow.purchases.list_for_client(client.id)) == purchases
    assert consents[0].id < consents[1].id
    assert purchases[0].id < purchases[1].id


async def test_a_route_is_a_channel_with_its_template_of_that_code(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        channel, template = await uow.reference.get_route("sms", "REG_WELCOME")
        assert channel == await uow.reference.get_channel("sms")
        assert template == await uow.reference.get_template("REG_WELCOME", "sms")
        assert template is not None
        channel, template = await uow.reference.get_route("sms", "NO_SUCH_TEMPLATE")
        assert channel is not None
        assert template is None
        assert await uow.reference.get_route("pigeon", "REG_WELCOME") == (None, None)


async def test_a_notification_saved_twice_in_one_unit_keeps_each_history_entry_once(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        client = await add_client(uow)
        notification = a_notification(client.id)
        await uow.notifications.add(notification)
        notification.claim(NOW, NOW + timedelta(minutes=1))
        notification.record_sent(NOW, "msg-1")
        await uow.notifications.save(notification)
        assert await uow.notifications.get(notification.id) == notification  # a read sees the new entries
        notification.apply_delivery_report(NOW, NotificationStatus.DELIVERED, None)
        await uow.notifications.save(notification)
        await uow.commit()
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(notification.id)
    assert stored == notification
    assert [change.status for change in stored.history] == [
        NotificationStatus.SCHEDULED,
        NotificationStatus.SENT,
        NotificationStatus.DELIVERED,
    ]


async def test_a_purge_deletes_events_older_than_its_limit_and_the_trail_stays_append_only(backend: Backend) -> None:
    old = attrs.evolve(an_event(AuditAction.PERSON_CREATED), occurred_at=NOW - timedelta(days=400))
    recent = an_event(AuditAction.CLIENT_CREATED)
    async with backend.uow_factory() as uow:
        uow.record(old, recent)
        await uow.commit()

    async with backend.uow_factory() as uow:
        assert await uow.audit.purge_before(NOW - timedelta(days=365), now=NOW) == 1
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert [e.action for e in await uow.audit.list_recent()] == [AuditAction.CLIENT_CREATED]
    if backend.engine is not None:
        # Nothing but a recorded purge deletes: a plain DELETE of a newer event is refused.
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            async with backend.sql.begin() as connection:
                await connection.execute(sa.delete(tables.audit_events))
        assert await backend.count(tables.audit_purges) == 1


# -- promo batches (set-based) --------------------------------------------------------------


def a_row(phone: PhoneNumber, full_name: str = "Иванов Иван") -> PromoParticipantRow:
    return PromoParticipantRow(phone, FullName(full_name), Email("ivan@example.com"))


async def test_promo_participants_are_found_or_made_in_order_and_fill_a_known_client(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        known = await add_client(uow, OTHER_PHONE)
        await uow.commit()
    async with backend.uow_factory() as uow:
        ids = await uow.promo.participants(
            [a_row(PHONE, "Петров Пётр"), a_row(OTHER_PHONE)], now=NOW, registered_by="partner:1", source="partner:x"
        )
        await uow.commit()
    async with backend.uow_factory() as uow:
        again = await uow.promo.participants([a_row(PHONE)], now=NOW, registered_by="partner:1", source="partner:x")
        made = await uow.clients.get_with_person(ids[0].client_id)
        filled = await uow.clients.get(known.id)
    assert ids[1] == PromoParticipantIds(known.person_id, known.id)
    assert again == [ids[0]]
    assert made is not None
    client, person = made
    assert (client.source, client.registered_by, str(client.full_name)) == ("partner:x", "partner:1", "Петров Пётр")
    assert (person.phone, str(person.first_name), person.login.value) == (PHONE, "Пётр", PHONE.e164)
    assert filled is not None
    assert (str(filled.full_name), str(filled.email), filled.source) == ("Иванов Иван", "ivan@example.com", "manager")


def _promo_record(key: str, fingerprint: str = "f") -> IdempotencyRecord:
    return IdempotencyRecord("partner:1", key, fingerprint, NOW, NOW + timedelta(minutes=5))


async def test_promo_stored_reads_the_records_already_there_and_takes_no_key(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        assert await uow.promo.stored([_promo_record("a")]) == [None]
        await uow.commit()
    async with backend.uow_factory() as uow:
        assert await uow.idempotency.get("partner:1", "a") is None
        await uow.promo.complete([_promo_record("a")])
        await uow.commit()
    async with backend.uow_factory() as uow:
        other_scope = attrs.evolve(_promo_record("a"), scope="partner:2")
        stored = await uow.promo.stored([_promo_record("b"), _promo_record("a", "other"), other_scope])
    assert stored == [None, _promo_record("a"), None]


async def test_promo_complete_inserts_records_in_place_of_stale_ones_as_read(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        partner = await add_partner(uow)
        client = await add_client(uow)
        stale = _promo_record("a")
        await uow.promo.complete([stale])
        await uow.commit()
    later = NOW + timedelta(minutes=6)
    done = IdempotencyRecord(
        "partner:1", "a", "f", later, later + timedelta(minutes=5), IdempotencyState.COMPLETED, client.id
    )
    fresh = attrs.evolve(done, key="b")
    async with backend.uow_factory() as uow:
        await uow.promo.complete([done, fresh], replacing=[stale])
        await uow.promo.add_purchases(
            [
                Purchase(client.id, partner.id, "Шампунь", Money(Decimal("10.50")), NOW),
                Purchase(client.id, partner.id, "Бальзам", Money(Decimal("0.01")), NOW),
            ]
        )
        await uow.commit()
    async with backend.uow_factory() as uow:
        records = [await uow.idempotency.get("partner:1", key) for key in ("a", "b")]
        purchases = await uow.purchases.list_for_client(client.id)
    assert records == [done, fresh]
    assert [(p.name, p.price.amount) for p in purchases] == [
        ("Шампунь", Decimal("10.50")),
        ("Бальзам", Decimal("0.01")),
    ]


# -- a single promo registration --------------------------------------------------------------

SIGN_UP_KEY = "auto:f"
FRESH = Staleness(NOW, abandoned_before=NOW - timedelta(minutes=1))


def a_sign_up(partner: Partner, phone: PhoneNumber = PHONE, *, full_name: str = "Иванов Иван") -> PromoSignUp:
    record = IdempotencyRecord(
        "partner:1", SIGN_UP_KEY, "f", NOW, NOW + timedelta(minutes=5), IdempotencyState.COMPLETED
    )
    event = AuditEvent(
        action=AuditAction.PROMO_REGISTERED,
        actor="partner:1",
        occurred_at=NOW,
        request_id="req-1",
        masked_phone=phone.masked,
        details={"purchases": "2", "email": "i***@example.com"},
    )
    return PromoSignUp(
        person=Person(phone, FullName(full_name).first_name, Login.from_phone(phone), NOW),
        client=Client(
            UNSAVED,
            NOW,
            "partner:1",
            "partner:retail-1",
            full_name=FullName(full_name),
            email=Email("ivan@example.com"),
        ),
        purchases=[
            Purchase(UNSAVED, partner.id, "Шампунь", Money(Decimal("10.50")), NOW),
            Purchase(UNSAVED, partner.id, "Бальзам", Money(Decimal("0.01")), NOW),
        ],
        record=record,
        staleness=FRESH,
        event=event,
    )


async def promo_partner(backend: Backend) -> Partner:
    async with backend.uow_factory() as uow:
        partner = await add_partner(uow)
        await uow.commit()
    return partner


async def test_a_sign_up_of_a_new_phone_writes_the_participant_purchases_record_and_event_linked(
    backend: Backend,
) -> None:
    partner = await promo_partner(backend)
    sign_up = a_sign_up(partner)

    async with backend.uow_factory() as uow:
        ids = await uow.promo.register_one(sign_up)
        await uow.commit()

    assert isinstance(ids, PromoParticipantIds)
    async with backend.uow_factory() as uow:
        made = await uow.clients.get_with_person(ids.client_id)
        purchases = await uow.purchases.list_for_client(ids.client_id)
        record = await uow.idempotency.get("partner:1", SIGN_UP_KEY)
        events = await uow.audit.list_recent()
    assert made is not None
    client, person = made
    assert person.id == ids.person_id
    assert (person.phone, str(person.first_name), person.login.value) == (PHONE, "Иван", PHONE.e164)
    assert attrs.evolve(client, id=UNSAVED, person_id=UNSAVED) == sign_up.client
    assert [(p.partner_id, p.name, p.price.amount) for p in purchases] == [
        (partner.id, "Шампунь", Decimal("10.50")),
        (partner.id, "Бальзам", Decimal("0.01")),
    ]
    assert record == attrs.evolve(sign_up.record, result_id=ids.client_id)
    assert [attrs.evolve(event, id=UNSAVED) for event in events] == [
        attrs.evolve(sign_up.event, person_id=ids.person_id, client_id=ids.client_id)
    ]


async def test_a_sign_up_of_a_known_phone_adds_to_its_client_and_fills_only_what_it_lacks(backend: Backend) -> None:
    partner = await promo_partner(backend)
    async with backend.uow_factory() as uow:
        known = await add_client(uow)
        await uow.commit()

    async with backend.uow_factory() as uow:
        first = await uow.promo.register_one(a_sign_up(partner))
        await uow.commit()
    async with backend.uow_factory() as uow:
        again = await uow.promo.register_one(
            attrs.evolve(a_sign_up(partner, full_name="Петров Пётр"), record=a_record("auto:other"))
        )
        await uow.commit()

    assert first == again == PromoParticipantIds(known.person_id, known.id)
    async with backend.uow_factory() as uow:
        filled = await uow.clients.get(known.id)
        person = await uow.persons.get(known.person_id)
        purchases = await uow.purchases.list_for_client(known.id)
    assert filled is not None
    assert (str(filled.full_name), str(filled.email), filled.source) == ("Иванов Иван", "ivan@example.com", "manager")
    assert person is not None
    assert str(person.first_name) == "Иван"
    assert len(purchases) == 4


async def test_a_sign_up_whose_key_holds_a_fresh_record_answers_it_and_adds_no_purchase_record_or_event(
    backend: Backend,
) -> None:
    partner = await promo_partner(backend)
    async with backend.uow_factory() as uow:
        first = await uow.promo.register_one(a_sign_up(partner))
        await uow.commit()
    assert isinstance(first, PromoParticipantIds)

    async with backend.uow_factory() as uow:
        kept = await uow.promo.register_one(a_sign_up(partner))
        await uow.commit()

    assert kept == attrs.evolve(a_sign_up(partner).record, result_id=first.client_id)
    async with backend.uow_factory() as uow:
        assert len(await uow.purchases.list_for_client(first.client_id)) == 2
        assert len(await uow.audit.list_recent()) == 1


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(IdempotencyRecord("partner:1", SIGN_UP_KEY, "old", NOW - timedelta(minutes=5), NOW), id="expired"),
        pytest.param(
            IdempotencyRecord("partner:1", SIGN_UP_KEY, "old", NOW - timedelta(minutes=1), NOW + timedelta(hours=1)),
            id="abandoned in flight",
        ),
    ],
)
async def test_a_sign_up_replaces_a_stale_record_under_its_key(backend: Backend, stored: IdempotencyRecord) -> None:
    partner = await promo_partner(backend)
    async with backend.uow_factory() as uow:
        await uow.idempotency.add(stored)
        await uow.commit()

    async with backend.uow_factory() as uow:
        ids = await uow.promo.register_one(a_sign_up(partner))
        await uow.commit()

    assert isinstance(ids, PromoParticipantIds)
    async with backend.uow_factory() as uow:
        record = await uow.idempotency.get("partner:1", SIGN_UP_KEY)
        assert len(await uow.purchases.list_for_client(ids.client_id)) == 2
    assert record == attrs.evolve(a_sign_up(partner).record, result_id=ids.client_id)


async def test_a_record_in_flight_not_yet_abandoned_keeps_its_key_from_a_sign_up(backend: Backend) -> None:
    partner = await promo_partner(backend)
    in_flight = IdempotencyRecord("partner:1", SIGN_UP_KEY, "f", NOW - timedelta(seconds=59), NOW + timedelta(hours=1))
    async with backend.uow_factory() as uow:
        await uow.idempotency.add(in_flight)
        await uow.commit()

    async with backend.uow_factory() as uow:
        kept = await uow.promo.register_one(a_sign_up(partner))

    assert kept == in_flight


async def test_promo_complete_refuses_a_key_another_record_holds(backend: Backend) -> None:
    async with backend.uow_factory() as uow:
        await uow.promo.complete([_promo_record("a")])
        await uow.commit()
    # A stale record read earlier and changed since (here: completed) keeps its key too.
    changed_since_read = attrs.evolve(_promo_record("a"), state=IdempotencyState.COMPLETED, result_id=7)
    for replacing in ([], [changed_since_read]):
        async with backend.uow_factory() as uow:
            with pytest.raises(UniqueViolation) as raised:
                await uow.promo.complete([_promo_record("b"), _promo_record("a", "other")], replacing=replacing)
        assert raised.value.what == "idempotency_key"
    async with backend.uow_factory() as uow:
        assert await uow.promo.stored([_promo_record("a"), _promo_record("b")]) == [_promo_record("a"), None]
