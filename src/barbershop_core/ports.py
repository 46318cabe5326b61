"""Every port of the core, in one place.

Adapters implement these Protocols; use cases depend on nothing else. Repositories
assign ``id`` to an entity in :meth:`add` and persist changes to it in :meth:`save`;
nothing is durable before :meth:`UnitOfWork.commit`.

Failures an adapter must translate into these exceptions (never a driver's own):
:class:`UniqueViolation` for a uniqueness clash, :class:`StorageUnavailable` for a
database or network fault; :class:`RouteChanged` when a registration's route is no longer
the stored one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

import attrs

from barbershop_core.model import (
    UNSAVED,
    AuditAction,
    AuditEvent,
    Channel,
    Client,
    ClientNotification,
    Consent,
    IdempotencyRecord,
    Manager,
    NotificationTemplate,
    Partner,
    Person,
    ProviderReport,
    Purchase,
    Staleness,
)
from barbershop_core.values import Email, FullName, PhoneNumber


class StorageUnavailable(Exception):
    """The store failed (connection lost, timeout, deadlock): the work may be retried."""


class UniqueViolation(Exception):
    """A uniqueness rule of the store was broken; ``what`` names it (``person_phone``…)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


class QueueUnavailable(Exception):
    """The hand-off to the queue failed; the scheduler's sweep will pick the work up."""


class RouteChanged(Exception):
    """The channel or template a registration was built from (:attr:`NewRegistration.route`)
    is no longer the stored one — a copy the store kept of it was out of date: nothing was
    written, the copy is forgotten (:meth:`ReferenceDataRepository.seen_route` reads the
    route afresh), and the registration may be made again."""


@attrs.frozen
class Route:
    """A channel with its template of one code, as read: what a notification is built from."""

    channel: Channel
    template: NotificationTemplate

    @property
    def deliverable(self) -> bool:
        """Both its channel and its template are active: the only route worth keeping a copy
        of (:meth:`ReferenceDataRepository.seen_route`)."""
        return self.channel.is_active and self.template.is_active


class PersonRepository(Protocol):
    async def add(self, person: Person) -> None:
        """Raises :class:`UniqueViolation` (``person_phone`` / ``person_login``)."""

    async def add_if_new(self, person: Person) -> Person | None:
        """Add ``person`` unless its phone is known: then add nothing and return the person
        stored with that phone. A concurrent writer of the same phone is waited for, not
        raised: an expected clash costs no savepoint and leaves the transaction usable."""

    async def get(self, person_id: int) -> Person | None: ...
    async def get_by_phone(self, phone: PhoneNumber) -> Person | None: ...
    async def save(self, person: Person) -> None: ...


class ClientRepository(Protocol):
    async def add(self, client: Client) -> None:
        """Raises :class:`UniqueViolation` (``client_person``) for a second client of a person."""

    async def add_if_new(self, client: Client) -> Client | None:
        """Add ``client`` unless its person already is a client: then add nothing and
        return that client (like :meth:`PersonRepository.add_if_new`)."""

    async def get(self, client_id: int) -> Client | None: ...
    async def get_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        """The client and its person, read together."""

    async def get_many_with_person(self, client_ids: Sequence[int]) -> Mapping[int, tuple[Client, Person]]:
        """Like :meth:`get_with_person` for several clients in one read, by client id;
        unknown ids are left out."""

    async def get_by_person(self, person_id: int) -> Client | None: ...
    async def save(self, client: Client) -> None: ...


class ConsentRepository(Protocol):
    async def add(self, consent: Consent) -> None: ...
    async def add_many(self, consents: Sequence[Consent]) -> None:
        """Like :meth:`add` for each, in one statement."""

    async def list_for_client(self, client_id: int) -> Sequence[Consent]:
        """Oldest first; the latest record of a type is the one in force."""


@attrs.frozen
class ToSend:
    """A notification locked for a send, with what the send's claim reads beside it."""

    notification: ClientNotification
    recipient: tuple[Client, Person] | None
    """Its client and the client's person (None: the client is missing)."""
    channel: Channel | None
    template: NotificationTemplate | None
    """Its channel and that channel's template of its code (see ``ReferenceDataRepository.get_route``)."""


