"""The client's own account: sign in with the welcome message's login and temporary password,
the forced change, the own profile, and giving or withdrawing consents (152-FZ).

The rules, as the managers' (:mod:`barbershop_core.use_cases.accounts`): no hashing inside a
transaction; an unknown login spends a hash like a known one, and answers the same
:class:`InvalidCredentials`; a password change verifies the current password before hashing
the new one and bumps :attr:`Person.session_version`, ending the client's other sessions.

Client-only rules: the login is the phone, typed in any form a person would; a temporary
password works until it expires and until the client sets their own; ``policy.
temporary_password_max_failures`` wrong passwords for one login void it (counted through the
shared :class:`AttemptCounter`, keyed by a digest of the person and that password's hash, so a
new temporary password starts from zero). Every step is audited with the masked phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import (
    ConsentRequired,
    InvalidCredentials,
    InvalidPhone,
    NotFound,
    TemporaryPasswordExpired,
    TemporaryPasswordVoided,
    ValidationError,
)
from barbershop_core.model import (
    Actor,
    AuditAction,
    AuditEvent,
    Client,
    Consent,
    ConsentCode,
    NotificationStatus,
    Person,
    TemplateKind,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import AttemptCounter, Clock, KeyDigester, PasswordHasher, UnitOfWork, UnitOfWorkFactory
from barbershop_core.use_cases._shared import Trail, log, parse_consents, require_client
from barbershop_core.use_cases.accounts import check_new_password
from barbershop_core.values import PhoneNumber

GUESS_KEY_PREFIX = "client_guess:"
"""Attempt-counter keys of wrong guesses at a temporary password: the prefix and 40 hex digits."""


@attrs.frozen
class ClientAccountDeps:
    uow_factory: UnitOfWorkFactory
    hasher: PasswordHasher
    clock: Clock
    attempts: AttemptCounter
    """Wrong guesses at temporary passwords, shared by every process."""
    digester: KeyDigester
    policy: RegistrationPolicy = RegistrationPolicy()


@attrs.frozen
class ClientAccount:
    """A signed-in client: the client and its person, read together."""

    client: Client
    person: Person

    @property
    def must_change_password(self) -> bool:
        return self.person.must_change_password


@attrs.frozen
class GetClientAccount:
    client_id: int


@attrs.frozen
class GetClientProfile:
    client_id: int
    context: Context


@attrs.frozen
class EndClientSessions:
    client_id: int
    context: Context


@attrs.frozen
class SignIn:
    login: str
    """The phone, as the client types it: ``8 911 123-45-67``, ``+7 (911) 123 45 67``…"""
    password: str
    request_id: str | None = None


def _phone_or_none(login: str, region: str) -> PhoneNumber | None:
    try:
        return PhoneNumber.parse(login, region)
    except InvalidPhone:
        return None


async def _find(uow: UnitOfWork, phone: PhoneNumber | None) -> ClientAccount | None:
    if phone is None:
        return None
    person = await uow.persons.get_by_phone(phone)
    client = await uow.clients.get_by_person(person.id) if person else None
    if person is None or client is None or person.password_hash is None:
        return None
    return ClientAccount(client, person)


async def authenticate_client(command: SignIn, deps: ClientAccountDeps) -> ClientAccount:
    """Verify a client's login and password; the slow hash runs with no transaction open.

    Raises :class:`InvalidCredentials` (unknown login or wrong password, alike),
    :class:`TemporaryPasswordExpired` or :class:`TemporaryPasswordVoided` (the password was
    right, but that temporary password no longer works).
    """
    now = deps.clock.now()
    phone = _phone_or_none(command.login, deps.policy.default_region)
    async with deps.uow_factory() as uow:
        account = await _find(uow, phone)
    if account is None:
        # Spend the same time as a real check, so timing does not reveal who is a client.
        await deps.hasher.hash(command.password)
        await _audit_failure(deps, command, phone, None, "unknown_login")
        raise InvalidCredentials()
    person = account.person
    assert person.password_hash is not None  # _find returns only persons with a password
    guesses = await _count_guess(person, now, deps) if _guessable(person, now) else None
    if not await deps.hasher.verify(person.password_hash, command.password):
        exhausted = guesses is not None and guesses >= deps.policy.temporary_password_max_failures
        await _audit_failure(deps, command, phone, account, "wrong_password", void=exhausted)
        raise InvalidCredentials()
    if guesses is not None and guesses > deps.policy.temporary_password_max_failures:
        # Right, but parallel wrong guesses used up the tries first: it is void all the same.
        await _audit_failure(deps, command, phone, account, "voided", void=True)
        raise TemporaryPasswordVoided()
    if person.has_temporary_password and person.temporary_password_voided_at is not None:
        await _audit_failure(deps, command, phone, account, "voided")
        raise TemporaryPasswordVoided()
    if person.temporary_password_expired(now):
        await _audit_failure(deps, command, phone, account, "expired")
        raise TemporaryPasswordExpired()
    if guesses is not None:
        await deps.attempts.reset(*_guess_window(person, now, deps)[:2])
    new_hash = None
    if not person.has_temporary_password and deps.hasher.needs_rehash(person.password_hash):
        new_hash = await deps.hasher.hash(command.password)
    return await _signed_in(account, command, new_hash, deps)


def _guessable(person: Person, now: datetime) -> bool:
    """Wrong guesses count against a temporary password that still works."""
    return (
        person.has_temporary_password
        and person.temporary_password_voided_at is None
        and not person.temporary_password_expired(now)
    )


def _guess_window(person: Person, now: datetime, deps: ClientAccountDeps) -> tuple[str, int, int]:
    """The counter's key, window and its length: one window for the life of this temporary password."""
    digest = deps.digester.digest(f"{person.id}|{person.password_hash}")[:40]
    expires = person.temporary_password_expires_at
    if expires is None:
        return GUESS_KEY_PREFIX + digest, 0, int(deps.policy.temporary_password_ttl.total_seconds())
    return GUESS_KEY_PREFIX + digest, int(expires.timestamp()), max(int((expires - now).total_seconds()), 1)


