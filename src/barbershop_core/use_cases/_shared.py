"""Pieces several use cases share: request context, audit, channel resolution, credentials."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import ChannelUnavailable, ConsentRequired, NotFound, TemplateMissing, ValidationError
from barbershop_core.model import (
    CONSENT_TYPES,
    AddressKind,
    AuditAction,
    AuditEvent,
    Channel,
    Client,
    ClientNotification,
    ConsentCode,
    NotificationTemplate,
    Person,
    TemplateKind,
)
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.ports import (
    ChannelDirectory,
    Clock,
    PasswordGenerator,
    PasswordHasher,
    Route,
    SecretBox,
    UnitOfWork,
)
from barbershop_core.reference import CODE_ONLY_CHANNELS
from barbershop_core.templates import DEFAULT_BODIES, needs_password

log = logging.getLogger("barbershop_core")


@attrs.frozen
class Trail:
    """Builds one use case's audit events: who asked, when, and about whom.

    Ids are read when an event is built, so a trail made before an entity was added
    names it once the store has given it an id.
    """

    context: Context
    at: datetime
    person: Person | None = None
    client: Client | None = None

    def about(self, *, person: Person | None = None, client: Client | None = None) -> Trail:
        return attrs.evolve(self, person=person or self.person, client=client or self.client)

    def event(self, action: AuditAction, *, notification_id: int | None = None, **details: str) -> AuditEvent:
        person, client = self.person, self.client
        return AuditEvent(
            action=action,
            actor=str(self.context.actor),
            occurred_at=self.at,
            request_id=self.context.request_id,
            person_id=person.id if person else (client.person_id if client else None),
            client_id=client.id if client else None,
            notification_id=notification_id,
            masked_phone=person.phone.masked if person else None,
            details=dict(details),
        )


async def active_channel_codes(uow: UnitOfWork) -> tuple[str, ...]:
    return tuple(sorted(channel.code for channel in await uow.reference.list_channels() if channel.is_active))


def parse_consents(raw: Mapping[str, bool]) -> dict[str, bool]:
    known = {consent_type.code for consent_type in CONSENT_TYPES}
    unknown = set(raw) - known
    if unknown:
        raise ValidationError(f"Неизвестный тип согласия: {', '.join(sorted(unknown))}", field="consents")
    return dict(raw)


def has_marketing_consent(consents: Mapping[str, bool]) -> bool:
    return consents.get(ConsentCode.MARKETING, False)


@attrs.frozen
class Delivery:
    """Where a notification goes; ``hold_reason`` is set when it must wait (A7)."""

    channel: str
    template_code: str
    kind: TemplateKind
    body: str | None
    hold_reason: str | None = None
    route: Route | None = None
    """The channel and template it was built from, when both were there."""

    def notification(
        self,
        client_id: int,
        now: datetime,
        secret: tuple[bytes | None, datetime | None],
        *,
        resend_of: int | None = None,
        reason: str | None = None,
    ) -> ClientNotification:
        """The notification that goes this way, carrying ``secret`` (sealed password, expiry)."""
        sealed, expires_at = secret
        return ClientNotification.new(
            client_id=client_id,
            channel=self.channel,
            template_code=self.template_code,
            kind=self.kind,
            now=now,
            held=self.hold_reason is not None,
            hold_reason=self.hold_reason,
            secret=sealed,
            secret_expires_at=expires_at,
            resend_of=resend_of,
            reason=reason,
        )

    def scheduled(self, trail: Trail, notification: ClientNotification) -> AuditEvent:
        """The audit event of ``notification`` taking this way: held (A7) or scheduled."""
        action = AuditAction.NOTIFICATION_HELD if self.hold_reason else AuditAction.NOTIFICATION_SCHEDULED
        return trail.event(action, notification_id=notification.id, channel=self.channel, template=self.template_code)


async def resolve_delivery(
    uow: UnitOfWork,
    *,
    channel_code: str,
    template_code: str,
    policy: RegistrationPolicy,
    postpone: bool,
    client_accounts: Mapping[str, str],
    marketing_consent: bool,
    seen: bool = False,
) -> Delivery:
    """Variant 2: validate a named channel and template against current reference data.

    Raises A7's :class:`ChannelUnavailable` / :class:`TemplateMissing` unless the caller
    asked to postpone, in which case the notification is held instead. ``seen``: the route
    may come from the store's copy (:meth:`ReferenceDataRepository.seen_route`), for a
    caller whose write checks it (:attr:`Delivery.route`).
    """
    read = uow.reference.seen_route if seen else uow.reference.get_route
    channel, template = await read(channel_code, template_code)
    if channel is not None and (template is None or not template.is_active):
        template = await _missing_template(uow, template, template_code, channel_code, policy)
    kind = template.kind if template else await _kind_of(uow, template_code)
    if kind is TemplateKind.MARKETING and not marketing_consent:
        raise ConsentRequired()
    problem = await _channel_problem(uow, channel, channel_code, template, template_code, client_accounts)
    route = Route(channel, template) if channel is not None and template is not None else None
    if postpone:
        reason = problem.message if problem else "Отложено менеджером"
        return Delivery(channel_code, template_code, kind, template.body if template else None, reason, route)
    if problem:
        raise problem
    assert template is not None  # _channel_problem reports a missing template
    return Delivery(channel_code, template_code, kind, template.body, route=route)


async def _channel_problem(
    uow: UnitOfWork,
    channel: Channel | None,
    channel_code: str,
    template: NotificationTemplate | None,
    template_code: str,
    client_accounts: Mapping[str, str],
) -> ChannelUnavailable | TemplateMissing | None:
    """What keeps the message from going out now; the channels to pick instead are read only then."""
    if channel is None:
        return ChannelUnavailable(channel_code, await active_channel_codes(uow), f"Неизвестный канал «{channel_code}»")
    if not channel.is_active:
        return ChannelUnavailable(channel_code, await active_channel_codes(uow))
    if channel.address_kind is AddressKind.ACCOUNT and not client_accounts.get(channel_code):
        return ChannelUnavailable(
            channel_code,
            await active_channel_codes(uow),
            f"У клиента нет привязанного аккаунта для канала «{channel.title}»",
        )
    if template is None:
        return TemplateMissing(template_code, channel_code, await active_channel_codes(uow))
    return None


async def _missing_template(
    uow: UnitOfWork, template: NotificationTemplate | None, code: str, channel: str, policy: RegistrationPolicy
) -> NotificationTemplate | None:
    """An inactive template is missing; an absent default one is created when the policy says so."""
    if template is None and policy.create_missing_templates and code in DEFAULT_BODIES:
        template = NotificationTemplate(code, channel, TemplateKind.SERVICE, DEFAULT_BODIES[code])
        await uow.reference.save_template(template)
        log.info("created default template %s for channel %s", code, channel)
        return template
    return None


async def _kind_of(uow: UnitOfWork, template_code: str) -> TemplateKind:
    """The kind of a template known on any channel; an unknown code is treated as service."""
    for template in await uow.reference.list_templates():
        if template.code == template_code:
            return template.kind
    return TemplateKind.SERVICE


@attrs.frozen
class TemporaryPassword:
    """A fresh temporary password: its hash for the person, sealed for the message."""

    password_hash: str
    sealed: bytes
    expires_at: datetime

    def secret_for(self, body: str | None) -> tuple[bytes | None, datetime | None]:
        """The sealed password for a message whose template shows it (or is not known yet)."""
        if body is not None and not needs_password(body):
            return None, None
        return self.sealed, self.expires_at


def carries_only_code(channel: str, channels: ChannelDirectory | None) -> bool:
    """Whether ``channel`` carries a numeric code and no text, as its adapter declares.

    A channel without an adapter here (or with no directory to ask) is taken by the shipped
    reference data (:data:`~barbershop_core.reference.CODE_ONLY_CHANNELS`): its messages wait,
    held, and the password issued for them keeps the shape its provider will want."""
    adapter = channels.get(channel) if channels is not None else None
    if adapter is None:
        return channel in CODE_ONLY_CHANNELS
    return adapter.carries_only_code


async def new_temporary_password(
    *,
    channel: str,
    hasher: PasswordHasher,
    passwords: PasswordGenerator,
    secret_box: SecretBox,
    clock: Clock,
    policy: RegistrationPolicy,
    channels: ChannelDirectory | None,
) -> TemporaryPassword:
    """Made before a transaction opens, so the slow hash never holds a database lock.

    A channel that carries only a numeric code gets a password of digits."""
    password = passwords.generate_code() if carries_only_code(channel, channels) else passwords.generate()
    return TemporaryPassword(
        password_hash=await hasher.hash(password),
        sealed=secret_box.seal(password),
        expires_at=clock.now() + policy.temporary_password_ttl,
    )


async def require_client(uow: UnitOfWork, client_id: int) -> tuple[Client, Person]:
    return found_client(await uow.clients.get_with_person(client_id), client_id)


def found_client(found: tuple[Client, Person] | None, client_id: int) -> tuple[Client, Person]:
    """The client and person read for ``client_id``; :class:`NotFound` when none was."""
    if found is None:
        raise NotFound(f"Клиент {client_id} не найден")
    return found