class NotificationRepository(Protocol):
    async def add(self, notification: ClientNotification) -> None: ...
    async def get(self, notification_id: int) -> ClientNotification | None: ...
    async def get_for_update(self, notification_id: int) -> ClientNotification | None:
        """Like :meth:`get`, but locks the row until the unit of work ends."""

    async def get_many_for_update(self, notification_ids: Sequence[int]) -> Sequence[ClientNotification]:
        """Like :meth:`get_for_update` for several notifications in one read, in id order
        (so that two units of work locking overlapping sets never wait on each other in a
        circle); unknown ids are left out."""

    async def get_many_to_send(self, notification_ids: Sequence[int]) -> Sequence[ToSend]:
        """Like :meth:`get_many_for_update`, each with its recipient and its route, in one
        read: the facts a send's claim decides on. A notification changed while the read
        waited for its lock comes with the recipient and route its new row names."""

    async def save(self, notification: ClientNotification) -> None: ...
    async def save_many(self, notifications: Sequence[ClientNotification]) -> None:
        """Like :meth:`save` for each, in one statement per table; each was read or added
        in this unit of work."""

    async def list_for_client(self, client_id: int) -> Sequence[ClientNotification]: ...
    async def list_needing_attention(self, limit: int) -> Sequence[ClientNotification]: ...
    async def list_held(self, channel: str | None, limit: int) -> Sequence[ClientNotification]: ...
    async def due_ids(self, now: datetime, limit: int) -> Sequence[int]:
        """Ids of notifications due for an attempt (scheduled, time come, no live lease)."""

    async def with_expired_secrets(self, now: datetime, limit: int) -> Sequence[ClientNotification]: ...
    async def get_by_provider_message_id(self, channel: str, provider_message_id: str) -> ClientNotification | None:
        """The notification of ``channel`` whose send the provider answered with that id,
        locked like :meth:`get_for_update` (a provider's delivery report finds it so)."""

    async def fallback_pending_ids(self, limit: int) -> Sequence[int]:
        """Ids of notifications waiting for their fallback step, oldest first."""


@attrs.frozen
class NewRegistration:
    """A new client's first records, written together by :meth:`RegistrationRepository.add_if_new`.

    The caller cannot know the ids that link them: ``client.person_id``, each consent's and
    the notification's ``client_id`` are set as the ids are assigned.
    """

    person: Person
    client: Client
    consents: Sequence[Consent]
    notification: ClientNotification
    """A new notification (no attempts yet), written with its status history."""
    route: Route | None = None
    """The channel and template the notification was built from, as read — perhaps from a
    copy (:meth:`ReferenceDataRepository.seen_route`): unless they are still the stored
    ones, the write adds nothing and raises :class:`RouteChanged` (a known phone is answered
    as always, whatever its route)."""
    events: Sequence[AuditEvent] = ()
    """What the registration records once it is written. They are made before the ids are
    known: a person, client or notification id left ``UNSAVED`` in one of them names this
    registration's own (:meth:`events_with_ids`); a store may write them in the
    registration's own statement, else it records them with the unit of work. Either way
    they take their place in the trail when the registration is written, so a unit of work
    records nothing of its own before it."""

    def events_with_ids(self) -> list[AuditEvent]:
        """:attr:`events` naming the records by the ids they were given."""

        def given(event_id: int | None, own: int) -> int | None:
            return own if event_id == UNSAVED else event_id

        return [
            attrs.evolve(
                event,
                person_id=given(event.person_id, self.person.id),
                client_id=given(event.client_id, self.client.id),
                notification_id=given(event.notification_id, self.notification.id),
            )
            for event in self.events
        ]

    async def add_client_records(
        self, clients: ClientRepository, consents: ConsentRepository, notifications: NotificationRepository
    ) -> None:
        """Once the person has its id: the client, its consents and the notification through
        their own repositories, linked as the ids come (for a store with no single statement
        that writes them all)."""
        self.client.person_id = self.person.id
        if await clients.add_if_new(self.client) is not None:
            raise StorageUnavailable("a person added a moment ago is a client already")
        for consent in self.consents:
            consent.client_id = self.client.id
        self.notification.client_id = self.client.id
        await consents.add_many(self.consents)
        await notifications.add(self.notification)


@attrs.frozen
class KnownPerson:
    """The person a phone already belongs to, and its client when it is one."""

    person: Person
    client: Client | None


