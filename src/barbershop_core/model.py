"""Entities, their rules, and reference data.

Entities are mutable attrs classes with an integer ``id`` that the store assigns
(:data:`UNSAVED` until then); value objects live in :mod:`barbershop_core.values`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Final

import attrs

from barbershop_core.errors import InvalidTransition
from barbershop_core.values import Email, FirstName, FullName, Login, Money, PhoneNumber

UNSAVED: Final = 0
"""The id of an entity that has not been added to a repository yet."""

MANAGER_SOURCE: Final = "manager"


def partner_source(partner_name: str) -> str:
    return f"partner:{partner_name}"


@attrs.frozen
class Actor:
    """Who did something: ``manager:7``, ``partner:3``, ``system:worker``, ``provider:sms``."""

    kind: str
    id: str

    @classmethod
    def manager(cls, manager_id: int) -> Actor:
        return cls("manager", str(manager_id))

    @classmethod
    def partner(cls, partner_id: int) -> Actor:
        return cls("partner", str(partner_id))

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", name)

    @classmethod
    def provider(cls, channel: str) -> Actor:
        return cls("provider", channel)

    @classmethod
    def client(cls, client_id: int) -> Actor:
        """The client themself, signed in to their own account."""
        return cls("client", str(client_id))

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@attrs.define
class Person:
    phone: PhoneNumber
    first_name: FirstName
    login: Login
    created_at: datetime
    password_hash: str | None = None
    must_change_password: bool = False
    temporary_password_expires_at: datetime | None = None
    temporary_password_voided_at: datetime | None = None
    """Set when too many wrong passwords voided the temporary one; a new one clears it."""
    first_signed_in_at: datetime | None = None
    """When the client first signed in to their account (None: never)."""
    session_version: int = 0
    """Like :attr:`Manager.session_version`: every client token carries it; a password
    change bumps it, ending every other session of the client at once."""
    id: int = UNSAVED

    def set_temporary_password(self, password_hash: str, expires_at: datetime) -> None:
        self.password_hash = password_hash
        self.must_change_password = True
        self.temporary_password_expires_at = expires_at
        self.temporary_password_voided_at = None

    @property
    def has_temporary_password(self) -> bool:
        return self.must_change_password and self.password_hash is not None

    def temporary_password_expired(self, now: datetime) -> bool:
        expires = self.temporary_password_expires_at
        return self.has_temporary_password and expires is not None and expires <= now

    def void_temporary_password(self, now: datetime) -> None:
        """Too many wrong guesses: the temporary password never works again (a manager sends a new one)."""
        if self.has_temporary_password and self.temporary_password_voided_at is None:
            self.temporary_password_voided_at = now

    def set_password(self, password_hash: str) -> None:
        """The client's own password replaces the temporary one; every other session ends."""
        self.password_hash = password_hash
        self.must_change_password = False
        self.temporary_password_expires_at = None
        self.temporary_password_voided_at = None
        self.end_sessions()

    def end_sessions(self) -> None:
        self.session_version += 1


@attrs.define
class Client:
    person_id: int
    registered_at: datetime
    registered_by: str
    source: str
    full_name: FullName | None = None
    email: Email | None = None
    channel_accounts: dict[str, str] = attrs.field(factory=dict)
    """Per-channel account ids for channels that cannot reach a bare phone (VK)."""
    id: int = UNSAVED


class ConsentCode(enum.StrEnum):
    PERSONAL_DATA = "personal_data"
    MARKETING = "marketing"


@attrs.frozen
class ConsentType:
    code: str
    title: str


CONSENT_TYPES: Final = (
    ConsentType(ConsentCode.PERSONAL_DATA, "Обработка персональных данных"),
    ConsentType(ConsentCode.MARKETING, "Рекламные и маркетинговые сообщения"),
)


@attrs.define
class Consent:
    client_id: int
    consent_type: str
    granted: bool
    recorded_at: datetime
    recorded_by: str
    id: int = UNSAVED


class AddressKind(enum.StrEnum):
    PHONE = "phone"
    """The provider reaches the client by phone number."""
    ACCOUNT = "account"
    """The provider needs an account id linked to the client (VK)."""


@attrs.frozen
class Channel:
    code: str
    title: str
    is_active: bool = True
    address_kind: AddressKind = AddressKind.PHONE


class TemplateKind(enum.StrEnum):
    SERVICE = "service"
    MARKETING = "marketing"


@attrs.frozen
class NotificationTemplate:
    code: str
    channel: str
    kind: TemplateKind
    body: str
    is_active: bool = True


class NotificationStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


_ALLOWED_TRANSITIONS: Final[dict[NotificationStatus, frozenset[NotificationStatus]]] = {
    NotificationStatus.SCHEDULED: frozenset(
        {NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.HELD, NotificationStatus.DELIVERED}
    ),
    NotificationStatus.HELD: frozenset({NotificationStatus.SCHEDULED, NotificationStatus.FAILED}),
    NotificationStatus.SENT: frozenset({NotificationStatus.DELIVERED, NotificationStatus.FAILED}),
    NotificationStatus.DELIVERED: frozenset(),
    NotificationStatus.FAILED: frozenset(),
}

# Progress order for delivery reports: a report never moves a notification backwards.
_PROGRESS: Final = {
    NotificationStatus.HELD: 0,
    NotificationStatus.SCHEDULED: 0,
    NotificationStatus.SENT: 1,
    NotificationStatus.DELIVERED: 2,
    NotificationStatus.FAILED: 2,
}


def can_transition(current: NotificationStatus, target: NotificationStatus) -> bool:
    return target in _ALLOWED_TRANSITIONS[current]


@attrs.frozen
class StatusChange:
    status: NotificationStatus
    at: datetime
    reason: str | None = None


class AttemptOutcome(enum.StrEnum):
    SENT = "sent"
    RETRYABLE_FAILURE = "retryable_failure"
    PERMANENT_FAILURE = "permanent_failure"


@attrs.frozen
class DeliveryAttempt:
    number: int
    channel: str
    at: datetime
    outcome: AttemptOutcome
    provider_message_id: str | None = None
    error: str | None = None


