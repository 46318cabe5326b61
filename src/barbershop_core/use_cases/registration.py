"""UC04: a manager registers a client (steps 3–9, alternatives A1–A7)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import ClientExists, DomainError, PersonExists, TemporaryError
from barbershop_core.model import (
    MANAGER_SOURCE,
    UNSAVED,
    AuditAction,
    Client,
    Consent,
    NotificationStatus,
    Person,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import (
    ChannelDirectory,
    Clock,
    KnownPerson,
    NewRegistration,
    PasswordGenerator,
    PasswordHasher,
    RouteChanged,
    SecretBox,
    StorageUnavailable,
    UniqueViolation,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases._shared import (
    Delivery,
    TemporaryPassword,
    Trail,
    has_marketing_consent,
    log,
    new_temporary_password,
    parse_consents,
    resolve_delivery,
)
from barbershop_core.values import FirstName, Login, PhoneNumber


@attrs.frozen
class RegisterClient:
    phone: str
    first_name: str
    context: Context
    channel: str | None = None
    """Variant 2: a channel named by the request; the policy's default otherwise."""
    template_code: str | None = None
    consents: Mapping[str, bool] = attrs.field(factory=dict)
    channel_accounts: Mapping[str, str] = attrs.field(factory=dict)
    postpone_notification: bool = False
    """A7: register now, hold the welcome message until a manager releases it."""


@attrs.frozen
class RegistrationResult:
    person_id: int
    client_id: int
    login: str
    phone: str
    notification_id: int | None
    notification_status: NotificationStatus | None
    idempotent: bool = False
    """A6: the same phone within the window; nothing new was created."""


@attrs.frozen
class RegistrationDeps:
    uow_factory: UnitOfWorkFactory
    """Its units of work hand due notifications to the queue after they commit."""
    hasher: PasswordHasher
    passwords: PasswordGenerator
    secret_box: SecretBox
    clock: Clock
    policy: RegistrationPolicy = RegistrationPolicy()
    channels: ChannelDirectory | None = None
    """The installation's channel adapters: a code-only one gets a password of digits. Without
    them, the shipped code-only channels are known by name."""


async def register_client(command: RegisterClient, deps: RegistrationDeps) -> RegistrationResult:
    """Create Person, Client, consents, the welcome notification and audit in one transaction.

    The notification is handed to the queue only after the commit. Raises
    ``InvalidPhone`` (A2), ``ClientExists`` (A1), ``ChannelUnavailable`` /
    ``TemplateMissing`` (A7), ``ConsentRequired`` (A5) or ``TemporaryError`` (A3).
    """
    phone = PhoneNumber.parse(command.phone, deps.policy.default_region)
    first_name = FirstName.parse(command.first_name)
    consents = parse_consents(command.consents)
    try:
        return await _register_or_replay(command, phone, first_name, consents, deps)
    except StorageUnavailable as exc:
        log.error("ERROR_REGISTER_CLIENT phone=%s request=%s", phone.masked, command.context.request_id)
        raise TemporaryError() from exc


async def _register_or_replay(
    command: RegisterClient,
    phone: PhoneNumber,
    first_name: FirstName,
    consents: dict[str, bool],
    deps: RegistrationDeps,
) -> RegistrationResult:
    # The slow hash comes first, with no transaction open; a known phone (A1/A6, rare at
    # this point: the page checks the phone as it is typed) wastes it, a new one saves
    # a transaction of its own.
    temporary = await new_temporary_password(
        channel=command.channel or deps.policy.default_channel,
        hasher=deps.hasher,
        passwords=deps.passwords,
        secret_box=deps.secret_box,
        clock=deps.clock,
        policy=deps.policy,
        channels=deps.channels,
    )
    person = Person(phone=phone, first_name=first_name, login=Login.from_phone(phone), created_at=deps.clock.now())
    person.set_temporary_password(temporary.password_hash, temporary.expires_at)
    try:
        for _ in range(2):
            try:
                async with deps.uow_factory() as uow:
                    return await _register(uow, command, person, consents, temporary, deps)
            except RouteChanged:
                # The store's copy of the route was out of date (another process changed the
                # channel or its template): made again, on the route read afresh.
                log.info("route changed since it was read; registering again, phone=%s", phone.masked)
                continue
        raise StorageUnavailable("the route changed while the client was being registered")
    except UniqueViolation:
        # A6 under concurrency, where the store reports the clash at commit: another
        # request committed this phone first. The unique index decided; answer from it.
        async with deps.uow_factory() as uow:
            winner = await _known_by_phone(uow, phone)
            if winner is None:
                raise StorageUnavailable("phone clash without a stored person") from None
            return await _answer_existing(uow, winner, command, deps)


