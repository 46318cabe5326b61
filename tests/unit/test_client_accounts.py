"""The client's own account: sign-in with the welcome message's credentials, guessing, the
forced change, the profile and consents (152-FZ)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from barbershop_core.context import Context
from barbershop_core.errors import (
    ConsentRequired,
    InvalidCredentials,
    NotFound,
    TemporaryPasswordExpired,
    TemporaryPasswordVoided,
    ValidationError,
)
from barbershop_core.model import Actor, AuditAction, NotificationStatus, Person
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.client_accounts import (
    GUESS_KEY_PREFIX,
    ChangeClientPassword,
    ClientAccount,
    EndClientSessions,
    GetClientAccount,
    GetClientProfile,
    SetClientConsents,
    SignIn,
    authenticate_client,
    change_client_password,
    end_client_sessions,
    get_client_account,
    get_client_profile,
    set_client_consents,
)
from barbershop_core.use_cases.clients import CreatePerson, create_person
from barbershop_core.use_cases.notification_commands import (
    ResendNotification,
    ScheduleNotification,
    resend_notification,
    schedule_notification,
)
from tests.conftest import MANAGER, World
from tests.unit.support import MASKED_PHONE, PHONE, add_marketing_template, audit_events, register, rows

CLIENT = Context(Actor.client(1), request_id="req-client")
NEW_PASSWORD = "my own long password"


def temporary(world: World) -> str:
    """The temporary password the latest welcome message carries."""
    return world.passwords.issued[-1]


def person(world: World) -> Person:
    [stored] = rows(world, "persons")
    return stored  # type: ignore[no-any-return]


async def sign_in(world: World, password: str, login: str = PHONE) -> ClientAccount:
    return await authenticate_client(SignIn(login, password, request_id="req-login"), world.client_accounts())


async def wrong_guesses(world: World, count: int) -> None:
    for _ in range(count):
        with pytest.raises(InvalidCredentials) as refused:
            await sign_in(world, "not the password")
        assert type(refused.value) is InvalidCredentials


async def change(world: World, current: str, new: str = NEW_PASSWORD) -> ClientAccount:
    return await change_client_password(ChangeClientPassword(1, current, new, CLIENT), world.client_accounts())


def actions(world: World) -> list[AuditAction]:
    return [event.action for event in audit_events(world)]


# --- sign-in --------------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["+79111234567", "8 (911) 123-45-67", "+7 911 123 45 67", " 89111234567 "])
async def test_a_client_signs_in_with_the_phone_typed_in_any_usual_form(world: World, login: str) -> None:
    await register(world)

    account = await sign_in(world, temporary(world), login)

    assert (account.client.id, account.person.phone.e164) == (1, PHONE)
    assert account.must_change_password is True


async def test_the_first_sign_in_is_recorded_once_and_audited_with_the_masked_phone(world: World) -> None:
    await register(world)
    first = world.clock.now()

    await sign_in(world, temporary(world))
    world.clock.advance(timedelta(hours=1))
    await sign_in(world, temporary(world))

    assert person(world).first_signed_in_at == first
    signed_in = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_SIGNED_IN]
    assert len(signed_in) == 2
    assert signed_in[0].masked_phone == MASKED_PHONE
    assert (signed_in[0].actor, signed_in[0].client_id, signed_in[0].request_id) == ("client:1", 1, "req-login")
    assert signed_in[0].details == {"temporary": "true"}


async def test_a_wrong_password_is_invalid_credentials_and_audited(world: World) -> None:
    await register(world)

    with pytest.raises(InvalidCredentials) as refused:
        await sign_in(world, "not the password")

    assert refused.value.code == "invalid_credentials"
    [event] = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_SIGN_IN_FAILED]
    assert (event.masked_phone, event.client_id, event.details) == (MASKED_PHONE, 1, {"reason": "wrong_password"})
    assert person(world).first_signed_in_at is None


@pytest.mark.parametrize("login", ["+79217654321", "not a phone", ""])
async def test_an_unknown_login_answers_the_same_and_spends_a_hash(world: World, login: str) -> None:
    await register(world)
    hashed = len(world.hasher.hashed)

    with pytest.raises(InvalidCredentials) as refused:
        await sign_in(world, "whatever password", login)

    assert type(refused.value) is InvalidCredentials
    assert len(world.hasher.hashed) == hashed + 1
    [event] = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_SIGN_IN_FAILED]
    assert (event.client_id, event.details) == (None, {"reason": "unknown_login"})
    assert "7654321" not in repr(event)


async def test_a_person_who_is_not_a_client_cannot_sign_in(world: World) -> None:
    await create_person(CreatePerson(PHONE, "Иван", MANAGER), world.clients())

    with pytest.raises(InvalidCredentials):
        await sign_in(world, "anything at all")


async def test_an_expired_temporary_password_is_refused_with_its_own_code_only_when_right(world: World) -> None:
    await register(world)
    world.clock.advance(world.policy.temporary_password_ttl)

    with pytest.raises(TemporaryPasswordExpired) as expired:
        await sign_in(world, temporary(world))
    with pytest.raises(InvalidCredentials) as wrong:
        await sign_in(world, "not the password")

    assert expired.value.code == "temporary_password_expired"
    assert "администратора салона" in expired.value.message
    assert type(wrong.value) is InvalidCredentials
    assert person(world).first_signed_in_at is None


# --- guessing -------------------------------------------------------------------------------


async def test_five_wrong_passwords_void_the_temporary_one(world: World) -> None:
    await register(world)
    password = temporary(world)

    await wrong_guesses(world, 5)

    assert person(world).temporary_password_voided_at == world.clock.now()
    with pytest.raises(TemporaryPasswordVoided) as voided:
        await sign_in(world, password)
    assert voided.value.code == "temporary_password_voided"
    [event] = [e for e in audit_events(world) if e.action is AuditAction.TEMPORARY_PASSWORD_VOIDED]
    assert (event.masked_phone, event.client_id) == (MASKED_PHONE, 1)


async def test_four_wrong_passwords_leave_the_temporary_one_working_and_a_success_forgives_them(world: World) -> None:
    await register(world)

    await wrong_guesses(world, 4)
    await sign_in(world, temporary(world))
    await wrong_guesses(world, 4)

    assert person(world).temporary_password_voided_at is None
    assert (await sign_in(world, temporary(world))).must_change_password


async def test_guesses_are_counted_in_the_shared_counter_under_a_digest(world: World) -> None:
    await register(world)

    await wrong_guesses(world, 2)

    [(key, _)] = world.attempts.counts
    assert key.startswith(GUESS_KEY_PREFIX)
    assert len(key) <= 64
    assert PHONE not in key
    assert world.attempts.counts[next(iter(world.attempts.counts))] == 2


async def test_a_right_password_after_parallel_guesses_used_up_the_tries_is_refused(world: World) -> None:
    await register(world)
    await wrong_guesses(world, 1)
    [(key, window)] = world.attempts.counts
    world.attempts.counts[key, window] = 5  # five other attempts counted, their hashes still running

    with pytest.raises(TemporaryPasswordVoided):
        await sign_in(world, temporary(world))

    assert person(world).temporary_password_voided_at is not None


async def test_a_new_temporary_password_from_the_manager_works_and_starts_its_own_count(world: World) -> None:
    await register(world)
    await wrong_guesses(world, 5)
    async with world.uow() as uow:
        notification = await uow.notifications.get(1)
        assert notification is not None
        notification.record_sent(world.clock.now(), "sms-1")
        await uow.notifications.save(notification)
        await uow.commit()

    await resend_notification(ResendNotification(1, "sms", MANAGER), world.notifications())

    assert person(world).temporary_password_voided_at is None
    await wrong_guesses(world, 4)
    assert (await sign_in(world, temporary(world))).must_change_password


async def test_wrong_guesses_never_void_a_password_the_client_set(world: World) -> None:
    await register(world)
    await sign_in(world, temporary(world))
    await change(world, temporary(world))

    await wrong_guesses(world, 6)

    assert (await sign_in(world, NEW_PASSWORD)).must_change_password is False
    assert world.attempts.counts == {}


async def test_a_counter_that_is_down_fails_the_sign_in_closed(world: World) -> None:
    await register(world)

    async def down(key: str, window_start: int, window_seconds: int) -> int:
        raise StorageUnavailable("redis is down")

    world.attempts.add = down  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        await sign_in(world, temporary(world))


# --- the forced change ------------------------------------------------------------------------


async def test_changing_the_temporary_password_makes_the_new_one_work_and_the_old_one_never_again(
    world: World,
) -> None:
    await register(world)
    old = temporary(world)
    before = (await sign_in(world, old)).person.session_version

    changed = await change(world, old)

    assert changed.must_change_password is False
    assert changed.person.session_version == before + 1
    assert (changed.person.temporary_password_expires_at, changed.person.temporary_password_voided_at) == (None, None)
    with pytest.raises(InvalidCredentials):
        await sign_in(world, old)
    assert (await sign_in(world, NEW_PASSWORD)).must_change_password is False
    [event] = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_PASSWORD_CHANGED]
    assert (event.actor, event.masked_phone, event.details) == ("client:1", MASKED_PHONE, {"was_temporary": "true"})


async def test_a_wrong_current_password_changes_nothing_and_hashes_nothing_new(world: World) -> None:
    await register(world)
    before = person(world)

    with pytest.raises(InvalidCredentials) as refused:
        await change(world, "not the password")

    assert refused.value.message == "Текущий пароль неверен"
    assert person(world) == before
    assert NEW_PASSWORD not in world.hasher.hashed


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short", "Пароль должен быть не короче 10 символов"),
        ("Temp000001xy", "Новый пароль должен отличаться от текущего"),
    ],
)
async def test_a_new_password_that_breaks_a_rule_is_refused_before_anything_is_checked(
    world: World, new: str, message: str
) -> None:
    await register(world)

    with pytest.raises(ValidationError) as refused:
        await change(world, temporary(world), new)

    assert refused.value.message == message
    assert person(world).must_change_password is True


async def test_an_expired_temporary_password_cannot_be_changed(world: World) -> None:
    await register(world)
    world.clock.advance(world.policy.temporary_password_ttl + timedelta(seconds=1))

    with pytest.raises(TemporaryPasswordExpired):
        await change(world, temporary(world))


async def test_a_voided_temporary_password_cannot_be_changed(world: World) -> None:
    await register(world)
    await wrong_guesses(world, 5)

    with pytest.raises(TemporaryPasswordVoided):
        await change(world, temporary(world))


async def test_the_account_of_a_token_is_found_or_not_found(world: World) -> None:
    await register(world)

    assert (await get_client_account(GetClientAccount(1), world.client_accounts())).person.phone.e164 == PHONE
    with pytest.raises(NotFound):
        await get_client_account(GetClientAccount(2), world.client_accounts())


# --- profile and consents ----------------------------------------------------------------------


async def test_the_profile_shows_the_client_and_the_consents_in_force_and_is_audited(world: World) -> None:
    await register(world, consents={"personal_data": True, "marketing": True})

    profile = await get_client_profile(GetClientProfile(1, CLIENT), world.client_accounts())

    assert (str(profile.person.first_name), profile.person.phone.e164) == ("Иван", PHONE)
    assert profile.granted("personal_data")
    assert profile.granted("marketing")
    assert profile.consents["marketing"].recorded_by == "manager:1"
    [event] = [e for e in audit_events(world) if e.action is AuditAction.CLIENT_PROFILE_VIEWED]
    assert (event.actor, event.masked_phone) == ("client:1", MASKED_PHONE)


async def test_withdrawing_marketing_consent_records_it_by_the_client_and_refuses_marketing_at_once(
    world: World,
) -> None:
    await add_marketing_template(world)
    await register(world, consents={"marketing": True})
    waiting = await schedule_notification(
        ScheduleNotification(client_id=1, context=MANAGER, template_code="PROMO_AUTUMN", channel="sms"),
        world.notifications(),
    )

    profile = await set_client_consents(SetClientConsents(1, {"marketing": False}, CLIENT), world.client_accounts())

    assert not profile.granted("marketing")
    latest = rows(world, "consents")[-1]
    assert (latest.consent_type, latest.granted, latest.recorded_by) == ("marketing", False, "client:1")
    assert world.db.tables["notifications"][waiting.id].status is NotificationStatus.FAILED
    with pytest.raises(ConsentRequired):
        await schedule_notification(
            ScheduleNotification(client_id=1, context=MANAGER, template_code="PROMO_AUTUMN", channel="sms"),
            world.notifications(),
        )
    recorded = [e for e in audit_events(world) if e.action is AuditAction.CONSENT_RECORDED and e.actor == "client:1"]
    assert [(e.details, e.masked_phone) for e in recorded] == [
        ({"consent_type": "marketing", "granted": "false"}, MASKED_PHONE)
    ]


async def test_giving_consent_back_is_as_easy_as_withdrawing_it(world: World) -> None:
    await register(world, consents={"marketing": True})
    await set_client_consents(SetClientConsents(1, {"marketing": False}, CLIENT), world.client_accounts())

    profile = await set_client_consents(SetClientConsents(1, {"marketing": True}, CLIENT), world.client_accounts())

    assert profile.granted("marketing")
    assert [c.granted for c in rows(world, "consents") if c.consent_type == "marketing"] == [True, False, True]


async def test_a_consent_set_as_it_already_is_adds_no_record(world: World) -> None:
    await register(world, consents={"marketing": True})

    await set_client_consents(SetClientConsents(1, {"marketing": True}, CLIENT), world.client_accounts())

    assert len(rows(world, "consents")) == 1


async def test_an_unknown_consent_type_is_refused_and_nothing_is_stored(world: World) -> None:
    await register(world, consents={"marketing": True})

    with pytest.raises(ValidationError) as refused:
        await set_client_consents(
            SetClientConsents(1, {"marketing": False, "telepathy": True}, CLIENT), world.client_accounts()
        )

    assert refused.value.field == "consents"
    assert len(rows(world, "consents")) == 1


async def test_signing_in_upgrades_an_outdated_hash_of_the_clients_own_password(world: World) -> None:
    await register(world)
    await change(world, temporary(world))
    outdated = person(world).password_hash
    assert outdated is not None
    world.hasher.rehash.add(outdated)
    world.hasher.hashed.clear()

    await sign_in(world, NEW_PASSWORD)

    assert world.hasher.hashed == [NEW_PASSWORD]
    assert person(world).password_hash == await world.hasher.hash(NEW_PASSWORD)


async def test_signing_out_ends_every_session_of_the_client(world: World) -> None:
    await register(world)
    before = person(world).session_version

    await end_client_sessions(EndClientSessions(1, CLIENT), world.client_accounts())

    assert person(world).session_version == before + 1
    assert actions(world)[-1] is AuditAction.CLIENT_SIGNED_OUT