async def _count_guess(person: Person, now: datetime, deps: ClientAccountDeps) -> int:
    """Count this attempt before the hash runs, so a burst of parallel guesses cannot all slip through."""
    key, window_start, window_seconds = _guess_window(person, now, deps)
    return await deps.attempts.add(key, window_start, window_seconds)


def _actor(account: ClientAccount | None) -> Actor:
    return Actor.client(account.client.id) if account else Actor("client", "unknown")


async def _audit_failure(
    deps: ClientAccountDeps,
    command: SignIn,
    phone: PhoneNumber | None,
    account: ClientAccount | None,
    reason: str,
    *,
    void: bool = False,
) -> None:
    """Audit a refused sign-in; ``void`` also voids the temporary password that was guessed at."""
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        event = AuditEvent(
            action=AuditAction.CLIENT_SIGN_IN_FAILED,
            actor=str(_actor(account)),
            occurred_at=now,
            request_id=command.request_id,
            person_id=account.person.id if account else None,
            client_id=account.client.id if account else None,
            masked_phone=phone.masked if phone else None,
            details={"reason": reason},
        )
        uow.record(event)
        if void and account is not None:
            await _void(uow, account, command, now)
        await uow.commit()
    log.info("client sign-in refused (%s), phone=%s", reason, phone.masked if phone else "-")


async def _void(uow: UnitOfWork, account: ClientAccount, command: SignIn, now: datetime) -> None:
    current = await uow.persons.get(account.person.id)
    if current is None or current.password_hash != account.person.password_hash:
        return  # a new password was issued meanwhile: the guesses were at the old one
    if current.temporary_password_voided_at is not None:
        return
    current.void_temporary_password(now)
    await uow.persons.save(current)
    trail = Trail(Context(_actor(account), command.request_id), now, current, account.client)
    uow.record(trail.event(AuditAction.TEMPORARY_PASSWORD_VOIDED))


async def _signed_in(
    account: ClientAccount, command: SignIn, new_hash: str | None, deps: ClientAccountDeps
) -> ClientAccount:
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        current = await uow.clients.get_with_person(account.client.id)
        if current is None or current[1].password_hash != account.person.password_hash:
            raise InvalidCredentials()  # the password changed while this one was being checked
        client, person = current
        if person.first_signed_in_at is None:
            person.first_signed_in_at = now
        if new_hash is not None:
            person.password_hash = new_hash
        await uow.persons.save(person)
        trail = Trail(Context(Actor.client(client.id), command.request_id), now, person, client)
        uow.record(trail.event(AuditAction.CLIENT_SIGNED_IN, temporary=str(person.must_change_password).lower()))
        await uow.commit()
    return ClientAccount(client, person)


async def get_client_account(command: GetClientAccount, deps: ClientAccountDeps) -> ClientAccount:
    """The client behind a token (for the guards); :class:`NotFound` when it is gone."""
    client_id, uow_factory = command.client_id, deps.uow_factory
    async with uow_factory() as uow:
        found = await uow.clients.get_with_person(client_id)
    if found is None or found[1].password_hash is None:
        raise NotFound("Учётная запись клиента не найдена")
    return ClientAccount(*found)


@attrs.frozen
class ChangeClientPassword:
    client_id: int
    current_password: str
    new_password: str
    context: Context


