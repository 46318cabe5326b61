"""UC04: a manager registers a client — the main flow and alternatives A1, A2, A3, A5, A6, A7."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from datetime import timedelta

import attrs
import pytest

from barbershop_core.context import Context
from barbershop_core.errors import (
    ChannelUnavailable,
    ClientExists,
    ConsentRequired,
    InvalidPhone,
    PersonExists,
    TemplateMissing,
    TemporaryError,
    ValidationError,
)
from barbershop_core.model import (
    Actor,
    AuditAction,
    Channel,
    ConsentCode,
    NotificationStatus,
    NotificationTemplate,
    TemplateKind,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import StorageUnavailable
from barbershop_core.templates import DEFAULT_BODIES
from barbershop_core.use_cases.clients import CreatePerson, create_person
from barbershop_core.use_cases.promo import (
    RegisterPromoParticipant,
    parse_promo_registration,
    register_promo_participant,
)
from barbershop_core.use_cases.registration import RegisterClient, RegistrationResult, register_client
from barbershop_core.values import FirstName, Login, PhoneNumber
from tests.conftest import MANAGER, World
from tests.fakes import FakeReference, ScriptedChannel
from tests.unit.support import (
    MASKED_PHONE,
    PHONE,
    add_marketing_template,
    audit_actions,
    audit_events,
    interleaving,
    make_partner,
    nothing_stored,
    register,
    remove_template,
    rows,
    save_template,
)

WINDOW = timedelta(minutes=5)
ALL_ACTIVE = ("local", "sms", "telegram", "vk", "whatsapp")


def fake_hash(password: str) -> str:
    return "fake$" + hashlib.sha256(password.encode()).hexdigest()


# --- main flow --------------------------------------------------------------------------


async def test_registering_a_new_client_answers_the_new_ids_login_and_scheduled_notification(world: World) -> None:
    result = await register(world, "8 (911) 123-45-67")

    assert result == RegistrationResult(
        person_id=1,
        client_id=1,
        login=PHONE,
        phone=PHONE,
        notification_id=1,
        notification_status=NotificationStatus.SCHEDULED,
        idempotent=False,
    )


async def test_registration_stores_person_client_consents_notification_and_audit_in_one_commit(world: World) -> None:
    commits_before = world.db.commits

    await register(world, consents={"personal_data": True, "marketing": False})

    assert world.db.commits == commits_before + 1
    [person] = rows(world, "persons")
    [client] = rows(world, "clients")
    consents = rows(world, "consents")
    [notification] = rows(world, "notifications")
    now = world.clock.now()
    assert (person.phone, person.first_name, person.login) == (PhoneNumber(PHONE), FirstName("Иван"), Login(PHONE))
    assert person.created_at == now
    assert (client.person_id, client.registered_at, client.registered_by, client.source) == (
        person.id,
        now,
        "manager:1",
        "manager",
    )
    assert [(c.client_id, c.consent_type, c.granted, c.recorded_at, c.recorded_by) for c in consents] == [
        (client.id, "personal_data", True, now, "manager:1"),
        (client.id, "marketing", False, now, "manager:1"),
    ]
    assert (notification.client_id, notification.channel, notification.template_code, notification.kind) == (
        client.id,
        "sms",
        "REG_WELCOME",
        TemplateKind.SERVICE,
    )
    assert notification.status is NotificationStatus.SCHEDULED
    assert notification.next_attempt_at == now
    assert audit_actions(world) == [
        AuditAction.PHONE_CHECKED,
        AuditAction.CREDENTIALS_ISSUED,
        AuditAction.PERSON_CREATED,
        AuditAction.CLIENT_CREATED,
        AuditAction.CONSENT_RECORDED,
        AuditAction.CONSENT_RECORDED,
        AuditAction.NOTIFICATION_SCHEDULED,
        AuditAction.REGISTRATION_COMPLETED,
    ]


async def test_registration_audit_events_carry_actor_request_and_masked_phone_only(world: World) -> None:
    await register(world)

    events = audit_events(world)
    assert {(e.actor, e.request_id, e.masked_phone, e.person_id) for e in events} == {
        ("manager:1", "req-1", MASKED_PHONE, 1)
    }
    assert all(PHONE not in repr(e) for e in events)
    [scheduled] = [e for e in events if e.action is AuditAction.NOTIFICATION_SCHEDULED]
    assert (scheduled.client_id, scheduled.notification_id, scheduled.details) == (
        1,
        1,
        {"channel": "sms", "template": "REG_WELCOME"},
    )


async def test_registration_stores_only_the_hash_of_the_generated_temporary_password(world: World) -> None:
    await register(world)

    [password] = world.passwords.issued
    [person] = rows(world, "persons")
    assert person.password_hash == fake_hash(password)
    assert person.must_change_password is True
    assert person.temporary_password_expires_at == world.clock.now() + timedelta(hours=72)
    assert all(password not in repr(row) for table in world.db.tables.values() for row in table.values())


async def test_registration_puts_the_sealed_password_on_the_notification_never_the_plain_one(world: World) -> None:
    await register(world)

    [password] = world.passwords.issued
    [notification] = rows(world, "notifications")
    assert notification.secret == world.secret_box.seal(password)
    assert password.encode() not in notification.secret
    assert world.secret_box.open(notification.secret) == password
    assert notification.secret_expires_at == world.clock.now() + timedelta(hours=72)


async def test_registration_hands_the_notification_to_the_queue_only_after_commit(world: World) -> None:
    seen_committed: list[list[int]] = []
    enqueued: list[int] = []

    class CommitCheckingQueue:
        async def enqueue(self, notification_id: int) -> None:
            seen_committed.append([n.id for n in rows(world, "notifications")])
            enqueued.append(notification_id)

    world.queue = CommitCheckingQueue()  # type: ignore[assignment]  # records into the world's own list
    result = await register_client(
        RegisterClient(phone=PHONE, first_name="Иван", context=MANAGER), world.registration()
    )

    assert enqueued == [result.notification_id]
    assert seen_committed == [[result.notification_id]]


async def test_registration_succeeds_and_leaves_the_notification_for_the_sweep_when_the_queue_is_down(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.queue.available = False

    result = await register(world)

    assert result.notification_status is NotificationStatus.SCHEDULED
    assert world.queue.enqueued == []
    assert [n.id for n in rows(world, "notifications")] == [1]
    assert "queue unavailable; notification 1 is left for the sweep" in caplog.text


async def test_registration_records_who_registered_and_the_client_channel_accounts(world: World) -> None:
    await register(
        world, context=Context(Actor.manager(7), request_id="req-7"), channel="vk", channel_accounts={"vk": "id42"}
    )

    [client] = rows(world, "clients")
    assert client.registered_by == "manager:7"
    assert client.channel_accounts == {"vk": "id42"}
    [notification] = rows(world, "notifications")
    assert notification.channel == "vk"


async def test_registration_rejects_an_empty_first_name_and_stores_nothing(world: World) -> None:
    with pytest.raises(ValidationError) as error:
        await register(world, first_name="   ")

    assert (error.value.code, error.value.message, error.value.field) == (
        "validation_error",
        "Укажите имя клиента",
        "first_name",
    )
    assert nothing_stored(world)


async def test_registration_rejects_an_unknown_consent_type_and_stores_nothing(world: World) -> None:
    with pytest.raises(ValidationError) as error:
        await register(world, consents={"newsletter": True})

    assert error.value.message == "Неизвестный тип согласия: newsletter"
    assert error.value.field == "consents"
    assert nothing_stored(world)


# --- A1: phone already registered -------------------------------------------------------


async def test_registering_a_known_phone_after_five_minutes_answers_client_exists(world: World) -> None:
    first = await register(world)
    world.clock.advance(WINDOW + timedelta(microseconds=1))

    with pytest.raises(ClientExists) as error:
        await register(world, "8 911 123 45 67", "Пётр")

    assert (error.value.code, error.value.message) == ("client_exists", "Клиент уже существует")
    assert (error.value.client_id, error.value.person_id) == (first.client_id, first.person_id)
    assert len(rows(world, "persons")) == 1
    assert len(rows(world, "clients")) == 1
    assert len(rows(world, "notifications")) == 1


async def test_registering_a_known_phone_exactly_five_minutes_later_is_still_within_the_window(
    world: World,
) -> None:
    first = await register(world)
    world.clock.advance(WINDOW)

    again = await register(world)

    assert again.idempotent is True
    assert (again.person_id, again.client_id) == (first.person_id, first.client_id)


async def test_a_known_phone_is_answered_as_a1_or_a6_even_through_an_unknown_channel(world: World) -> None:
    first = await register(world)

    again = await register(world, channel="pigeon")
    world.clock.advance(WINDOW + timedelta(microseconds=1))
    with pytest.raises(ClientExists) as error:
        await register(world, channel="pigeon")

    assert again.idempotent is True
    assert (again.client_id, again.notification_id) == (first.client_id, first.notification_id)
    assert error.value.client_id == first.client_id
    assert audit_actions(world).count(AuditAction.REGISTRATION_REPLAYED) == 1


async def test_a_known_phone_through_a_channel_refused_leaves_no_default_template_created_behind(world: World) -> None:
    """The route is read before the phone is checked; for a known phone, what reading it
    created (a default template, then refused with its inactive channel) is rolled back."""
    await register(world)
    await _deactivate(world, "telegram")
    remove_template(world, "REG_WELCOME", "telegram")
    world.policy = RegistrationPolicy(create_missing_templates=True)

    again = await register(world, channel="telegram")

    assert again.idempotent is True
    assert ("REG_WELCOME", "telegram") not in world.db.tables["templates"]


async def test_registering_a_phone_of_a_partner_registered_client_answers_client_exists_at_once(
    world: World,
) -> None:
    registration = parse_promo_registration(
        {"fio": "Иванов Иван", "phone": PHONE, "email": "ivan@example.com", "purchases": [{"name": "Гель", "price": 5}]}
    )
    partner = await make_partner(world)
    promo = await register_promo_participant(RegisterPromoParticipant(registration, partner), world.promo())

    with pytest.raises(ClientExists) as error:
        await register(world)

    assert error.value.client_id == promo.client_id


async def test_registering_the_phone_of_a_person_who_is_not_a_client_answers_person_exists(world: World) -> None:
    person = await create_person(CreatePerson(phone=PHONE, first_name="Иван", context=MANAGER), world.clients())

    with pytest.raises(PersonExists) as error:
        await register(world)

    assert (error.value.code, error.value.person_id, error.value.client_id) == ("person_exists", person.id, None)
    assert rows(world, "clients") == []


# --- A2: invalid phone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["", "   ", "abc", "+7 911 ABC 45 67", "8911123", "12345", "+7 911 123 45 67 89 01 23", "+0 911 123 45 67"],
)
async def test_registering_an_invalid_phone_answers_check_the_number_and_stores_nothing(
    world: World, phone: str
) -> None:
    commits_before = world.db.commits

    with pytest.raises(InvalidPhone) as error:
        await register(world, phone)

    assert (error.value.code, error.value.message, error.value.field) == ("invalid_phone", "Проверьте номер", "phone")
    assert nothing_stored(world)
    assert world.db.commits == commits_before
    assert world.passwords.issued == []
    assert world.queue.enqueued == []


# --- A3: failure while creating ---------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        "begin",
        "persons.add",
        "clients.add",
        "consents.add",
        "notifications.add",
        "audit.append",
        "commit",
    ],
)
async def test_a_storage_failure_while_registering_answers_temporary_error_and_persists_nothing(
    world: World, operation: str
) -> None:
    world.db.fail(operation, StorageUnavailable("connection lost"))

    with pytest.raises(TemporaryError) as error:
        await register(world, consents={"personal_data": True})

    assert (error.value.code, error.value.message) == ("temporary_error", "Временная ошибка, попробуйте снова")
    assert isinstance(error.value.__cause__, StorageUnavailable)
    assert nothing_stored(world)
    assert world.queue.enqueued == []


async def test_a_storage_failure_logs_error_register_client_with_the_masked_phone_never_the_raw_one(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.db.fail("clients.add", StorageUnavailable("connection lost"))

    with pytest.raises(TemporaryError):
        await register(world, "8 (911) 123-45-67")

    [record] = [r for r in caplog.records if "ERROR_REGISTER_CLIENT" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"ERROR_REGISTER_CLIENT phone={MASKED_PHONE} request=req-1"
    assert PHONE not in caplog.text
    assert "89111234567" not in caplog.text


async def test_registration_succeeds_when_retried_after_a_temporary_error(world: World) -> None:
    world.db.fail("commit", StorageUnavailable("deadlock"))
    with pytest.raises(TemporaryError):
        await register(world)

    result = await register(world)

    assert result.idempotent is False
    assert len(rows(world, "persons")) == 1
    assert len(rows(world, "clients")) == 1
    assert world.queue.enqueued == [result.notification_id]


# --- A5: consent --------------------------------------------------------------------------


async def test_a_marketing_welcome_without_marketing_consent_is_refused_with_consent_required(world: World) -> None:
    await add_marketing_template(world)

    with pytest.raises(ConsentRequired) as error:
        await register(world, template_code="PROMO_AUTUMN", consents={"personal_data": True})

    assert (error.value.code, error.value.message) == (
        "consent_required",
        "Нет согласия клиента на рекламные сообщения",
    )
    assert nothing_stored(world)


async def test_a_marketing_welcome_with_consent_refused_explicitly_is_refused(world: World) -> None:
    await add_marketing_template(world)

    with pytest.raises(ConsentRequired):
        await register(world, template_code="PROMO_AUTUMN", consents={"marketing": False})


async def test_a_marketing_welcome_with_marketing_consent_is_scheduled_without_a_secret(world: World) -> None:
    await add_marketing_template(world)

    result = await register(world, template_code="PROMO_AUTUMN", consents={ConsentCode.MARKETING: True})

    [notification] = rows(world, "notifications")
    assert result.notification_status is NotificationStatus.SCHEDULED
    assert (notification.template_code, notification.kind) == ("PROMO_AUTUMN", TemplateKind.MARKETING)
    assert notification.secret is None  # the template does not show the password
    assert notification.secret_expires_at is None


async def test_the_service_welcome_goes_without_any_consent_and_the_given_consents_are_recorded(
    world: World,
) -> None:
    result = await register(world, consents={"personal_data": False, "marketing": False})

    assert result.notification_status is NotificationStatus.SCHEDULED
    assert [(c.consent_type, c.granted) for c in rows(world, "consents")] == [
        ("personal_data", False),
        ("marketing", False),
    ]
    consent_events = [e for e in audit_events(world) if e.action is AuditAction.CONSENT_RECORDED]
    assert [e.details for e in consent_events] == [
        {"consent_type": "personal_data", "granted": "false"},
        {"consent_type": "marketing", "granted": "false"},
    ]


# --- A6: idempotency --------------------------------------------------------------------


async def test_registering_the_same_phone_within_five_minutes_answers_idempotent_with_the_same_ids(
    world: World,
) -> None:
    first = await register(world)
    world.clock.advance(timedelta(minutes=4))

    again = await register(world, "+7 911 123 45 67", "Иван")

    assert again == attrs.evolve(first, idempotent=True)
    assert len(rows(world, "persons")) == 1
    assert len(rows(world, "clients")) == 1
    assert len(rows(world, "notifications")) == 1
    assert world.queue.enqueued == [first.notification_id]
    assert audit_actions(world)[-1] is AuditAction.REGISTRATION_REPLAYED


async def test_an_idempotent_replay_does_not_issue_a_new_password(world: World) -> None:
    await register(world)
    [person_before] = rows(world, "persons")

    await register(world)

    [person_after] = rows(world, "persons")
    assert person_after.password_hash == person_before.password_hash


async def test_an_idempotent_replay_reports_the_welcome_notification_not_a_resend(world: World) -> None:
    first = await register(world, postpone_notification=True)

    again = await register(world)

    assert (again.notification_id, again.notification_status) == (first.notification_id, NotificationStatus.HELD)


async def test_two_registrations_of_one_phone_at_the_same_moment_create_one_client_and_answer_the_same_ids(
    world: World,
) -> None:
    deps = attrs.evolve(world.registration(), uow_factory=interleaving(world, before_commit=True))

    def command(name: str) -> RegisterClient:
        return RegisterClient(phone=PHONE, first_name=name, context=MANAGER)

    first, second = await asyncio.gather(register_client(command("Иван"), deps), register_client(command("Ваня"), deps))

    assert (first.idempotent, second.idempotent) == (False, True)
    assert (second.person_id, second.client_id, second.notification_id) == (
        first.person_id,
        first.client_id,
        first.notification_id,
    )
    # Both passed the existence check: both generated a password; the store kept one.
    assert len(world.passwords.issued) == 2
    assert len(rows(world, "persons")) == 1
    assert len(rows(world, "clients")) == 1
    assert len(rows(world, "notifications")) == 1
    assert world.queue.enqueued == [first.notification_id]


# --- A7: channel unavailable or template missing --------------------------------------


async def _deactivate(world: World, code: str) -> None:
    async with world.uow() as uow:
        channel = await uow.reference.get_channel(code)
        assert channel is not None
        await uow.reference.save_channel(attrs.evolve(channel, is_active=False))
        await uow.commit()


async def test_registering_through_an_inactive_channel_answers_channel_unavailable_with_the_active_ones(
    world: World,
) -> None:
    await _deactivate(world, "telegram")

    with pytest.raises(ChannelUnavailable) as error:
        await register(world, channel="telegram")

    assert (error.value.code, error.value.channel) == ("channel_unavailable", "telegram")
    assert error.value.message == "Канал «telegram» недоступен, выберите другой или отложите уведомление"
    assert sorted(error.value.active_channels) == ["local", "sms", "vk", "whatsapp"]
    assert nothing_stored(world)


async def test_registering_through_an_unknown_channel_answers_channel_unavailable(world: World) -> None:
    with pytest.raises(ChannelUnavailable) as error:
        await register(world, channel="pigeon")

    assert error.value.message == "Неизвестный канал «pigeon»"
    assert sorted(error.value.active_channels) == list(ALL_ACTIVE)
    assert nothing_stored(world)


async def test_registering_through_vk_without_a_linked_account_answers_channel_unavailable(world: World) -> None:
    with pytest.raises(ChannelUnavailable) as error:
        await register(world, channel="vk", channel_accounts={"telegram": "@ivan"})

    assert error.value.message == "У клиента нет привязанного аккаунта для канала «ВКонтакте»"
    assert nothing_stored(world)


async def test_postponing_the_welcome_registers_the_client_with_a_held_notification_not_queued(
    world: World,
) -> None:
    result = await register(world, postpone_notification=True)

    assert result.notification_status is NotificationStatus.HELD
    [notification] = rows(world, "notifications")
    assert notification.status is NotificationStatus.HELD
    assert notification.next_attempt_at is None
    assert [(h.status, h.reason) for h in notification.history] == [(NotificationStatus.HELD, "Отложено менеджером")]
    assert notification.secret == world.secret_box.seal(world.passwords.issued[0])
    assert world.queue.enqueued == []
    assert AuditAction.NOTIFICATION_HELD in audit_actions(world)
    assert AuditAction.NOTIFICATION_SCHEDULED not in audit_actions(world)


async def test_postponing_through_an_inactive_channel_registers_and_holds_with_the_channel_problem(
    world: World,
) -> None:
    await _deactivate(world, "telegram")

    result = await register(world, channel="telegram", postpone_notification=True)

    assert result.notification_status is NotificationStatus.HELD
    [notification] = rows(world, "notifications")
    assert notification.channel == "telegram"
    assert notification.history[0].reason == "Канал «telegram» недоступен, выберите другой или отложите уведомление"
    assert world.queue.enqueued == []


async def test_postponing_with_a_missing_template_keeps_the_sealed_password_for_later(world: World) -> None:
    result = await register(world, template_code="NO_SUCH", postpone_notification=True)

    [notification] = rows(world, "notifications")
    assert result.notification_status is NotificationStatus.HELD
    assert notification.history[0].reason == "Нет шаблона «NO_SUCH» для канала «sms»"
    assert notification.secret is not None


async def test_registering_with_an_inactive_template_answers_template_missing(world: World) -> None:
    await save_template(
        world,
        NotificationTemplate("REG_WELCOME", "whatsapp", TemplateKind.SERVICE, DEFAULT_BODIES["REG_WELCOME"], False),
    )

    with pytest.raises(TemplateMissing) as error:
        await register(world, channel="whatsapp")

    assert error.value.code == "template_missing"
    assert error.value.message == "Нет шаблона «REG_WELCOME» для канала «whatsapp»"
    assert (error.value.template_code, error.value.channel) == ("REG_WELCOME", "whatsapp")
    assert sorted(error.value.active_channels) == list(ALL_ACTIVE)
    assert nothing_stored(world)


WELCOME_SMS = NotificationTemplate("REG_WELCOME", "sms", TemplateKind.SERVICE, DEFAULT_BODIES["REG_WELCOME"])


def saved_by_another_process(world: World, template: NotificationTemplate) -> None:
    """``template`` stored under this process's copy of its route, as another process would."""
    world.db.tables["templates"][(template.code, template.channel)] = template