async def _register(
    uow: UnitOfWork,
    command: RegisterClient,
    person: Person,
    consents: dict[str, bool],
    temporary: TemporaryPassword,
    deps: RegistrationDeps,
) -> RegistrationResult:
    """Person, client, consents and notification are written together; a known phone
    (A1/A6) writes nothing and is answered from what is stored. The route may be the store's
    copy: the write checks it (:class:`RouteChanged`)."""
    now = person.created_at
    context = command.context
    try:
        delivery = await _delivery(uow, command, consents, deps)
    except DomainError:
        # The route is read before the phone is checked (one write does both); a known
        # phone is still answered as A1/A6 whatever its welcome message would have met.
        await uow.rollback()
        known = await _known_by_phone(uow, person.phone)
        if known is None:
            raise
        return await _answer_existing(uow, known, command, deps)

    actor = str(context.actor)
    client = Client(
        person_id=UNSAVED,
        registered_at=now,
        registered_by=actor,
        source=MANAGER_SOURCE,
        channel_accounts=dict(command.channel_accounts),
    )
    notification = delivery.notification(UNSAVED, now, temporary.secret_for(delivery.body))
    # Made before the records have ids: the store gives each UNSAVED one the registration's own.
    trail = Trail(context, now, person)
    client_trail = trail.about(client=client)
    registration = NewRegistration(
        person=person,
        client=client,
        consents=[Consent(UNSAVED, code, granted, now, actor) for code, granted in consents.items()],
        notification=notification,
        route=delivery.route,
        events=[
            trail.event(AuditAction.PHONE_CHECKED, exists="false"),
            trail.event(AuditAction.CREDENTIALS_ISSUED),
            trail.event(AuditAction.PERSON_CREATED),
            client_trail.event(AuditAction.CLIENT_CREATED),
            *(
                client_trail.event(AuditAction.CONSENT_RECORDED, consent_type=code, granted=str(granted).lower())
                for code, granted in consents.items()
            ),
            delivery.scheduled(client_trail, notification),
            client_trail.event(AuditAction.REGISTRATION_COMPLETED),
        ],
    )
    known = await uow.registrations.commit_if_new(registration)
    if known is not None:
        return await _answer_existing(uow, known, command, deps)
    log.info("client %s registered, phone=%s", client.id, person.phone.masked)
    return RegistrationResult(
        person_id=person.id,
        client_id=client.id,
        login=str(person.login),
        phone=person.phone.e164,
        notification_id=notification.id,
        notification_status=notification.status,
    )


async def _delivery(
    uow: UnitOfWork, command: RegisterClient, consents: dict[str, bool], deps: RegistrationDeps
) -> Delivery:
    """The welcome message's way, on the route as last seen — a copy the write checks — but a
    refusal (A5, A7) only on the route read afresh: no write would check the copy behind it."""

    async def resolve(*, seen: bool) -> Delivery:
        return await resolve_delivery(
            uow,
            channel_code=command.channel or deps.policy.default_channel,
            template_code=command.template_code or deps.policy.welcome_template,
            policy=deps.policy,
            postpone=command.postpone_notification,
            client_accounts=command.channel_accounts,
            marketing_consent=has_marketing_consent(consents),
            seen=seen,
        )

    try:
        return await resolve(seen=True)
    except DomainError:
        return await resolve(seen=False)


async def _known_by_phone(uow: UnitOfWork, phone: PhoneNumber) -> KnownPerson | None:
    person = await uow.persons.get_by_phone(phone)
    if person is None:
        return None
    return KnownPerson(person, await uow.clients.get_by_person(person.id))


async def _answer_existing(
    uow: UnitOfWork, known: KnownPerson, command: RegisterClient, deps: RegistrationDeps
) -> RegistrationResult:
    """A6 inside the window for a client a manager registered, A1 otherwise."""
    now = deps.clock.now()
    person, client = known.person, known.client
    if client is None:
        raise PersonExists(person_id=person.id)
    fresh = now - client.registered_at <= deps.policy.idempotency_window
    if not fresh or client.source != MANAGER_SOURCE:
        raise ClientExists(client_id=client.id, person_id=person.id)
    welcome = [
        notification
        for notification in await uow.notifications.list_for_client(client.id)
        if notification.resend_of is None
    ]
    first = welcome[0] if welcome else None
    uow.record(Trail(command.context, now, person, client).event(AuditAction.REGISTRATION_REPLAYED))
    await uow.commit()
    return RegistrationResult(
        person_id=person.id,
        client_id=client.id,
        login=str(person.login),
        phone=person.phone.e164,
        notification_id=first.id if first else None,
        notification_status=first.status if first else None,
        idempotent=True,
    )
