"""In-memory fakes of every port, shared by all tests.

The fake unit of work behaves like a database where it matters to the use cases: a
transaction sees a private copy, nothing is durable before commit, a uniqueness clash
raises :class:`UniqueViolation` (also when another transaction committed the same
phone first), ids come from sequences, and an entity changed without ``save`` stays
unchanged. Faults can be injected by operation name (``"clients.add"``, ``"commit"``).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import attrs

from barbershop_core.model import (
    AuditEvent,
    Channel,
    Client,
    ClientNotification,
    Consent,
    IdempotencyRecord,
    Manager,
    NotificationStatus,
    NotificationTemplate,
    Partner,
    Person,
    ProviderReport,
    Purchase,
)
from barbershop_core.ports import (
    AuditQuery,
    DeliveryFailed,
    KnownPerson,
    NewRegistration,
    NotificationChannel,
    NotificationQueue,
    OutgoingMessage,
    PromoParticipantIds,
    PromoParticipantRow,
    PromoSignUp,
    QueueUnavailable,
    ReferenceSnapshot,
    Route,
    RouteChanged,
    SecretUnreadable,
    SendReceipt,
    ToSend,
    UniqueViolation,
)
from barbershop_core.values import Login, PhoneNumber

log = logging.getLogger("tests.fakes")

# Uniqueness rules of the store: table → [(constraint name, key of a row)].
_UNIQUE: dict[str, list[tuple[str, Callable[[Any], Hashable]]]] = {
    "persons": [("person_phone", lambda p: p.phone), ("person_login", lambda p: p.login)],
    "clients": [("client_person", lambda c: c.person_id)],
    "managers": [("manager_login", lambda m: m.login.value)],
    "partners": [("partner_name", lambda p: p.name), ("partner_key", lambda p: p.key_digest)],
}


class InMemoryDatabase:
    def __init__(self) -> None:
        self.tables: dict[str, dict[Hashable, Any]] = {}
        self._sequences: dict[str, itertools.count[int]] = {}
        self.failures: dict[str, BaseException] = {}
        self.commits = 0
        self.open_units = 0
        """Units of work inside their ``async with`` right now (slow work must see 0)."""
        self.route_copies: dict[tuple[str, str], Route] = {}
        """The routes :meth:`FakeReference.seen_route` keeps, as a process of the SQL store
        does; a test changes the tables under them as another process would."""

    def next_id(self, table: str) -> int:
        return next(self._sequences.setdefault(table, itertools.count(1)))

    def fail(self, operation: str, error: BaseException) -> None:
        """Make the next ``operation`` (``"persons.add"``, ``"commit"``…) raise ``error`` once."""
        self.failures[operation] = error

    def check(self, operation: str) -> None:
        error = self.failures.pop(operation, None)
        if error is not None:
            raise error

    def rows(self, table: str) -> list[Any]:
        """Committed rows, for assertions."""
        return [copy.deepcopy(row) for row in self.tables.get(table, {}).values()]


class _Transaction:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db
        self.tables = {name: dict(rows) for name, rows in db.tables.items()}
        self.dirty: set[tuple[str, Hashable]] = set()
        self.inserted: dict[tuple[str, Hashable], tuple[str, Any]] = {}
        """Rows inserted under a key-unique constraint: (table, key) → (constraint, committed row seen)."""

    def get(self, table: str, key: Hashable) -> Any:
        return copy.deepcopy(self.tables.get(table, {}).get(key))

    def all(self, table: str) -> list[Any]:
        return [copy.deepcopy(row) for row in self.tables.get(table, {}).values()]

    def put(self, table: str, key: Hashable, row: Any) -> None:
        self._check_unique(self.tables.get(table, {}), table, key, row)
        self.tables.setdefault(table, {})[key] = copy.deepcopy(row)
        self.dirty.add((table, key))

    def delete(self, table: str, key: Hashable) -> None:
        self.tables.get(table, {}).pop(key, None)
        self.dirty.add((table, key))

    def commit(self) -> None:
        self.db.check("commit")
        for (table, key), (name, seen) in self.inserted.items():
            # Another transaction committed a row with this key after we inserted ours.
            if self.db.tables.get(table, {}).get(key) is not seen:
                raise UniqueViolation(name)
        for table, key in self.dirty:
            row = self.tables.get(table, {}).get(key)
            if row is not None:
                self._check_unique(self.db.tables.get(table, {}), table, key, row)
        for table, key in self.dirty:
            committed = self.db.tables.setdefault(table, {})
            if key in self.tables.get(table, {}):
                committed[key] = self.tables[table][key]
            else:
                committed.pop(key, None)
        self.dirty.clear()
        self.db.commits += 1

    @staticmethod
    def _check_unique(rows: dict[Hashable, Any], table: str, key: Hashable, row: Any) -> None:
        for name, unique_key in _UNIQUE.get(table, []):
            value = unique_key(row)
            if any(other_key != key and unique_key(other) == value for other_key, other in rows.items()):
                raise UniqueViolation(name)


class _Repository:
    table: str

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _tx(self) -> _Transaction:
        return self._uow.transaction

    def _add(self, entity: Any) -> None:
        self._uow.db.check(f"{self.table}.add")
        entity.id = self._uow.db.next_id(self.table)
        try:
            self._tx.put(self.table, entity.id, entity)
        except UniqueViolation:
            entity.id = 0
            raise

    def _save(self, entity: Any) -> None:
        self._uow.db.check(f"{self.table}.save")
        if self._tx.get(self.table, entity.id) is None:
            raise KeyError(f"{self.table} {entity.id} was never added")
        self._tx.put(self.table, entity.id, entity)

    def _get(self, key: Hashable) -> Any:
        self._uow.db.check(f"{self.table}.get")
        return self._tx.get(self.table, key)

    def _where(self, predicate: Callable[[Any], bool]) -> list[Any]:
        return [row for row in self._tx.all(self.table) if predicate(row)]

    def _first(self, predicate: Callable[[Any], bool]) -> Any:
        found = self._where(predicate)
        return found[0] if found else None


class FakePersons(_Repository):
    table = "persons"

    async def add(self, person: Person) -> None:
        self._add(person)

    async def get(self, person_id: int) -> Person | None:
        return self._get(person_id)  # type: ignore[no-any-return]

    async def add_if_new(self, person: Person) -> Person | None:
        self._uow.db.check("persons.add")
        known = self._first(lambda p: p.phone == person.phone)
        if known is not None:
            return known  # type: ignore[no-any-return]
        self._add(person)
        return None

    async def get_by_phone(self, phone: PhoneNumber) -> Person | None:
        self._uow.db.check("persons.get_by_phone")
        return self._first(lambda p: p.phone == phone)  # type: ignore[no-any-return]

    async def save(self, person: Person) -> None:
        self._save(person)


class FakeClients(_Repository):
    table = "clients"

    async def add(self, client: Client) -> None:
        self._add(client)

    async def add_if_new(self, client: Client) -> Client | None:
        self._uow.db.check("clients.add")
        known = self._first(lambda c: c.person_id == client.person_id)
        if known is not None:
            return known  # type: ignore[no-any-return]
        self._add(client)
        return None

    async def get(self, client_id: int) -> Client | None:
        return self._get(client_id)  # type: ignore[no-any-return]

    async def get_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        client = self._get(client_id)
        person = self._tx.get("persons", client.person_id) if client else None
        return (client, person) if person else None

    async def get_many_with_person(self, client_ids: Sequence[int]) -> Mapping[int, tuple[Client, Person]]:
        found = [await self.get_with_person(client_id) for client_id in set(client_ids)]
        return {client.id: (client, person) for client, person in filter(None, found)}

    async def get_by_person(self, person_id: int) -> Client | None:
        return self._first(lambda c: c.person_id == person_id)  # type: ignore[no-any-return]

    async def save(self, client: Client) -> None:
        self._save(client)


class FakeConsents(_Repository):
    table = "consents"

    async def add(self, consent: Consent) -> None:
        self._add(consent)

    async def add_many(self, consents: Sequence[Consent]) -> None:
        for consent in consents:
            self._add(consent)

    async def list_for_client(self, client_id: int) -> Sequence[Consent]:
        return sorted(self._where(lambda c: c.client_id == client_id), key=lambda c: c.id)


class FakeNotifications(_Repository):
    table = "notifications"

    async def add(self, notification: ClientNotification) -> None:
        self._add(notification)
        self._seen(notification)

    async def get(self, notification_id: int) -> ClientNotification | None:
        return self._get(notification_id)  # type: ignore[no-any-return]

    async def get_for_update(self, notification_id: int) -> ClientNotification | None:
        return self._get(notification_id)  # type: ignore[no-any-return]

    async def get_many_for_update(self, notification_ids: Sequence[int]) -> Sequence[ClientNotification]:
        found = [self._get(notification_id) for notification_id in sorted(set(notification_ids))]
        return [notification for notification in found if notification is not None]

    async def get_many_to_send(self, notification_ids: Sequence[int]) -> Sequence[ToSend]:
        return [
            ToSend(
                notification,
                await self._uow.clients.get_with_person(notification.client_id),
                *await self._uow.reference.get_route(notification.channel, notification.template_code),
            )
            for notification in await self.get_many_for_update(notification_ids)
        ]

    async def save(self, notification: ClientNotification) -> None:
        self._save(notification)
        self._seen(notification)

    async def save_many(self, notifications: Sequence[ClientNotification]) -> None:
        for notification in notifications:
            await self.save(notification)

    def _seen(self, notification: ClientNotification) -> None:
        self._tx.tables[self.table][notification.id].due_now = False  # an event, never stored
        self._uow.seen.append(notification)

    async def list_for_client(self, client_id: int) -> Sequence[ClientNotification]:
        return sorted(self._where(lambda n: n.client_id == client_id), key=lambda n: n.id)

    async def list_needing_attention(self, limit: int) -> Sequence[ClientNotification]:
        return sorted(self._where(lambda n: n.needs_attention), key=lambda n: n.id)[:limit]

    async def list_held(self, channel: str | None, limit: int) -> Sequence[ClientNotification]:
        held = self._where(lambda n: n.status is NotificationStatus.HELD and (channel is None or n.channel == channel))
        return sorted(held, key=lambda n: n.id)[:limit]

    async def due_ids(self, now: datetime, limit: int) -> Sequence[int]:
        due = sorted(self._where(lambda n: n.is_due(now)), key=lambda n: (n.next_attempt_at, n.id))
        return [n.id for n in due[:limit]]

    async def with_expired_secrets(self, now: datetime, limit: int) -> Sequence[ClientNotification]:
        expired = self._where(
            lambda n: n.secret is not None and n.secret_expired(now) and (n.lease_until is None or n.lease_until <= now)
        )
        return sorted(expired, key=lambda n: n.id)[:limit]

    async def get_by_provider_message_id(self, channel: str, provider_message_id: str) -> ClientNotification | None:
        found = self._where(lambda n: n.channel == channel and n.provider_message_id == provider_message_id)
        return min(found, key=lambda n: n.id) if found else None

    async def fallback_pending_ids(self, limit: int) -> Sequence[int]:
        return sorted(n.id for n in self._where(lambda n: n.fallback_pending))[:limit]


class FakeProviderReports(_Repository):
    table = "provider_reports"

    async def keep(self, report: ProviderReport) -> bool:
        key = (report.channel, report.provider_message_id, report.status)
        if self._first(lambda r: (r.channel, r.provider_message_id, r.status) == key) is not None:
            return False
        self._tx.put(self.table, self._uow.db.next_id(self.table), report)
        return True

    async def list_matched(self, limit: int) -> Sequence[ProviderReport]:
        carried = {(n.channel, n.provider_message_id) for n in self._tx.all("notifications")}
        matched = [
            (report_id, report)
            for report_id, report in self._tx.tables.get(self.table, {}).items()
            if (report.channel, report.provider_message_id) in carried
        ]
        return [attrs.evolve(report, id=report_id) for report_id, report in sorted(matched, key=lambda m: m[0])][:limit]

    async def delete(self, report_id: int) -> None:
        self._tx.delete(self.table, report_id)

    async def purge_before(self, before: datetime) -> int:
        old = [key for key, report in self._tx.tables.get(self.table, {}).items() if report.received_at < before]
        for key in old:
            self._tx.delete(self.table, key)
        return len(old)


class FakeAudit(_Repository):
    table = "audit"

    async def purge_before(self, before: datetime, *, now: datetime) -> int:
        old = self._where(lambda e: e.occurred_at < before)
        for event in old:
            self._tx.delete(self.table, event.id)
        self._tx.put("audit_purges", self._uow.db.next_id("audit_purges"), (before, now, len(old)))
        return len(old)

    def write(self, events: Iterable[AuditEvent]) -> None:
        """Called by the unit of work's commit with what was recorded."""
        for event in events:
            self._uow.db.check("audit.append")
            event_id = self._uow.db.next_id(self.table)
            self._tx.put(self.table, event_id, attrs.evolve(event, id=event_id))

    async def list_recent(
        self, *, client_id: int | None = None, notification_id: int | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        events = self._where(
            lambda e: (
                (client_id is None or e.client_id == client_id)
                and (notification_id is None or e.notification_id == notification_id)
            )
        )
        return sorted(events, key=lambda e: e.id, reverse=True)[:limit]

    async def search(self, query: AuditQuery) -> Sequence[AuditEvent]:
        def wanted(e: AuditEvent) -> bool:
            return (
                (query.client_id is None or e.client_id == query.client_id)
                and (query.person_id is None or e.person_id == query.person_id)
                and (query.action is None or e.action == query.action)
                and (query.since is None or e.occurred_at >= query.since)
                and (query.until is None or e.occurred_at < query.until)
                and (query.before_id is None or e.id < query.before_id)
            )

        return sorted(self._where(wanted), key=lambda e: e.id, reverse=True)[: query.limit]


class FakeReference(_Repository):
    table = "channels"
    saved = False

    async def list_channels(self) -> Sequence[Channel]:
        return self._tx.all("channels")

    async def get_channel(self, code: str) -> Channel | None:
        return self._tx.get("channels", code)  # type: ignore[no-any-return]

    async def get_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        found: Channel | None = self._tx.get("channels", channel)
        template: NotificationTemplate | None = self._tx.get("templates", (template_code, channel)) if found else None
        copies = self._uow.db.route_copies
        route = Route(found, template) if found is not None and template is not None else None
        if route is not None and route.deliverable:
            copies[channel, template_code] = route
        else:
            copies.pop((channel, template_code), None)
        return found, template

    async def seen_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        copy = self._uow.db.route_copies.get((channel, template_code))
        if copy is not None:
            return copy.channel, copy.template
        return await self.get_route(channel, template_code)

    async def holds(self, route: Route) -> bool:
        """Whether ``route`` is the stored one (the read refreshes its copy)."""
        return await self.get_route(route.channel.code, route.template.code) == (route.channel, route.template)

    def settle(self) -> None:
        """As the SQL store: what this unit of work saved clears the copies again when it ends."""
        if self.saved:
            self.saved = False
            self._uow.db.route_copies.clear()

    async def save_channel(self, channel: Channel) -> None:
        self.saved = True
        self._uow.db.route_copies.clear()
        self._tx.put("channels", channel.code, channel)

    async def list_templates(self) -> Sequence[NotificationTemplate]:
        return self._tx.all("templates")

    async def get_template(self, code: str, channel: str) -> NotificationTemplate | None:
        return self._tx.get("templates", (code, channel))  # type: ignore[no-any-return]

    async def save_template(self, template: NotificationTemplate) -> None:
        self.saved = True
        self._uow.db.route_copies.clear()
        self._tx.put("templates", (template.code, template.channel), template)


class FakeManagers(_Repository):
    table = "managers"

    async def add(self, manager: Manager) -> None:
        self._add(manager)

    async def get(self, manager_id: int) -> Manager | None:
        return self._get(manager_id)  # type: ignore[no-any-return]

    async def get_by_login(self, login: str) -> Manager | None:
        return self._first(lambda m: m.login.value == login)  # type: ignore[no-any-return]

    async def save(self, manager: Manager) -> None:
        self._save(manager)

    async def count(self) -> int:
        return len(self._tx.all(self.table))


class FakePartners(_Repository):
    table = "partners"

    async def add(self, partner: Partner) -> None:
        self._add(partner)

    async def get(self, partner_id: int) -> Partner | None:
        return self._get(partner_id)  # type: ignore[no-any-return]

    async def get_by_name(self, name: str) -> Partner | None:
        return self._first(lambda p: p.name == name)  # type: ignore[no-any-return]

    async def get_by_key_digest(self, key_digest: str) -> Partner | None:
        return self._first(lambda p: p.key_digest == key_digest)  # type: ignore[no-any-return]

    async def save(self, partner: Partner) -> None:
        self._save(partner)


class FakePurchases(_Repository):
    table = "purchases"

    async def add(self, purchase: Purchase) -> None:
        self._add(purchase)

    async def add_many(self, purchases: Sequence[Purchase]) -> None:
        for purchase in purchases:
            self._add(purchase)

    async def list_for_client(self, client_id: int) -> Sequence[Purchase]:
        return sorted(self._where(lambda p: p.client_id == client_id), key=lambda p: p.id)


class FakeIdempotency(_Repository):
    table = "idempotency"

    async def add(self, record: IdempotencyRecord) -> None:
        self._uow.db.check("idempotency.add")
        key = (record.scope, record.key)
        committed = self._uow.db.tables.get(self.table, {})
        # A key this transaction deleted (an expired record) may be claimed again in it.
        deleted_here = (self.table, key) in self._tx.dirty
        if self._tx.get(self.table, key) is not None or (key in committed and not deleted_here):
            raise UniqueViolation("idempotency_key")
        self._tx.put(self.table, key, record)
        self._tx.inserted[(self.table, key)] = ("idempotency_key", committed.get(key))

    async def add_if_new(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        self._uow.db.check("idempotency.add")
        known = self._tx.get(self.table, (record.scope, record.key))
        if known is not None:
            return known  # type: ignore[no-any-return]
        await self.add(record)
        return None

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._tx.get(self.table, (scope, key))  # type: ignore[no-any-return]

    async def save(self, record: IdempotencyRecord) -> None:
        self._tx.put(self.table, (record.scope, record.key), record)

    async def delete(self, scope: str, key: str) -> None:
        self._tx.delete(self.table, (scope, key))

    async def purge_expired(self, now: datetime) -> int:
        expired = self._where(lambda r: r.expires_at <= now)
        for record in expired:
            self._tx.delete(self.table, (record.scope, record.key))
        return len(expired)


class FakePromoBatches(_Repository):
    """The set-based port by the other fake repositories, row by row."""

    table = "promo"

    async def stored(self, records: Sequence[IdempotencyRecord]) -> Sequence[IdempotencyRecord | None]:
        self._uow.db.check("promo.stored")
        return [await self._uow.idempotency.get(record.scope, record.key) for record in records]

    async def participants(
        self, rows: Sequence[PromoParticipantRow], *, now: datetime, registered_by: str, source: str
    ) -> Sequence[PromoParticipantIds]:
        self._uow.db.check("promo.participants")
        found: list[PromoParticipantIds] = []
        for row in rows:
            person = Person(row.phone, row.full_name.first_name, Login.from_phone(row.phone), now)
            person = await self._uow.persons.add_if_new(person) or person
            client = Client(person.id, now, registered_by, source, full_name=row.full_name, email=row.email)
            known = await self._uow.clients.add_if_new(client)
            if known is not None and (known.full_name is None or known.email is None):
                known = attrs.evolve(known, full_name=known.full_name or row.full_name, email=known.email or row.email)
                await self._uow.clients.save(known)
            client = known or client
            found.append(PromoParticipantIds(person.id, client.id))
        return found

    async def add_purchases(self, purchases: Sequence[Purchase]) -> None:
        await self._uow.purchases.add_many(purchases)

    async def register_one(self, sign_up: PromoSignUp) -> PromoParticipantIds | IdempotencyRecord:
        uow = self._uow
        uow.db.check("promo.register_one")
        person = await uow.persons.add_if_new(sign_up.person) or sign_up.person
        client = attrs.evolve(sign_up.client, person_id=person.id)
        known = await uow.clients.add_if_new(client)
        if known is not None and (known.full_name is None or known.email is None):
            known = attrs.evolve(
                known, full_name=known.full_name or client.full_name, email=known.email or client.email
            )
            await uow.clients.save(known)
        client = known or client
        record = attrs.evolve(sign_up.record, result_id=client.id)
        earlier = await uow.idempotency.add_if_new(record)
        if earlier is not None and not sign_up.staleness.covers(earlier):
            return earlier
        if earlier is not None:
            await uow.idempotency.save(record)
        await uow.purchases.add_many([attrs.evolve(purchase, client_id=client.id) for purchase in sign_up.purchases])
        uow.record(attrs.evolve(sign_up.event, person_id=person.id, client_id=client.id))
        return PromoParticipantIds(person.id, client.id)

    async def complete(
        self, records: Sequence[IdempotencyRecord], *, replacing: Sequence[IdempotencyRecord] = ()
    ) -> None:
        for old in replacing:
            if await self._uow.idempotency.get(old.scope, old.key) == old:
                await self._uow.idempotency.delete(old.scope, old.key)
        for record in records:
            await self._uow.idempotency.add(record)


class FakeRegistrations(_Repository):
    """The registration's write by the other fake repositories, one record after another."""

    table = "registrations"

    async def add_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        self._uow.db.check("registrations.add_if_new")
        uow = self._uow
        if registration.route is not None and not await uow.reference.holds(registration.route):
            stored = await uow.persons.get_by_phone(registration.person.phone)
            if stored is None:
                raise RouteChanged()
            return KnownPerson(stored, await uow.clients.get_by_person(stored.id))
        known = await uow.persons.add_if_new(registration.person)
        if known is not None:
            return KnownPerson(known, await uow.clients.get_by_person(known.id))
        await registration.add_client_records(uow.clients, uow.consents, uow.notifications)
        uow.record(*registration.events_with_ids())
        return None

    async def commit_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        known = await self.add_if_new(registration)
        if known is None:
            await self._uow.commit()
        return known


class FakeUnitOfWork:
    """Collects audit events and touched notifications like the SQL unit of work does."""

    def __init__(self, db: InMemoryDatabase, queue: NotificationQueue | None = None) -> None:
        self.db = db
        self.queue = queue
        self.recorded: list[AuditEvent] = []
        self.seen: list[ClientNotification] = []
        self.transaction = _Transaction(db)
        self.persons = FakePersons(self)
        self.clients = FakeClients(self)
        self.consents = FakeConsents(self)
        self.notifications = FakeNotifications(self)
        self.audit = FakeAudit(self)
        self.reference = FakeReference(self)
        self.managers = FakeManagers(self)
        self.partners = FakePartners(self)
        self.purchases = FakePurchases(self)
        self.idempotency = FakeIdempotency(self)
        self.provider_reports = FakeProviderReports(self)
        self.promo = FakePromoBatches(self)
        self.registrations = FakeRegistrations(self)

    async def __aenter__(self) -> Self:
        self.db.check("begin")
        await self.rollback()
        self.db.open_units += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.db.open_units -= 1
        await self.rollback()

    def record(self, *events: AuditEvent) -> None:
        self.recorded.extend(events)

    async def commit(self) -> None:
        self.audit.write(self.recorded)
        self.transaction.commit()
        self.reference.settle()
        self.recorded.clear()
        due, self.seen = [n for n in self.seen if n.due_now], []
        for notification in due:
            notification.due_now = False
        for notification in due:
            if self.queue is None:
                continue
            try:
                await self.queue.enqueue(notification.id)
            except QueueUnavailable:
                log.warning("queue unavailable; notification %s is left for the sweep", notification.id)

    async def rollback(self) -> None:
        self.transaction = _Transaction(self.db)
        self.reference.settle()
        self.recorded.clear()
        self.seen.clear()


class FakeSessionReader:
    """Implements ``SessionReader``: committed rows, read without opening a unit of work."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    async def manager(self, manager_id: int) -> Manager | None:
        return await FakeUnitOfWork(self.db).managers.get(manager_id)

    async def client_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        return await FakeUnitOfWork(self.db).clients.get_with_person(client_id)

    async def partner_by_key_digest(self, key_digest: str) -> Partner | None:
        return await FakeUnitOfWork(self.db).partners.get_by_key_digest(key_digest)


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class FakeHasher:
    """Fast and deterministic; ``needs_rehash`` answers what a test sets."""

    def __init__(self) -> None:
        self.rehash: set[str] = set()
        self.hashed: list[str] = []

    async def hash(self, password: str) -> str:
        self.hashed.append(password)
        return "fake$" + hashlib.sha256(password.encode()).hexdigest()

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "fake$" + hashlib.sha256(password.encode()).hexdigest()

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash in self.rehash


class FakePasswordGenerator:
    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.issued: list[str] = []

    def generate_code(self) -> str:
        code = f"{next(self._counter):08d}"
        self.issued.append(code)
        return code

    def generate(self) -> str:
        password = f"Temp{next(self._counter):06d}xy"
        self.issued.append(password)
        return password


class FakeSecretBox:
    """Reversible but not plain: sealed values never contain the password as written."""

    def seal(self, plaintext: str) -> bytes:
        return b"sealed:" + plaintext.encode()[::-1]

    def open(self, sealed: bytes) -> str:
        if not sealed.startswith(b"sealed:"):
            raise SecretUnreadable("not sealed by this box")
        return sealed[len(b"sealed:") :][::-1].decode()


class FakeKeyDigester:
    def digest(self, key: str) -> str:
        return hashlib.sha256(b"pepper" + key.encode()).hexdigest()


class InMemoryAttemptCounter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    async def add(self, key: str, window_start: int, window_seconds: int) -> int:
        self.counts[key, window_start] = self.counts.get((key, window_start), 0) + 1
        return self.counts[key, window_start]

    async def take_back(self, key: str, window_start: int) -> None:
        if self.counts.get((key, window_start), 0) > 0:
            self.counts[key, window_start] -= 1

    async def reset(self, key: str, window_start: int) -> None:
        self.counts.pop((key, window_start), None)


class RecordingQueue:
    def __init__(self) -> None:
        self.enqueued: list[int] = []
        self.available = True

    async def enqueue(self, notification_id: int) -> None:
        if not self.available:
            raise QueueUnavailable("queue is down")
        self.enqueued.append(notification_id)


class ScriptedChannel:
    """Answers each send with the next scripted outcome; sends succeed once the script ends."""

    def __init__(
        self,
        outcomes: Iterable[DeliveryFailed | str] = (),
        *,
        deduplicates: bool = True,
        carries_only_code: bool = False,
    ) -> None:
        self._outcomes = list(outcomes)
        self.deduplicates = deduplicates
        self.carries_only_code = carries_only_code
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        self.sent.append(message)
        outcome = self._outcomes.pop(0) if self._outcomes else f"msg-{message.notification_id}-{len(self.sent)}"
        if isinstance(outcome, DeliveryFailed):
            raise outcome
        return SendReceipt(outcome)


class FakeChannelDirectory:
    def __init__(self, channels: dict[str, NotificationChannel] | None = None) -> None:
        self.channels = channels or {}

    def get(self, code: str) -> NotificationChannel | None:
        return self.channels.get(code)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.channels)


class StaticReferenceSource:
    def __init__(self, snapshot: ReferenceSnapshot) -> None:
        self.snapshot = snapshot

    async def fetch(self) -> ReferenceSnapshot:
        return self.snapshot