class RegistrationRepository(Protocol):
    async def add_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        """Add the person, its client, the client's consents and notification, every id
        assigned and linked; unless the person's phone is known: then add nothing and return
        the person stored with that phone, with its client (as
        :meth:`PersonRepository.add_if_new`: a concurrent writer is waited for, not raised).
        The notification is handed off after the commit as an added one is. The
        registration's events are written with it (:meth:`NewRegistration.events_with_ids`),
        committed with the unit of work; a known phone writes none of them. Raises
        :class:`RouteChanged`, nothing added, when the registration's route is not the stored
        one (:attr:`NewRegistration.route`), unless its phone is known."""

    async def commit_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        """:meth:`add_if_new`, then :meth:`UnitOfWork.commit`: the registration is the unit
        of work's last write. A known phone is answered as there, nothing written and nothing
        committed, and the unit of work goes on. A store may write a registration whose unit
        of work has nothing else to write as a transaction of its own, in one statement."""


class ProviderReportRepository(Protocol):
    """Delivery reports that named a provider message id no notification carried yet."""

    async def keep(self, report: ProviderReport) -> bool:
        """Keep ``report`` unless the same one (channel, message id, status) is kept already;
        True when it was new. A repeat is not an error: providers retry."""

    async def list_matched(self, limit: int) -> Sequence[ProviderReport]:
        """Kept reports whose message id a notification of their channel carries now, oldest first."""

    async def delete(self, report_id: int) -> None: ...
    async def purge_before(self, before: datetime) -> int:
        """Drop reports received before ``before`` (ids that never turned up); returns how many."""


@attrs.frozen
class AuditQuery:
    """Which events to read: every filter is optional; newest first, ``limit`` of them,
    those with an id below ``before_id`` (the cursor of the next page)."""

    client_id: int | None = None
    person_id: int | None = None
    action: AuditAction | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


class AuditLog(Protocol):
    """Reads the trail; events are written through :meth:`UnitOfWork.record`."""

    async def purge_before(self, before: datetime, *, now: datetime) -> int:
        """Retention: delete the events that occurred before ``before``, and record that
        (and when) it was done; returns how many. Nothing else ever deletes an event."""

    async def list_recent(
        self, *, client_id: int | None = None, notification_id: int | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]: ...

    async def search(self, query: AuditQuery) -> Sequence[AuditEvent]:
        """Newest first; ``since`` inclusive, ``until`` exclusive."""


class ReferenceDataRepository(Protocol):
    async def list_channels(self) -> Sequence[Channel]: ...
    async def get_channel(self, code: str) -> Channel | None: ...
    async def get_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        """A channel and its template of that code, read together (either may be missing)."""

    async def seen_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        """:meth:`get_route`, or the copy a store may keep of a route it read with both its
        channel and its template there and active: perhaps out of date, so only for a write
        that checks it (:attr:`NewRegistration.route`), never for a refusal. Anything else is
        read afresh, and so is a route whose copy a write found out of date
        (:class:`RouteChanged`)."""

    async def save_channel(self, channel: Channel) -> None:
        """Insert or update by ``code``."""

    async def list_templates(self) -> Sequence[NotificationTemplate]: ...
    async def get_template(self, code: str, channel: str) -> NotificationTemplate | None: ...
    async def save_template(self, template: NotificationTemplate) -> None:
        """Insert or update by ``(code, channel)``."""


class ManagerRepository(Protocol):
    async def add(self, manager: Manager) -> None:
        """Raises :class:`UniqueViolation` (``manager_login``)."""

    async def get(self, manager_id: int) -> Manager | None: ...
    async def get_by_login(self, login: str) -> Manager | None: ...
    async def save(self, manager: Manager) -> None: ...
    async def count(self) -> int: ...


class PartnerRepository(Protocol):
    async def add(self, partner: Partner) -> None:
        """Raises :class:`UniqueViolation` (``partner_name``)."""

    async def get(self, partner_id: int) -> Partner | None: ...
    async def get_by_name(self, name: str) -> Partner | None: ...
    async def get_by_key_digest(self, key_digest: str) -> Partner | None: ...
    async def save(self, partner: Partner) -> None: ...