def phones_stored(world: World) -> list[str]:
    return [person.phone.e164 for person in rows(world, "persons")]


async def test_a_template_another_process_deactivated_after_the_route_was_copied_answers_template_missing(
    world: World,
) -> None:
    await register(world, "+79110000001")  # the welcome route is copied
    saved_by_another_process(world, attrs.evolve(WELCOME_SMS, is_active=False))

    with pytest.raises(TemplateMissing):
        await register(world)

    assert phones_stored(world) == ["+79110000001"]


async def test_a_registration_goes_out_with_the_template_another_process_changed_after_the_copy(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await register(world, "+79110000001")
    saved_by_another_process(world, attrs.evolve(WELCOME_SMS, body="Ваш логин {login}"))

    with caplog.at_level(logging.INFO, logger="barbershop_core"):
        await register(world)

    assert f"route changed since it was read; registering again, phone={MASKED_PHONE}" in caplog.messages
    assert PHONE not in caplog.text

    first, second = rows(world, "notifications")
    assert first.secret is not None
    assert second.secret is None  # the body read afresh shows no password: none is kept for it
    assert phones_stored(world) == ["+79110000001", PHONE]


async def test_a_refusal_is_never_given_on_a_copy_of_the_route_another_process_made_out_of_date(
    world: World,
) -> None:
    await add_marketing_template(world)
    await register(world, "+79110000001", template_code="PROMO_AUTUMN", consents={"marketing": True})  # copied
    promo = NotificationTemplate("PROMO_AUTUMN", "sms", TemplateKind.MARKETING, "{first_name}, скидка 20%!")
    saved_by_another_process(world, attrs.evolve(promo, kind=TemplateKind.SERVICE))

    result = await register(world, template_code="PROMO_AUTUMN", consents={"personal_data": True})

    assert result.notification_status is NotificationStatus.SCHEDULED  # no A5: the route read afresh is a service one
    await register(world, "+79110000002", template_code="PROMO_AUTUMN")  # the copy was refreshed with it


async def test_a_route_out_of_date_on_both_tries_answers_temporary_error_and_stores_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries = itertools.count()

    async def changed_again_each_time(
        reference: FakeReference, channel: str, template_code: str
    ) -> tuple[Channel | None, NotificationTemplate | None]:
        found, template = await reference.get_route(channel, template_code)
        assert template is not None
        return found, attrs.evolve(template, body=f"{template.body} #{next(tries)}")  # another process's edit

    monkeypatch.setattr(FakeReference, "seen_route", changed_again_each_time)

    with pytest.raises(TemporaryError):
        await register(world)

    assert next(tries) == 2
    assert nothing_stored(world)


async def test_registering_with_an_absent_template_answers_template_missing_by_default(world: World) -> None:
    remove_template(world, "REG_WELCOME", "whatsapp")

    with pytest.raises(TemplateMissing):
        await register(world, channel="whatsapp")

    assert ("REG_WELCOME", "whatsapp") not in world.db.tables["templates"]


async def test_with_create_missing_templates_the_default_welcome_template_is_created(world: World) -> None:
    remove_template(world, "REG_WELCOME", "whatsapp")
    world.policy = RegistrationPolicy(create_missing_templates=True)
    world.channels.channels["whatsapp"] = ScriptedChannel()

    result = await register(world, channel="whatsapp")

    assert result.notification_status is NotificationStatus.SCHEDULED
    assert world.db.tables["templates"][("REG_WELCOME", "whatsapp")] == NotificationTemplate(
        "REG_WELCOME", "whatsapp", TemplateKind.SERVICE, DEFAULT_BODIES["REG_WELCOME"]
    )
    [notification] = rows(world, "notifications")
    assert notification.secret is not None


async def test_create_missing_templates_does_not_invent_a_template_it_has_no_default_for(world: World) -> None:
    world.policy = RegistrationPolicy(create_missing_templates=True)

    with pytest.raises(TemplateMissing):
        await register(world, template_code="NO_SUCH")

    assert ("NO_SUCH", "sms") not in world.db.tables["templates"]


async def test_create_missing_templates_does_not_revive_a_deactivated_template(world: World) -> None:
    world.policy = RegistrationPolicy(create_missing_templates=True)
    await save_template(
        world, NotificationTemplate("REG_WELCOME", "sms", TemplateKind.SERVICE, DEFAULT_BODIES["REG_WELCOME"], False)
    )

    with pytest.raises(TemplateMissing):
        await register(world)

    assert world.db.tables["templates"][("REG_WELCOME", "sms")].is_active is False


async def test_a_request_may_name_another_existing_service_template(world: World) -> None:
    await save_template(world, NotificationTemplate("REG_SHORT", "sms", TemplateKind.SERVICE, "Пароль: {password}"))

    await register(world, template_code="REG_SHORT")

    [notification] = rows(world, "notifications")
    assert (notification.template_code, notification.kind) == ("REG_SHORT", TemplateKind.SERVICE)