@attrs.define
class ClientNotification:
    """One message to one client, with its explicit status machine.

    ``secret`` holds the sealed temporary password while the message waits to be sent;
    it is wiped on every way out (sent, failed, expired).
    """

    client_id: int
    channel: str
    template_code: str
    kind: TemplateKind
    status: NotificationStatus
    created_at: datetime
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    provider_message_id: str | None = None
    last_error: str | None = None
    secret: bytes | None = None
    secret_expires_at: datetime | None = None
    resend_of: int | None = None
    superseded_by: int | None = None
    fallback_pending: bool = False
    """Failed for good on its channel, and the installation's fallback chain may carry it on:
    the fallback step (after the commit) sends it through the next channel or, when the
    chain is exhausted, alerts a manager. No manager alert while this is set."""
    history: list[StatusChange] = attrs.field(factory=list)
    attempts: list[DeliveryAttempt] = attrs.field(factory=list)
    id: int = UNSAVED
    due_now: bool = attrs.field(default=False, eq=False, repr=False)
    """An event, not state: the notification became due in this unit of work, which hands
    it to the queue after committing (and then clears the flag). Never stored."""

    @classmethod
    def new(
        cls,
        *,
        client_id: int,
        channel: str,
        template_code: str,
        kind: TemplateKind,
        now: datetime,
        held: bool = False,
        hold_reason: str | None = None,
        secret: bytes | None = None,
        secret_expires_at: datetime | None = None,
        resend_of: int | None = None,
        reason: str | None = None,
    ) -> ClientNotification:
        """``reason`` explains why it was created (a fallback step); ``hold_reason`` why it waits."""
        status = NotificationStatus.HELD if held else NotificationStatus.SCHEDULED
        return cls(
            client_id=client_id,
            channel=channel,
            template_code=template_code,
            kind=kind,
            status=status,
            created_at=now,
            next_attempt_at=None if held else now,
            secret=secret,
            secret_expires_at=secret_expires_at,
            resend_of=resend_of,
            history=[StatusChange(status, now, hold_reason if held else reason)],
            due_now=not held,
        )

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)

    @property
    def is_final(self) -> bool:
        return not _ALLOWED_TRANSITIONS[self.status]

    @property
    def needs_attention(self) -> bool:
        """A4 / A7 alert: failed or held, and nobody has sent a replacement yet."""
        return (
            self.superseded_by is None
            and not self.fallback_pending
            and self.status in (NotificationStatus.FAILED, NotificationStatus.HELD)
        )

    def await_fallback(self) -> None:
        """A failure for good that the fallback chain may carry on (see :attr:`fallback_pending`)."""
        if self.status is not NotificationStatus.FAILED:
            raise InvalidTransition("Резервный канал нужен только недоставленному уведомлению")
        self.fallback_pending = True

    def is_due(self, now: datetime) -> bool:
        return (
            self.status is NotificationStatus.SCHEDULED
            and self.next_attempt_at is not None
            and self.next_attempt_at <= now
            and (self.lease_until is None or self.lease_until <= now)
        )

    def claim(self, now: datetime, lease_until: datetime) -> None:
        """Take the next attempt; another worker cannot take it until the lease ends."""
        if not self.is_due(now):
            raise InvalidTransition("Уведомление сейчас нельзя отправлять")
        self.lease_until = lease_until

    def record_sent(self, now: datetime, provider_message_id: str) -> None:
        self._record_attempt(now, AttemptOutcome.SENT, provider_message_id=provider_message_id)
        self.provider_message_id = provider_message_id
        if self.is_final:
            return  # a provider's report, or an expiry, finished it while the send was in flight
        self.last_error = None
        # A fast provider may have reported delivery before we recorded the send.
        if self.status is NotificationStatus.SCHEDULED:
            self._move(NotificationStatus.SENT, now)

    def record_retryable_failure(self, now: datetime, error: str, retry_at: datetime | None) -> None:
        """A failed attempt that may be tried again at ``retry_at``; ``None`` gives up (A4)."""
        self._record_attempt(now, AttemptOutcome.RETRYABLE_FAILURE, error=error)
        self.last_error = error
        if retry_at is None:
            self._move(NotificationStatus.FAILED, now, "Попытки отправки исчерпаны")
        else:
            self.next_attempt_at = retry_at

    def record_permanent_failure(self, now: datetime, error: str) -> None:
        self._record_attempt(now, AttemptOutcome.PERMANENT_FAILURE, error=error)
        self.last_error = error
        self._move(NotificationStatus.FAILED, now, error)

    def hold(self, now: datetime, reason: str) -> None:
        self._move(NotificationStatus.HELD, now, reason)

    def release(self, now: datetime, channel: str) -> None:
        """A7: a manager picked a channel for a held notification."""
        if self.status is not NotificationStatus.HELD:
            raise InvalidTransition("Отправить заново можно только отложенное уведомление")
        self.channel = channel
        self._move(NotificationStatus.SCHEDULED, now, f"Канал: {channel}")

    def fail(self, now: datetime, reason: str) -> None:
        self.last_error = reason
        self._move(NotificationStatus.FAILED, now, reason)

    def apply_delivery_report(
        self, now: datetime, status: NotificationStatus, error: str | None, reason: str | None = None
    ) -> bool:
        """Idempotent and monotonic: a repeated or older report changes nothing (False).

        ``reason`` is kept in the history (which provider said what); the error otherwise."""
        if status not in (NotificationStatus.DELIVERED, NotificationStatus.FAILED):
            raise InvalidTransition("Провайдер может сообщить только delivered или failed")
        if self.status is NotificationStatus.HELD or _PROGRESS[status] <= _PROGRESS[self.status]:
            return False
        if status is NotificationStatus.FAILED:
            self.last_error = error or "Провайдер сообщил о недоставке"
        self._move(status, now, reason or error)
        return True

    def wipe_secret(self) -> None:
        self.secret = None
        self.secret_expires_at = None

    def secret_expired(self, now: datetime) -> bool:
        return self.secret_expires_at is not None and self.secret_expires_at <= now

    def _record_attempt(
        self,
        now: datetime,
        outcome: AttemptOutcome,
        *,
        provider_message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        self.attempts.append(
            DeliveryAttempt(
                number=self.attempt_count + 1,
                channel=self.channel,
                at=now,
                outcome=outcome,
                provider_message_id=provider_message_id,
                error=error,
            )
        )
        self.lease_until = None

    def _move(self, target: NotificationStatus, now: datetime, reason: str | None = None) -> None:
        if not can_transition(self.status, target):
            raise InvalidTransition(f"Нельзя перевести уведомление из «{self.status}» в «{target}»")
        self.status = target
        self.history.append(StatusChange(target, now, reason))
        if target is not NotificationStatus.SCHEDULED:
            self.next_attempt_at = None
            self.lease_until = None
        else:
            self.next_attempt_at = now
            self.due_now = True
        if target in (NotificationStatus.SENT, NotificationStatus.DELIVERED, NotificationStatus.FAILED):
            self.wipe_secret()


class AuditAction(enum.StrEnum):
    PHONE_CHECKED = "phone_checked"  # step 3
    CREDENTIALS_ISSUED = "credentials_issued"  # step 4
    PERSON_CREATED = "person_created"  # step 5
    CLIENT_CREATED = "client_created"  # step 6
    CONSENT_RECORDED = "consent_recorded"  # A5
    NOTIFICATION_SCHEDULED = "notification_scheduled"  # step 7
    NOTIFICATION_HELD = "notification_held"  # A7
    NOTIFICATION_RELEASED = "notification_released"  # A7
    NOTIFICATION_ATTEMPT_FAILED = "notification_attempt_failed"  # A4
    NOTIFICATION_SENT = "notification_sent"  # step 8
    NOTIFICATION_DELIVERED = "notification_delivered"
    NOTIFICATION_FAILED = "notification_failed"
    MANAGER_ALERTED = "manager_alerted"  # A4
    NOTIFICATION_FELL_BACK = "notification_fell_back"  # the fallback chain sent it on through the next channel
    REGISTRATION_COMPLETED = "registration_completed"  # step 9
    REGISTRATION_REPLAYED = "registration_replayed"  # A6
    CLIENT_UPDATED = "client_updated"  # A1.2
    PROMO_REGISTERED = "promo_registered"  # seed 002
    PROMO_REPLAYED = "promo_replayed"  # seed 002: a repeated request answered from its first answer
    PROMO_REFUSED = "promo_refused"  # seed 002: a partner request refused (bad body, key, conflict)
    REFERENCE_DATA_SYNCED = "reference_data_synced"
    CLIENT_SIGNED_IN = "client_signed_in"  # the client's account
    CLIENT_SIGN_IN_FAILED = "client_sign_in_failed"
    CLIENT_SIGNED_OUT = "client_signed_out"
    TEMPORARY_PASSWORD_VOIDED = "temporary_password_voided"  # noqa: S105 -- an audit action name, not a secret
    CLIENT_PASSWORD_CHANGED = "client_password_changed"  # noqa: S105 -- an audit action name, not a secret
    CLIENT_PROFILE_VIEWED = "client_profile_viewed"
    AUDIT_VIEWED = "audit_viewed"  # a manager read the trail: who looked at whose data


@attrs.frozen
class ProviderReport:
    """A provider's final delivery report for a message id no notification carries (yet).

    Kept until the send that carries the id is recorded (a fast provider may report before
    that), then applied; reports for ids that never turn up are purged after a while.
    """

    channel: str
    provider_message_id: str
    status: NotificationStatus
    """``delivered`` or ``failed``: reports of progress are not kept."""
    received_at: datetime
    error: str | None = None
    id: int = UNSAVED


@attrs.frozen
class AuditEvent:
    """Append-only record of something that happened; never carries a raw phone or secret."""

    action: AuditAction
    actor: str
    occurred_at: datetime
    request_id: str | None = None
    person_id: int | None = None
    client_id: int | None = None
    notification_id: int | None = None
    masked_phone: str | None = None
    details: dict[str, str] = attrs.field(factory=dict)
    id: int = UNSAVED


@attrs.define
class Manager:
    login: Login
    display_name: str
    password_hash: str
    created_at: datetime
    must_change_password: bool = False
    is_active: bool = True
    session_version: int = 0
    """Every token and page session carries the version it was issued under; bumping it
    ends them all at once (password change, logout, deactivation)."""
    id: int = UNSAVED

    def end_sessions(self) -> None:
        self.session_version += 1

    def deactivate(self) -> None:
        self.is_active = False
        self.end_sessions()


@attrs.define
class Partner:
    name: str
    key_digest: str
    created_at: datetime
    revoked_at: datetime | None = None
    id: int = UNSAVED

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


@attrs.define
class Purchase:
    client_id: int
    partner_id: int
    name: str
    price: Money
    registered_at: datetime
    id: int = UNSAVED


class IdempotencyState(enum.StrEnum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


@attrs.define
class IdempotencyRecord:
    """A claimed request key: the fingerprint of its body and, once done, its result."""

    scope: str
    key: str
    fingerprint: str
    created_at: datetime
    expires_at: datetime
    state: IdempotencyState = IdempotencyState.IN_FLIGHT
    result_id: int | None = None


@attrs.frozen
class Staleness:
    """Which stored idempotency records no longer hold their keys: those expired by ``now``,
    and those still in flight that were claimed at ``abandoned_before`` or earlier (their
    request died before it finished or released the key)."""

    now: datetime
    abandoned_before: datetime

    def covers(self, record: IdempotencyRecord) -> bool:
        abandoned = record.state is IdempotencyState.IN_FLIGHT and record.created_at <= self.abandoned_before
        return abandoned or record.expires_at <= self.now