class PurchaseRepository(Protocol):
    async def add(self, purchase: Purchase) -> None: ...
    async def add_many(self, purchases: Sequence[Purchase]) -> None:
        """Like :meth:`add` for each, in one statement."""

    async def list_for_client(self, client_id: int) -> Sequence[Purchase]: ...


class IdempotencyRepository(Protocol):
    async def add(self, record: IdempotencyRecord) -> None:
        """Raises :class:`UniqueViolation` (``idempotency_key``) when the key is taken."""

    async def add_if_new(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Add ``record`` unless its key is taken: then add nothing and return the record
        stored under it. A concurrent writer of the key is waited for, not raised."""

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None: ...
    async def save(self, record: IdempotencyRecord) -> None:
        """Insert or update by ``(scope, key)``."""

    async def delete(self, scope: str, key: str) -> None: ...
    async def purge_expired(self, now: datetime) -> int: ...


@attrs.frozen
class PromoParticipantRow:
    """One distinct phone of a promo batch: the person and client to find or make."""

    phone: PhoneNumber
    full_name: FullName
    email: Email


@attrs.frozen
class PromoParticipantIds:
    person_id: int
    client_id: int


@attrs.frozen
class PromoSignUp:
    """A partner's registration of one participant, written together by
    :meth:`PromoBatchRepository.register_one`.

    The caller cannot know the ids that link them: the store sets the client's person, each
    purchase's client, the record's result (the client) and the event's person and client.
    """

    person: Person
    """Added when its phone is new."""
    client: Client
    """Added when the person is not a client yet; a known client without a full name or an
    e-mail gets this one's."""
    purchases: Sequence[Purchase]
    record: IdempotencyRecord
    """Stored completed, with the client as its result, when its key is free or holds a
    record that ``staleness`` covers."""
    staleness: Staleness
    event: AuditEvent
    """Written with the registration (the unit of work does not write it again)."""


class PromoBatchRepository(Protocol):
    """Writes of promo participants: a batch set-based, a handful of statements whatever its
    size, and a single registration at once (:meth:`register_one`)."""

    async def register_one(self, sign_up: PromoSignUp) -> PromoParticipantIds | IdempotencyRecord:
        """Find or make the participant's person and client, add the purchases, store the
        record and write the event; answer the participant's ids. Unless the record's key
        holds a record that is not stale: then add no purchase, record and event, and answer
        the record there (a concurrent writer of the key is waited for). The person and
        client may be written either way: the caller rolls back what it does not keep."""

    async def stored(self, records: Sequence[IdempotencyRecord]) -> Sequence[IdempotencyRecord | None]:
        """For each record (keys are distinct), the record already stored under its
        ``(scope, key)``, or None. Only a read: :meth:`complete` takes the keys."""

    async def participants(
        self, rows: Sequence[PromoParticipantRow], *, now: datetime, registered_by: str, source: str
    ) -> Sequence[PromoParticipantIds]:
        """For each row (phones are distinct), in order: its person and client, found or made.
        A new person's first name is the full name's; a known client without a full name or
        e-mail gets the row's."""

    async def add_purchases(self, purchases: Sequence[Purchase]) -> None:
        """Every purchase in one statement (their ids are not read back)."""

    async def complete(
        self, records: Sequence[IdempotencyRecord], *, replacing: Sequence[IdempotencyRecord] = ()
    ) -> None:
        """Insert every record in one statement, each of ``replacing`` (stale records read
        by :meth:`stored`) making way for the record of its key. A key held by any other
        record — one a concurrent request stored since, waited for until it commits —
        raises ``UniqueViolation("idempotency_key")``: the unit of work is to be rolled back."""


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving without commit rolls back.

    It also collects what happened. :meth:`record` keeps audit events, and the
    notification repository keeps every notification added or saved; :meth:`commit`
    writes the events (and notifications' new status history) with the transaction, in
    batched statements, and after the commit hands each notification that became due
    (:attr:`ClientNotification.due_now`) to the queue. A rollback forgets all of it.
    """

    persons: PersonRepository
    clients: ClientRepository
    consents: ConsentRepository
    notifications: NotificationRepository
    audit: AuditLog
    reference: ReferenceDataRepository
    managers: ManagerRepository
    partners: PartnerRepository
    purchases: PurchaseRepository
    idempotency: IdempotencyRepository
    provider_reports: ProviderReportRepository
    promo: PromoBatchRepository
    registrations: RegistrationRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def record(self, *events: AuditEvent) -> None:
        """Keep audit events for the next :meth:`commit` (nothing is sent yet)."""

    async def commit(self) -> None:
        """Write what was recorded, commit, then hand due notifications to the queue.

        A queue that fails (:class:`QueueUnavailable`) is logged and left to the
        scheduler's sweep: the commit stands."""

    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class SessionReader(Protocol):
    """Whom a session token (or a partner's key) names, read outside any unit of work: one
    statement, no transaction.

    Every authenticated request asks, and it writes nothing: a unit of work would add its own
    BEGIN and ROLLBACK round trips (and, on SQLite, wait for the write lock). What it reads is
    committed data, as a unit of work's first read is.
    """

    async def manager(self, manager_id: int) -> Manager | None: ...
    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None: ...
    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        """The partner whose API key has this digest (every partner request asks)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


class PasswordHasher(Protocol):
    """Slow, salted password hashing. Async so that adapters keep it off the event loop."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


class PasswordGenerator(Protocol):
    def generate(self) -> str:
        """A fresh random temporary password."""

    def generate_code(self) -> str:
        """A fresh random temporary password of digits only, for code-only channels."""


class KeyDigester(Protocol):
    """A keyed fast hash for random API keys (they need no slow hashing)."""

    def digest(self, key: str) -> str: ...


class SecretUnreadable(Exception):
    """A sealed secret does not open: the key changed, or the value was tampered with."""


class SecretBox(Protocol):
    """Authenticated encryption of a secret that must wait in the store (temporary password)."""

    def seal(self, plaintext: str) -> bytes: ...
    def open(self, sealed: bytes) -> str:
        """Raises :class:`SecretUnreadable`."""


class AttemptCounter(Protocol):
    """Counts attempts (of passwords, say) per key in fixed time windows, shared by every
    process of an installation. ``window_start`` (a Unix time) names the window; a key's
    count in a window that has passed is never read again and may be dropped."""

    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        """Count one attempt; returns the key's count in that window, this one included."""

    async def take_back(self, key: str, window_start: int) -> None:
        """Uncount one attempt of the window (it turned out legitimate)."""

    async def reset(self, key: str, window_start: int) -> None:
        """Drop the key's count in the window."""


class NotificationQueue(Protocol):
    async def enqueue(self, notification_id: int) -> None:
        """Hand a committed notification to the workers; raises :class:`QueueUnavailable`."""


@attrs.frozen
class OutgoingMessage:
    notification_id: int
    """Also the provider-side idempotency key where the provider supports one."""
    channel: str
    template_code: str
    phone: PhoneNumber
    account: str | None
    text: str
    password: str | None = attrs.field(default=None, repr=False)
    """The temporary password ``text`` was rendered with, if any: a channel that keeps a copy
    of the message (the local channel's file) masks it there."""


@attrs.frozen
class SendReceipt:
    provider_message_id: str


class DeliveryFailed(Exception):
    """A channel could not hand the message over.

    ``retryable`` is True for faults that may pass (timeout, 429, 5xx) and False for
    those that will not (invalid number, blocked recipient).
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


class NotificationChannel(Protocol):
    @property
    def deduplicates(self) -> bool:
        """True when sending the same ``notification_id`` twice reaches the client once.

        Decides what happens to an attempt whose worker died: on such a channel it is
        simply sent again; on any other it may already have reached the client, so it
        fails and a manager decides (at most once towards the client).
        """

    @property
    def carries_only_code(self) -> bool:
        """True when the channel delivers a numeric code and no text (the Telegram Gateway).

        The temporary password issued for a message through it is digits only, and its
        template is the code (``{password}``); a held message moved between such a channel
        and a text one gets a password of the other shape.
        """

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        """Raises :class:`DeliveryFailed`."""


class ChannelDirectory(Protocol):
    """The channel adapters this installation has, by channel code."""

    def get(self, code: str) -> NotificationChannel | None: ...


@attrs.frozen
class ReferenceSnapshot:
    channels: Sequence[Channel]
    templates: Sequence[NotificationTemplate]


class ReferenceDataSource(Protocol):
    async def fetch(self) -> ReferenceSnapshot:
        """Raises :class:`StorageUnavailable` when the source cannot be read."""
