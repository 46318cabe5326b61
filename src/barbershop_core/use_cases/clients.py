"""Persons and clients one step at a time: check (step 3), create (5, 6), card (A1.1), update (A1.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import ClientExists, LoginTaken, NotFound, PersonExists, ValidationError
from barbershop_core.model import (
    MANAGER_SOURCE,
    AuditAction,
    AuditEvent,
    Client,
    ClientNotification,
    Consent,
    Person,
    Purchase,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import (
    AttemptCounter,
    Clock,
    KeyDigester,
    StorageUnavailable,
    UniqueViolation,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases._shared import Trail, parse_consents, require_client
from barbershop_core.values import Email, FirstName, Login, PhoneNumber


@attrs.frozen
class ClientDeps:
    """The ports of the use cases about persons and clients (the card, its timeline, the phone check)."""

    uow_factory: UnitOfWorkFactory
    clock: Clock
    policy: RegistrationPolicy
    attempts: AttemptCounter
    """Dedupes the audit of the live phone check."""
    digester: KeyDigester


@attrs.frozen
class CheckPhone:
    phone: str
    context: Context


@attrs.frozen
class FindByPhone:
    phone: str


@attrs.frozen
class GetPerson:
    person_id: int


@attrs.frozen
class GetClientCard:
    client_id: int


@attrs.frozen
class PhoneCheck:
    phone: str
    exists: bool
    person_id: int | None = None
    client_id: int | None = None


async def check_phone(command: CheckPhone, deps: ClientDeps) -> PhoneCheck:
    """Step 3: normalise the phone and say whether it is known.

    The page checks as the manager types: the check is audited once per manager and phone
    within ``policy.phone_check_audit_window`` (counted in ``seen`` under a keyed digest,
    so no phone is kept in clear), not once per keystroke.
    """
    phone, context = command.phone, command.context
    uow_factory, clock, policy, seen, digester = deps.uow_factory, deps.clock, deps.policy, deps.attempts, deps.digester
    parsed = PhoneNumber.parse(phone, policy.default_region)
    first = await _first_check_in_window(parsed, context, clock, policy, seen, digester)
    async with uow_factory() as uow:
        person = await uow.persons.get_by_phone(parsed)
        client = await uow.clients.get_by_person(person.id) if person else None
        if first:
            uow.record(_phone_checked(context, clock, parsed, person, client))
            await uow.commit()
    return PhoneCheck(
        phone=parsed.e164,
        exists=person is not None,
        person_id=person.id if person else None,
        client_id=client.id if client else None,
    )


async def _first_check_in_window(
    phone: PhoneNumber,
    context: Context,
    clock: Clock,
    policy: RegistrationPolicy,
    seen: AttemptCounter,
    digester: KeyDigester,
) -> bool:
    window = int(policy.phone_check_audit_window.total_seconds())
    start = int(clock.now().timestamp()) // window * window
    try:
        return await seen.add(f"phone_check:{digester.digest(f'{context.actor}|{phone.e164}')}", start, window) == 1
    except StorageUnavailable:
        return True  # better one audit event too many than a check that goes unaudited


def _phone_checked(
    context: Context, clock: Clock, phone: PhoneNumber, person: Person | None, client: Client | None
) -> AuditEvent:
    return AuditEvent(
        action=AuditAction.PHONE_CHECKED,
        actor=str(context.actor),
        occurred_at=clock.now(),
        request_id=context.request_id,
        person_id=person.id if person else None,
        client_id=client.id if client else None,
        masked_phone=phone.masked,
        details={"exists": str(person is not None).lower()},
    )


async def find_persons_by_phone(command: FindByPhone, deps: ClientDeps) -> list[Person]:
    phone, uow_factory, policy = command.phone, deps.uow_factory, deps.policy
    parsed = PhoneNumber.parse(phone, policy.default_region)
    async with uow_factory() as uow:
        person = await uow.persons.get_by_phone(parsed)
    return [person] if person else []


async def get_person(command: GetPerson, deps: ClientDeps) -> Person:
    person_id, uow_factory = command.person_id, deps.uow_factory
    async with uow_factory() as uow:
        person = await uow.persons.get(person_id)
    if person is None:
        raise NotFound(f"Персона {person_id} не найдена")
    return person


@attrs.frozen
class CreatePerson:
    phone: str
    first_name: str
    context: Context
    login: str | None = None
    """Defaults to the phone (UC04 business rule)."""


async def create_person(command: CreatePerson, deps: ClientDeps) -> Person:
    """Step 5 on its own. The person gets credentials when a welcome message is scheduled."""
    uow_factory, clock, policy = deps.uow_factory, deps.clock, deps.policy
    phone = PhoneNumber.parse(command.phone, policy.default_region)
    first_name = FirstName.parse(command.first_name)
    login = Login.parse(command.login) if command.login else Login.from_phone(phone)
    if login != Login.from_phone(phone) and login.value.startswith("+") and login.value[1:].isdigit():
        # Logins default to phones: another person's phone as this one's login would make
        # registering that phone clash on the login forever.
        raise ValidationError("Логин в виде номера телефона может быть только номером этого человека", field="login")
    try:
        async with uow_factory() as uow:
            existing = await uow.persons.get_by_phone(phone)
            if existing is not None:
                await _raise_taken(uow, existing)
            person = Person(phone=phone, first_name=first_name, login=login, created_at=clock.now())
            await uow.persons.add(person)
            uow.record(Trail(command.context, clock.now(), person).event(AuditAction.PERSON_CREATED))
            await uow.commit()
    except UniqueViolation as exc:
        if exc.what == "person_login":
            raise LoginTaken() from exc
        async with uow_factory() as uow:
            winner = await uow.persons.get_by_phone(phone)
            if winner is not None:
                await _raise_taken(uow, winner)
        raise
    return person


async def _raise_taken(uow: UnitOfWork, person: Person) -> None:
    client = await uow.clients.get_by_person(person.id)
    raise PersonExists(person_id=person.id, client_id=client.id if client else None)


@attrs.frozen
class CreateClient:
    person_id: int
    context: Context
    consents: Mapping[str, bool] = attrs.field(factory=dict)
    channel_accounts: Mapping[str, str] = attrs.field(factory=dict)


async def create_client(command: CreateClient, deps: ClientDeps) -> Client:
    """Step 6 on its own: make an existing person a client."""
    uow_factory, clock = deps.uow_factory, deps.clock
    consents = parse_consents(command.consents)
    now = clock.now()
    try:
        async with uow_factory() as uow:
            person = await uow.persons.get(command.person_id)
            if person is None:
                raise NotFound(f"Персона {command.person_id} не найдена")
            existing = await uow.clients.get_by_person(person.id)
            if existing is not None:
                raise ClientExists(client_id=existing.id, person_id=person.id)
            client = Client(
                person_id=person.id,
                registered_at=now,
                registered_by=str(command.context.actor),
                source=MANAGER_SOURCE,
                channel_accounts=dict(command.channel_accounts),
            )
            await uow.clients.add(client)
            uow.record(Trail(command.context, now, person, client).event(AuditAction.CLIENT_CREATED))
            await _record_consents(uow, command.context, person, client, consents, clock)
            await uow.commit()
    except UniqueViolation:
        async with uow_factory() as uow:
            winner = await uow.clients.get_by_person(command.person_id)
        if winner is None:
            raise
        raise ClientExists(client_id=winner.id, person_id=command.person_id) from None
    return client


async def _record_consents(
    uow: UnitOfWork, context: Context, person: Person, client: Client, consents: Mapping[str, bool], clock: Clock
) -> None:
    now = clock.now()
    await uow.consents.add_many(
        [Consent(client.id, code, granted, now, str(context.actor)) for code, granted in consents.items()]
    )
    trail = Trail(context, now, person, client)
    uow.record(
        *(
            trail.event(AuditAction.CONSENT_RECORDED, consent_type=code, granted=str(granted).lower())
            for code, granted in consents.items()
        )
    )


@attrs.frozen
class ClientCard:
    """A1.1: everything a manager sees about one client."""

    client: Client
    person: Person
    consents: Mapping[str, bool]
    notifications: Sequence[ClientNotification]
    purchases: Sequence[Purchase]


async def get_client_card(command: GetClientCard, deps: ClientDeps) -> ClientCard:
    client_id, uow_factory = command.client_id, deps.uow_factory
    async with uow_factory() as uow:
        return await _card(uow, client_id)


async def _card(uow: UnitOfWork, client_id: int) -> ClientCard:
    client, person = await require_client(uow, client_id)
    return ClientCard(
        client=client,
        person=person,
        consents=current_consents(await uow.consents.list_for_client(client.id)),
        notifications=list(await uow.notifications.list_for_client(client.id)),
        purchases=list(await uow.purchases.list_for_client(client.id)),
    )


def current_consents(history: Sequence[Consent]) -> dict[str, bool]:
    """The latest record of each consent type is the one in force."""
    return {consent.consent_type: consent.granted for consent in history}


async def find_clients_by_phone(command: FindByPhone, deps: ClientDeps) -> list[ClientCard]:
    phone, uow_factory, policy = command.phone, deps.uow_factory, deps.policy
    parsed = PhoneNumber.parse(phone, policy.default_region)
    async with uow_factory() as uow:
        person = await uow.persons.get_by_phone(parsed)
        client = await uow.clients.get_by_person(person.id) if person else None
        return [await _card(uow, client.id)] if client else []


@attrs.frozen
class UpdateClient:
    """A1.2: change what the manager typed; ``None`` leaves a field as it is."""

    client_id: int
    context: Context
    first_name: str | None = None
    phone: str | None = None
    email: str | None = None
    consents: Mapping[str, bool] = attrs.field(factory=dict)
    channel_accounts: Mapping[str, str] | None = None


async def update_client(command: UpdateClient, deps: ClientDeps) -> ClientCard:
    uow_factory, clock, policy = deps.uow_factory, deps.clock, deps.policy
    first_name = FirstName.parse(command.first_name) if command.first_name is not None else None
    phone = PhoneNumber.parse(command.phone, policy.default_region) if command.phone is not None else None
    email = Email.parse(command.email) if command.email is not None else None
    consents = parse_consents(command.consents)
    if command.channel_accounts is not None and any(not v.strip() for v in command.channel_accounts.values()):
        raise ValidationError("Пустой идентификатор аккаунта", field="channel_accounts")
    now = clock.now()
    try:
        async with uow_factory() as uow:
            client, person = await require_client(uow, command.client_id)
            changed: list[str] = []
            if first_name is not None and first_name != person.first_name:
                person.first_name = first_name
                changed.append("first_name")
            if phone is not None and phone != person.phone:
                other = await uow.persons.get_by_phone(phone)
                if other is not None:
                    await _raise_taken(uow, other)
                if person.login == Login.from_phone(person.phone):
                    person.login = Login.from_phone(phone)
                person.phone = phone
                changed.append("phone")
            if email is not None and email != client.email:
                client.email = email
                changed.append("email")
            if command.channel_accounts is not None and dict(command.channel_accounts) != client.channel_accounts:
                client.channel_accounts = dict(command.channel_accounts)
                changed.append("channel_accounts")
            await uow.persons.save(person)
            await uow.clients.save(client)
            await _record_consents(uow, command.context, person, client, consents, clock)
            if changed:
                trail = Trail(command.context, now, person, client)
                uow.record(trail.event(AuditAction.CLIENT_UPDATED, fields=",".join(changed)))
            await uow.commit()
            return await _card(uow, client.id)
    except UniqueViolation as exc:
        if exc.what == "person_login":
            raise LoginTaken() from exc
        if phone is None:
            raise
        raise await _taken_error(uow_factory, phone) from exc


async def _taken_error(uow_factory: UnitOfWorkFactory, phone: PhoneNumber) -> PersonExists:
    async with uow_factory() as uow:
        other = await uow.persons.get_by_phone(phone)
        client = await uow.clients.get_by_person(other.id) if other else None
    return PersonExists(person_id=other.id if other else 0, client_id=client.id if client else None)