async def change_client_password(command: ChangeClientPassword, deps: ClientAccountDeps) -> ClientAccount:
    """Replace the password (the temporary one for good). The current password is verified before
    the new one is hashed, neither inside a transaction; every other session of the client ends
    (the caller gets the new session version to issue a fresh token under)."""
    check_new_password(command.new_password)
    if command.new_password == command.current_password:
        raise ValidationError("Новый пароль должен отличаться от текущего", field="new_password")
    account = await get_client_account(GetClientAccount(command.client_id), deps)
    person = account.person
    assert person.password_hash is not None  # get_client_account returns only persons with a password
    if not await deps.hasher.verify(person.password_hash, command.current_password):
        raise InvalidCredentials("Текущий пароль неверен")
    now = deps.clock.now()
    if person.has_temporary_password and person.temporary_password_voided_at is not None:
        raise TemporaryPasswordVoided()
    if person.temporary_password_expired(now):
        raise TemporaryPasswordExpired()
    new_hash = await deps.hasher.hash(command.new_password)
    async with deps.uow_factory() as uow:
        client, current = await require_client(uow, command.client_id)
        if current.password_hash != person.password_hash:
            raise InvalidCredentials("Текущий пароль неверен")  # changed meanwhile
        was_temporary = current.has_temporary_password
        current.set_password(new_hash)
        await uow.persons.save(current)
        trail = Trail(command.context, now, current, client)
        uow.record(trail.event(AuditAction.CLIENT_PASSWORD_CHANGED, was_temporary=str(was_temporary).lower()))
        await uow.commit()
    return ClientAccount(client, current)


@attrs.frozen
class ClientProfile:
    """What a client sees of themself: their data and the consent of each type in force."""

    client: Client
    person: Person
    consents: Mapping[str, Consent]
    """The latest record of each consent type given or refused."""

    def granted(self, code: str) -> bool:
        consent = self.consents.get(code)
        return consent is not None and consent.granted


def _latest(history: Sequence[Consent]) -> dict[str, Consent]:
    return {consent.consent_type: consent for consent in history}


async def get_client_profile(command: GetClientProfile, deps: ClientAccountDeps) -> ClientProfile:
    """The client's own data (audited: personal data was shown)."""
    client_id, context = command.client_id, command.context
    uow_factory, clock = deps.uow_factory, deps.clock
    async with uow_factory() as uow:
        client, person = await require_client(uow, client_id)
        consents = _latest(await uow.consents.list_for_client(client.id))
        uow.record(Trail(context, clock.now(), person, client).event(AuditAction.CLIENT_PROFILE_VIEWED))
        await uow.commit()
    return ClientProfile(client, person, consents)


@attrs.frozen
class SetClientConsents:
    client_id: int
    consents: Mapping[str, bool]
    """Only the types named change; the others stay as they are."""
    context: Context


async def set_client_consents(command: SetClientConsents, deps: ClientAccountDeps) -> ClientProfile:
    """Give or withdraw consents, each change a new record (the history stays).

    Withdrawing the marketing consent stops marketing at once: every marketing message still
    waiting fails now, and the worker checks the consent again before any send.
    """
    uow_factory, clock = deps.uow_factory, deps.clock
    wanted = parse_consents(command.consents)
    now = clock.now()
    async with uow_factory() as uow:
        client, person = await require_client(uow, command.client_id)
        latest = _latest(await uow.consents.list_for_client(client.id))
        changes = [
            Consent(client.id, code, granted, now, str(command.context.actor))
            for code, granted in wanted.items()
            if code not in latest or latest[code].granted != granted
        ]
        await uow.consents.add_many(changes)
        trail = Trail(command.context, now, person, client)
        uow.record(
            *(
                trail.event(AuditAction.CONSENT_RECORDED, consent_type=c.consent_type, granted=str(c.granted).lower())
                for c in changes
            )
        )
        if any(c.consent_type == ConsentCode.MARKETING and not c.granted for c in changes):
            await _stop_marketing(uow, client, trail, now)
        await uow.commit()
    return ClientProfile(client, person, latest | {c.consent_type: c for c in changes})


async def _stop_marketing(uow: UnitOfWork, client: Client, trail: Trail, now: datetime) -> None:
    waiting = (NotificationStatus.SCHEDULED, NotificationStatus.HELD)
    for listed in await uow.notifications.list_for_client(client.id):
        if listed.kind is not TemplateKind.MARKETING or listed.status not in waiting:
            continue
        # Locked and read again: a worker may be claiming or finishing it at this moment.
        notification = await uow.notifications.get_for_update(listed.id)
        if notification is None or notification.status not in waiting:
            continue
        notification.fail(now, ConsentRequired.title)
        await uow.notifications.save(notification)
        uow.record(
            trail.event(AuditAction.NOTIFICATION_FAILED, notification_id=notification.id, channel=notification.channel)
        )


async def end_client_sessions(command: EndClientSessions, deps: ClientAccountDeps) -> None:
    """Sign-out: every token and page session of the client stops working at once."""
    client_id, context = command.client_id, command.context
    uow_factory, clock = deps.uow_factory, deps.clock
    async with uow_factory() as uow:
        client, person = await require_client(uow, client_id)
        person.end_sessions()
        await uow.persons.save(person)
        uow.record(Trail(context, clock.now(), person, client).event(AuditAction.CLIENT_SIGNED_OUT))
        await uow.commit()
