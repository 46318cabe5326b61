"""UC04: a manager registers a client (steps 3–9, alternatives A1–A7)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from barbershop_core.errors import ClientExists, PersonExists, TemporaryError
from barbershop_core.model import (
    MANAGER_SOURCE,
    AuditAction,
    Client,
    ClientNotification,
    Consent,
    NotificationStatus,
    Person,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import (
    Clock,
    NotificationQueue,
    PasswordGenerator,
    PasswordHasher,
    SecretBox,
    StorageUnavailable,
    UniqueViolation,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.use_cases._shared import (
    Context,
    TemporaryPassword,
    audit,
    hand_off,
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
    hasher: PasswordHasher
    passwords: PasswordGenerator
    secret_box: SecretBox
    clock: Clock
    queue: NotificationQueue
    policy: RegistrationPolicy = RegistrationPolicy()


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
        result = await _register_or_replay(command, phone, first_name, consents, deps)
    except StorageUnavailable as exc:
        log.error("ERROR_REGISTER_CLIENT phone=%s request=%s", phone.masked, command.context.request_id)
        raise TemporaryError() from exc
    if not result.idempotent and result.notification_status is NotificationStatus.SCHEDULED:
        assert result.notification_id is not None
        await hand_off(deps.queue, result.notification_id)
    return result


async def _register_or_replay(
    command: RegisterClient,
    phone: PhoneNumber,
    first_name: FirstName,
    consents: dict[str, bool],
    deps: RegistrationDeps,
) -> RegistrationResult:
    async with deps.uow_factory() as uow:
        existing = await uow.persons.get_by_phone(phone)
        if existing is not None:
            return await _answer_existing(uow, existing, command, deps)
    temporary = await new_temporary_password(
        channel=command.channel or deps.policy.default_channel,
        hasher=deps.hasher,
        passwords=deps.passwords,
        secret_box=deps.secret_box,
        clock=deps.clock,
        policy=deps.policy,
    )
    try:
        async with deps.uow_factory() as uow:
            return await _register(uow, command, phone, first_name, consents, temporary, deps)
    except UniqueViolation:
        # A6 under concurrency: another request committed this phone after our check.
        # The unique index decided; answer from what it kept.
        async with deps.uow_factory() as uow:
            winner = await uow.persons.get_by_phone(phone)
            if winner is None:
                raise StorageUnavailable("phone clash without a stored person") from None
            return await _answer_existing(uow, winner, command, deps)


async def _register(
    uow: UnitOfWork,
    command: RegisterClient,
    phone: PhoneNumber,
    first_name: FirstName,
    consents: dict[str, bool],
    temporary: TemporaryPassword,
    deps: RegistrationDeps,
) -> RegistrationResult:
    now = deps.clock.now()
    context = command.context
    delivery = await resolve_delivery(
        uow,
        channel_code=command.channel or deps.policy.default_channel,
        template_code=command.template_code or deps.policy.welcome_template,
        policy=deps.policy,
        postpone=command.postpone_notification,
        client_accounts=command.channel_accounts,
        marketing_consent=has_marketing_consent(consents),
    )
    person = Person(phone=phone, first_name=first_name, login=Login.from_phone(phone), created_at=now)
    person.set_temporary_password(temporary.password_hash, temporary.expires_at)
    await uow.persons.add(person)
    await audit(uow, context, AuditAction.PHONE_CHECKED, now, person=person, exists="false")
    await audit(uow, context, AuditAction.CREDENTIALS_ISSUED, now, person=person)
    await audit(uow, context, AuditAction.PERSON_CREATED, now, person=person)

    client = Client(
        person_id=person.id,
        registered_at=now,
        registered_by=str(context.actor),
        source=MANAGER_SOURCE,
        channel_accounts=dict(command.channel_accounts),
    )
    await uow.clients.add(client)
    await audit(uow, context, AuditAction.CLIENT_CREATED, now, person=person, client=client)
    for code, granted in consents.items():
        await uow.consents.add(Consent(client.id, code, granted, now, str(context.actor)))
        await audit(
            uow,
            context,
            AuditAction.CONSENT_RECORDED,
            now,
            person=person,
            client=client,
            consent_type=code,
            granted=str(granted).lower(),
        )

    secret, secret_expires_at = temporary.secret_for(delivery.body)
    notification = ClientNotification.new(
        client_id=client.id,
        channel=delivery.channel,
        template_code=delivery.template_code,
        kind=delivery.kind,
        now=now,
        held=delivery.hold_reason is not None,
        hold_reason=delivery.hold_reason,
        secret=secret,
        secret_expires_at=secret_expires_at,
    )
    await uow.notifications.add(notification)
    action = AuditAction.NOTIFICATION_HELD if delivery.hold_reason else AuditAction.NOTIFICATION_SCHEDULED
    await audit(
        uow,
        context,
        action,
        now,
        person=person,
        client=client,
        notification_id=notification.id,
        channel=delivery.channel,
        template=delivery.template_code,
    )
    await audit(uow, context, AuditAction.REGISTRATION_COMPLETED, now, person=person, client=client)
    await uow.commit()
    log.info("client %s registered, phone=%s", client.id, phone.masked)
    return RegistrationResult(
        person_id=person.id,
        client_id=client.id,
        login=str(person.login),
        phone=phone.e164,
        notification_id=notification.id,
        notification_status=notification.status,
    )


async def _answer_existing(
    uow: UnitOfWork, person: Person, command: RegisterClient, deps: RegistrationDeps
) -> RegistrationResult:
    """A6 inside the window for a client a manager registered, A1 otherwise."""
    now = deps.clock.now()
    client = await uow.clients.get_by_person(person.id)
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
    await audit(uow, command.context, AuditAction.REGISTRATION_REPLAYED, now, person=person, client=client)
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
