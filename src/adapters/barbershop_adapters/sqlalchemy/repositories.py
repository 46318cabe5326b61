"""The repository ports of :mod:`barbershop_core.ports` on SQLAlchemy Core.

Rows become entities and value objects here, explicitly, and back. Every statement goes
through :class:`Statements`, which runs it on the unit of work's connection and
translates failures (:func:`barbershop_adapters.sqlalchemy.errors.translated`). Writes that may
break a unique rule run inside a SAVEPOINT, so that on PostgreSQL, as in the in-memory
fake and on SQLite, the clash costs only that statement and not the whole transaction.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.direct_statements import DirectStatements, outside_a_transaction
from barbershop_adapters.sqlalchemy.engine import PerEngine
from barbershop_adapters.sqlalchemy.errors import translated
from barbershop_adapters.sqlalchemy.json_rows import ORDER, json_rows, recordset
from barbershop_core.model import (
    AddressKind,
    AttemptOutcome,
    AuditAction,
    AuditEvent,
    Channel,
    Client,
    ClientNotification,
    Consent,
    DeliveryAttempt,
    IdempotencyRecord,
    IdempotencyState,
    Manager,
    NotificationStatus,
    NotificationTemplate,
    Partner,
    Person,
    ProviderReport,
    Purchase,
    StatusChange,
    TemplateKind,
)
from barbershop_core.ports import AuditQuery, Route, StorageUnavailable, ToSend
from barbershop_core.values import Email, FirstName, FullName, Login, Money, PhoneNumber

Values = dict[str, Any]
_Row = TypeVar("_Row")


async def _nothing_to_write() -> None:
    pass


class Statements:
    """Runs statements on the current connection of a unit of work, failures translated.

    Writes a repository keeps for later (:meth:`write_pending_first`) are sent before any
    other statement, so every statement of the unit of work sees them."""

    def __init__(
        self,
        connection: Callable[[], Awaitable[AsyncConnection]],
        dialect: str,
        direct: DirectStatements | None = None,
        *,
        alone: Callable[[sa.Executable, Values], Awaitable[Any]] | None = None,
    ) -> None:
        """``connection``: the unit of work's, checked out at its first statement.
        ``alone``: runs a statement that may stand alone (see :meth:`execute`) off the unit
        of work's connection, or answers None when it cannot."""
        self._connection = connection
        self._dialect = dialect
        self._direct = direct
        self._alone = alone
        self._has_pending: Callable[[], bool] = lambda: False
        self._write_pending: Callable[[], Awaitable[None]] = _nothing_to_write

    def write_pending_first(self, has_pending: Callable[[], bool], write: Callable[[], Awaitable[None]]) -> None:
        """``write`` takes the kept writes before it sends them (through here: ``has_pending``
        is false by then)."""
        self._has_pending, self._write_pending = has_pending, write

    @property
    def dialect(self) -> str:
        return self._dialect

    async def execute(
        self, statement: sa.Executable, parameters: Values | list[Values] | None = None, *, alone: bool = False
    ) -> Any:
        """``alone``: a write that may be a transaction of its own when it is the unit of
        work's first (:meth:`.direct_statements.DirectStatements.execute`), whichever way it
        is sent; only for a caller that commits right after it, with nothing else to write."""
        if self._has_pending():
            await self._write_pending()
        if alone and self._alone is not None and isinstance(parameters, dict):
            result = await self._alone(statement, parameters)
            if result is not None:
                return result
        connection = await self._connection()
        if self._direct is not None:
            result = await translated(self._direct.execute(connection, statement, parameters, alone=alone))
            if result is not None:
                return result
        async with outside_a_transaction(connection, statement, alone=alone):
            return await translated(connection.execute(statement, parameters))

    async def rows(self, statement: sa.Executable, parameters: Values | None = None) -> Sequence[RowMapping]:
        result = await self.execute(statement, parameters)
        return list(result.mappings().all())

    async def row(self, statement: sa.Executable, parameters: Values | None = None) -> RowMapping | None:
        result = await self.execute(statement, parameters)
        row: RowMapping | None = result.mappings().one_or_none()
        return row

    async def guarded(self, statement: sa.Executable, parameters: Values | None = None) -> CursorResult[Any]:
        """Run a write that may break a unique rule, in a savepoint of its own."""
        if self._has_pending():
            await self._write_pending()
        return await translated(self._in_savepoint(statement, parameters))

    async def _in_savepoint(self, statement: sa.Executable, parameters: Values | None) -> CursorResult[Any]:
        connection = await self._connection()
        async with connection.begin_nested():
            return await connection.execute(statement, parameters)

    async def insert_id(self, table: sa.Table, values: Values, *, guarded: bool = False) -> int:
        _check_columns(table, values)
        statement = _insert_returning_id(table)
        result = await (self.guarded(statement, values) if guarded else self.execute(statement, values))
        return int(result.scalar_one())

    async def update(self, table: sa.Table, key: sa.ColumnElement[bool], values: Values, *, guarded: bool) -> None:
        statement = sa.update(table).where(key).values(values)
        result = await (self.guarded(statement) if guarded else self.execute(statement))
        if result.rowcount == 0:
            raise KeyError(f"{table.name}: the row to save was never added")

    async def insert_unless_taken(self, table: sa.Table, values: Values, keys: Sequence[str]) -> bool:
        """INSERT … ON CONFLICT (keys) DO NOTHING: False when the key was taken.

        No savepoint: an expected clash is not an error, so the transaction goes on. On
        PostgreSQL a concurrent insert of the same key is waited for; if it commits, the
        key counts as taken (READ COMMITTED: the next statement sees the row).
        """
        _check_columns(table, values)
        statement = _insert_unless_taken(self.dialect, table, tuple(keys), keys[0])
        result = await self.execute(statement, values)
        return result.first() is not None

    async def insert_id_unless_taken(self, table: sa.Table, values: Values, key: str) -> int | None:
        """Like :meth:`insert_unless_taken` for a row with an ``id``: the new id, or None."""
        _check_columns(table, values)
        statement = _insert_unless_taken(self.dialect, table, (key,), "id")
        row_id = (await self.execute(statement, values)).scalar_one_or_none()
        return None if row_id is None else int(row_id)

    async def insert_ids(self, table: sa.Table, rows: list[Values]) -> list[int]:
        """Several rows in one statement (a multi-row INSERT … RETURNING id), ids in row order."""
        if not rows:
            return []
        _check_columns(table, rows[0])
        if self.dialect == "sqlite":
            # SQLAlchemy sends SQLite a row at a time when asked to keep RETURNING in row
            # order. Not needed here: one writer at a time gives an INTEGER PRIMARY KEY
            # (the rowid) max + 1 per row, in row order, so the sorted ids are the rows' ids.
            result = await self.execute(_insert_returning_id(table), rows)
            return sorted(int(row_id) for row_id in result.scalars().all())
        statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        result = await self.execute(statement, rows)
        return [int(row_id) for row_id in result.scalars().all()]

    def upsert(self, table: sa.Table, values: Values, keys: Sequence[str]) -> Insert:
        """INSERT … ON CONFLICT (keys) DO UPDATE, in the dialect's own spelling."""
        statement = _dialect_insert(self.dialect, table).values(values)
        changes = {name: statement.excluded[name] for name in values if name not in keys}
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


# Built once per table (and dialect): the statements carry no values, which are given as
# parameters, so building one per call would only repeat the same work.


@functools.cache
def _insert_returning_id(table: sa.Table) -> Insert:
    return sa.insert(table).returning(table.c.id)


@functools.cache
def _insert_rows(table: sa.Table) -> Insert:
    return sa.insert(table)


@functools.cache
def _insert_unless_taken(dialect: str, table: sa.Table, keys: tuple[str, ...], returned: str) -> Insert:
    statement = _dialect_insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(table.c[returned])


def _dialect_insert(dialect: str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT in the dialect's own spelling (for ``ON CONFLICT``)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@functools.cache
def _column_names(table: sa.Table) -> frozenset[str]:
    return frozenset(table.c.keys())


def _check_columns(table: sa.Table, values: Values) -> None:
    """Refuse a value for no column, which an insert given its values as parameters would
    leave out silently (``.values()`` refused it, at the cost of a statement per call)."""
    unknown = values.keys() - _column_names(table)
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")


class _Repository:
    def __init__(self, statements: Statements) -> None:
        self._db = statements


def row_clashed_with(known: _Row | None) -> _Row:
    """The row a clash was with. Rows that decide a clash are never deleted, so a miss
    means the store is not answering consistently: retry the work."""
    if known is None:
        raise StorageUnavailable("a key clash without the row it clashed with")
    return known


# -- persons ------------------------------------------------------------------------------


def person_values(person: Person) -> Values:
    return {
        "phone_number": person.phone.e164,
        "login": person.login.value,
        "first_name": person.first_name.value,
        "password_hash": person.password_hash,
        "must_change_password": person.must_change_password,
        "temporary_password_expires_at": person.temporary_password_expires_at,
        "created_at": person.created_at,
        "temporary_password_voided_at": person.temporary_password_voided_at,
        "first_signed_in_at": person.first_signed_in_at,
        "session_version": person.session_version,
    }


def stored_person(row: Mapping[Any, Any]) -> Person:
    return Person(
        phone=PhoneNumber(row["phone_number"]),
        first_name=FirstName(row["first_name"]),
        login=Login(row["login"]),
        created_at=row["created_at"],
        password_hash=row["password_hash"],
        must_change_password=row["must_change_password"],
        temporary_password_expires_at=row["temporary_password_expires_at"],
        temporary_password_voided_at=row["temporary_password_voided_at"],
        first_signed_in_at=row["first_signed_in_at"],
        session_version=row["session_version"],
        id=row["id"],
    )


class SqlPersonRepository(_Repository):
    async def add(self, person: Person) -> None:
        person.id = await self._db.insert_id(t.persons, person_values(person), guarded=True)

    async def add_if_new(self, person: Person) -> Person | None:
        person_id = await self._db.insert_id_unless_taken(t.persons, person_values(person), "phone_number")
        if person_id is not None:
            person.id = person_id
            return None
        return row_clashed_with(await self.get_by_phone(person.phone))

    async def get(self, person_id: int) -> Person | None:
        row = await self._db.row(sa.select(t.persons).where(t.persons.c.id == person_id))
        return stored_person(row) if row else None

    async def get_by_phone(self, phone: PhoneNumber) -> Person | None:
        row = await self._db.row(sa.select(t.persons).where(t.persons.c.phone_number == phone.e164))
        return stored_person(row) if row else None

    async def save(self, person: Person) -> None:
        await self._db.update(t.persons, t.persons.c.id == person.id, person_values(person), guarded=True)


# -- clients ------------------------------------------------------------------------------


def client_values(client: Client) -> Values:
    return {
        "person_id": client.person_id,
        "registered_at": client.registered_at,
        "registered_by": client.registered_by,
        "source": client.source,
        "full_name": client.full_name.value if client.full_name else None,
        "email": client.email.value if client.email else None,
        "channel_accounts": dict(client.channel_accounts),
    }


def stored_client(row: Mapping[Any, Any]) -> Client:
    return Client(
        person_id=row["person_id"],
        registered_at=row["registered_at"],
        registered_by=row["registered_by"],
        source=row["source"],
        full_name=FullName(row["full_name"]) if row["full_name"] is not None else None,
        email=Email(row["email"]) if row["email"] is not None else None,
        channel_accounts=dict(row["channel_accounts"]),
        id=row["id"],
    )


PERSON_PREFIX: Final = "person__"
"""Of the person's columns read beside a client's (:func:`stored_client_and_person`)."""
_PERSON_COLUMNS: Final = [column.label(f"{PERSON_PREFIX}{column.name}") for column in t.persons.c]
_PERSON_NAMES: Final = [f"{PERSON_PREFIX}{column.name}" for column in t.persons.c]


_WITH_PERSON: Final = sa.select(t.clients, *_PERSON_COLUMNS).join(t.persons, t.persons.c.id == t.clients.c.person_id)
_CLIENT_WITH_PERSON: Final = _WITH_PERSON.where(t.clients.c.id == sa.bindparam("client_id"))
_CLIENTS_WITH_PERSON: Final = _WITH_PERSON.where(t.clients.c.id.in_(sa.bindparam("client_ids", expanding=True)))


def stored_client_and_person(row: Mapping[Any, Any]) -> tuple[Client, Person]:
    """A client row with its person's columns prefixed :data:`PERSON_PREFIX` (:data:`_WITH_PERSON`)."""
    return stored_client(row), stored_person({name.removeprefix(PERSON_PREFIX): row[name] for name in _PERSON_NAMES})


class SqlClientRepository(_Repository):
    async def add(self, client: Client) -> None:
        client.id = await self._db.insert_id(t.clients, client_values(client), guarded=True)

    async def add_if_new(self, client: Client) -> Client | None:
        client_id = await self._db.insert_id_unless_taken(t.clients, client_values(client), "person_id")
        if client_id is not None:
            client.id = client_id
            return None
        return row_clashed_with(await self.get_by_person(client.person_id))

    async def get(self, client_id: int) -> Client | None:
        row = await self._db.row(sa.select(t.clients).where(t.clients.c.id == client_id))
        return stored_client(row) if row else None

    async def get_with_person(self, client_id: int) -> tuple[Client, Person] | None:
        row = await self._db.row(_CLIENT_WITH_PERSON, {"client_id": client_id})
        return None if row is None else stored_client_and_person(row)

    async def get_many_with_person(self, client_ids: Sequence[int]) -> Mapping[int, tuple[Client, Person]]:
        if not client_ids:
            return {}
        rows = await self._db.rows(_CLIENTS_WITH_PERSON, {"client_ids": sorted(set(client_ids))})
        return {row["id"]: stored_client_and_person(row) for row in rows}

    async def get_by_person(self, person_id: int) -> Client | None:
        row = await self._db.row(sa.select(t.clients).where(t.clients.c.person_id == person_id))
        return stored_client(row) if row else None

    async def save(self, client: Client) -> None:
        await self._db.update(t.clients, t.clients.c.id == client.id, client_values(client), guarded=True)


# -- consents -----------------------------------------------------------------------------


def consent_values(consent: Consent) -> Values:
    return {
        "client_id": consent.client_id,
        "consent_type": consent.consent_type,
        "granted": consent.granted,
        "recorded_at": consent.recorded_at,
        "recorded_by": consent.recorded_by,
    }


class SqlConsentRepository(_Repository):
    async def add(self, consent: Consent) -> None:
        consent.id = await self._db.insert_id(t.consents, consent_values(consent))

    async def add_many(self, consents: Sequence[Consent]) -> None:
        rows = [consent_values(consent) for consent in consents]
        for consent, consent_id in zip(consents, await self._db.insert_ids(t.consents, rows), strict=True):
            consent.id = consent_id

    async def list_for_client(self, client_id: int) -> Sequence[Consent]:
        rows = await self._db.rows(
            sa.select(t.consents).where(t.consents.c.client_id == client_id).order_by(t.consents.c.id)
        )
        return [
            Consent(
                client_id=row["client_id"],
                consent_type=row["consent_type"],
                granted=row["granted"],
                recorded_at=row["recorded_at"],
                recorded_by=row["recorded_by"],
                id=row["id"],
            )
            for row in rows
        ]


# -- notifications (the outbox) -----------------------------------------------------------

_notifications = t.client_notifications
_history = t.notification_status_changes
_attempts = t.notification_attempts


def notification_values(notification: ClientNotification) -> Values:
    return {
        "client_id": notification.client_id,
        "channel": notification.channel,
        "template_code": notification.template_code,
        "kind": notification.kind.value,
        "status": notification.status.value,
        "created_at": notification.created_at,
        "next_attempt_at": notification.next_attempt_at,
        "lease_until": notification.lease_until,
        "provider_message_id": notification.provider_message_id,
        "last_error": notification.last_error,
        "secret": notification.secret,
        "secret_expires_at": notification.secret_expires_at,
        "resend_of": notification.resend_of,
        "superseded_by": notification.superseded_by,
        "fallback_pending": notification.fallback_pending,
    }


_NOTIFICATION_COLUMNS: Final = [column.name for column in _notifications.c if column.name != "id"]


def history_values(notification_id: int, position: int, change: StatusChange) -> Values:
    return {
        "notification_id": notification_id,
        "position": position,
        "status": change.status.value,
        "at": change.at,
        "reason": change.reason,
    }


def _attempt_values(notification_id: int, attempt: DeliveryAttempt) -> Values:
    return {
        "notification_id": notification_id,
        "number": attempt.number,
        "channel": attempt.channel,
        "at": attempt.at,
        "outcome": attempt.outcome.value,
        "provider_message_id": attempt.provider_message_id,
        "error": attempt.error,
    }


def _notification(row: RowMapping, history: list[StatusChange], attempts: list[DeliveryAttempt]) -> ClientNotification:
    secret = row["secret"]
    return ClientNotification(
        client_id=row["client_id"],
        channel=row["channel"],
        template_code=row["template_code"],
        kind=TemplateKind(row["kind"]),
        status=NotificationStatus(row["status"]),
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        lease_until=row["lease_until"],
        provider_message_id=row["provider_message_id"],
        last_error=row["last_error"],
        secret=bytes(secret) if secret is not None else None,
        secret_expires_at=row["secret_expires_at"],
        resend_of=row["resend_of"],
        superseded_by=row["superseded_by"],
        fallback_pending=bool(row["fallback_pending"]),
        history=history,
        attempts=attempts,
        id=row["id"],
    )


def _children() -> sa.CompoundSelect[Any]:
    """Status history and attempts of the notifications ``notification_ids`` in one
    statement (kind 0 / 1)."""
    text, number = sa.Text(), sa.Integer()
    notification_ids: sa.BindParameter[Any] = sa.bindparam("notification_ids", expanding=True)
    history = sa.select(
        sa.literal(0, number).label("kind"),
        _history.c.notification_id,
        _history.c.position.label("number"),
        _history.c.status.label("state"),
        _history.c.at,
        _history.c.reason.label("detail"),
        sa.null().cast(text).label("channel"),
        sa.null().cast(text).label("provider_message_id"),
    ).where(_history.c.notification_id.in_(notification_ids))
    attempts = sa.select(
        sa.literal(1, number),
        _attempts.c.notification_id,
        _attempts.c.number,
        _attempts.c.outcome,
        _attempts.c.at,
        _attempts.c.error,
        _attempts.c.channel,
        _attempts.c.provider_message_id,
    ).where(_attempts.c.notification_id.in_(notification_ids))
    return sa.union_all(history, attempts).order_by("kind", "notification_id", "number")


def _children_as_json(table: sa.Table, order: sa.Column[Any], *columns: sa.Column[Any]) -> sa.Label[Any]:
    """A notification's entries of ``table`` as one JSON array of arrays (``columns``, in
    ``order``), or NULL when it has none: read with the notification's row (PostgreSQL)."""
    entries = sa.func.json_agg(postgresql.aggregate_order_by(sa.func.json_build_array(*columns), order))
    subquery = sa.select(entries).where(table.c.notification_id == _notifications.c.id).scalar_subquery()
    return subquery.label(f"{table.name}_json")


_HISTORY_JSON: Final = _children_as_json(
    _history, _history.c.position, _history.c.status, _history.c.at, _history.c.reason
)
_ATTEMPTS_JSON: Final = _children_as_json(
    _attempts,
    _attempts.c.number,
    _attempts.c.number,
    _attempts.c.channel,
    _attempts.c.at,
    _attempts.c.outcome,
    _attempts.c.provider_message_id,
    _attempts.c.error,
)


def _row_as_seen() -> sa.Label[Any]:
    """Whether the row returned is the version the statement's snapshot saw.

    A locking read (``FOR UPDATE``) that waited for another transaction returns the row as
    that transaction left it, but its subqueries — the history and attempts — still read
    the snapshot taken when the statement began (READ COMMITTED). Children are only ever
    written with an update of their notification's row, so a row whose version (``xmin``)
    is still the snapshot's has current children; any other is read again.
    """
    seen = _notifications.alias("seen")
    seen_version: sa.Select[Any] = sa.select(sa.literal_column("seen.xmin")).where(seen.c.id == _notifications.c.id)
    returned_version: sa.ColumnClause[Any] = sa.literal_column(f"{_notifications.name}.xmin")
    return sa.func.coalesce(returned_version.op("=")(seen_version.scalar_subquery()), sa.false()).label("as_seen")


_AS_SEEN: Final = _row_as_seen()


def _with_children(statement: sa.Select[Any]) -> sa.Select[Any]:
    """``statement`` (notifications' rows) with each one's history and attempts."""
    return statement.add_columns(_HISTORY_JSON, _ATTEMPTS_JSON, _AS_SEEN)


def _json_instant(value: str) -> datetime:
    """A ``timestamptz`` as PostgreSQL writes it in JSON (ISO 8601 with its offset), in UTC."""
    return datetime.fromisoformat(value).astimezone(UTC)


def _history_from_json(entries: list[list[Any]] | None) -> list[StatusChange]:
    return [StatusChange(NotificationStatus(status), _json_instant(at), reason) for status, at, reason in entries or ()]


def _attempts_from_json(entries: list[list[Any]] | None) -> list[DeliveryAttempt]:
    return [
        DeliveryAttempt(
            number=number,
            channel=channel,
            at=_json_instant(at),
            outcome=AttemptOutcome(outcome),
            provider_message_id=provider_message_id,
            error=error,
        )
        for number, channel, at, outcome, provider_message_id, error in entries or ()
    ]


# The statements of the hot paths (a send, a registration) are built once: building one
# per call cost more Python than running it (docs/performance.md, "Statements built once").
_CHILDREN: Final = _children()
_NOTIFICATION_BY_ID: Final = sa.select(_notifications).where(_notifications.c.id == sa.bindparam("notification_id"))
# FOR UPDATE on PostgreSQL (waits for another holder); SQLite renders nothing and relies on
# its single writer: every transaction starts with BEGIN IMMEDIATE.
_NOTIFICATION_BY_ID_FOR_UPDATE: Final = _NOTIFICATION_BY_ID.with_for_update()
_NOTIFICATIONS_FOR_UPDATE: Final = (
    sa.select(_notifications)
    .where(_notifications.c.id.in_(sa.bindparam("notification_ids", expanding=True)))
    .order_by(_notifications.c.id)
    .with_for_update()
)
CLIENT_PREFIX: Final = "client__"
CHANNEL_PREFIX: Final = "channel__"
TEMPLATE_PREFIX: Final = "template__"
_TO_SEND: Final = (
    sa.select(
        _notifications,
        *(column.label(f"{CLIENT_PREFIX}{column.name}") for column in t.clients.c),
        *(column.label(f"{PERSON_PREFIX}{column.name}") for column in t.persons.c),
        *(column.label(f"{CHANNEL_PREFIX}{column.name}") for column in t.channels.c),
        *(column.label(f"{TEMPLATE_PREFIX}{column.name}") for column in t.notification_templates.c),
    )
    .select_from(
        _notifications.outerjoin(t.clients, t.clients.c.id == _notifications.c.client_id)
        .outerjoin(t.persons, t.persons.c.id == t.clients.c.person_id)
        .outerjoin(t.channels, t.channels.c.code == _notifications.c.channel)
        .outerjoin(
            t.notification_templates,
            sa.and_(
                t.notification_templates.c.channel == t.channels.c.code,
                t.notification_templates.c.code == _notifications.c.template_code,
            ),
        )
    )
    .where(_notifications.c.id.in_(sa.bindparam("notification_ids", expanding=True)))
    .order_by(_notifications.c.id)
    .with_for_update(of=_notifications)
)
"""The notifications a claim locks, each with its client and person and its route (read as
``get_route`` reads it: the template only of an existing channel)."""

_WITH_CHILDREN: Final = {
    statement: _with_children(statement)
    for statement in (_NOTIFICATION_BY_ID, _NOTIFICATION_BY_ID_FOR_UPDATE, _NOTIFICATIONS_FOR_UPDATE, _TO_SEND)
}
"""The hot paths' reads with their children, built once too."""
_CHILDREN_COUNTS: Final = sa.select(
    sa.select(sa.func.count())
    .select_from(_history)
    .where(_history.c.notification_id == sa.bindparam("notification_id"))
    .scalar_subquery(),
    sa.select(sa.func.count())
    .select_from(_attempts)
    .where(_attempts.c.notification_id == sa.bindparam("notification_id"))
    .scalar_subquery(),
)

_UPDATE_BY_ID: Final = (
    sa.update(_notifications)
    .where(_notifications.c.id == sa.bindparam("saved_id"))
    .values({name: sa.bindparam(f"new_{name}") for name in _NOTIFICATION_COLUMNS})
)
"""One notification's row, by id (:func:`_update_row`), or many at once (an ``executemany``)."""


def _update_row(notification: ClientNotification) -> Values:
    return {"saved_id": notification.id} | {
        f"new_{name}": value for name, value in notification_values(notification).items()
    }


class SqlNotificationRepository(_Repository):
    """Notifications with their history and attempts, which only ever grow.

    The repository remembers how many entries of each it has read or written for a
    notification, so a save appends the new ones without counting the stored ones first.
    A save of a notification this unit of work read or added is kept, like the new entries,
    until the next read of notifications or the commit (:meth:`flush`), which writes them
    for every notification of the unit of work together: on PostgreSQL in one statement
    with the commit's audit events, elsewhere one statement per table. Added and saved
    notifications are reported to ``seen`` for the unit of work's hand-off after commit.
    """

    def __init__(self, statements: Statements, seen: Callable[[ClientNotification], None]) -> None:
        super().__init__(statements)
        self._seen = seen
        self._stored: dict[int, tuple[int, int]] = {}
        """notification id → (history entries, attempts) known to be in the store."""
        self._pending_history: list[Values] = []
        self._pending_attempts: list[Values] = []
        self._pending_saves: dict[int, Values] = {}
        """notification id → its row as last saved, for the next flush."""
        statements.write_pending_first(self._has_pending, self.flush)

    def _has_pending(self) -> bool:
        return bool(self._pending_saves or self._pending_history or self._pending_attempts)

    async def add(self, notification: ClientNotification) -> None:
        notification.id = await self._db.insert_id(_notifications, notification_values(notification))
        self._append_children(notification, known_history=0, known_attempts=0)
        self._seen(notification)

    def added_with_history(self, notification: ClientNotification) -> None:
        """``notification`` was inserted with its status history by another statement of
        this unit of work (a registration's): from here on it is one this repository added."""
        self._append_children(notification, known_history=len(notification.history), known_attempts=0)
        self._seen(notification)

    async def get(self, notification_id: int) -> ClientNotification | None:
        return await self._one(_NOTIFICATION_BY_ID, {"notification_id": notification_id})

    async def get_for_update(self, notification_id: int) -> ClientNotification | None:
        return await self._one(_NOTIFICATION_BY_ID_FOR_UPDATE, {"notification_id": notification_id})

    async def get_many_for_update(self, notification_ids: Sequence[int]) -> Sequence[ClientNotification]:
        if not notification_ids:
            return []
        return await self._many(_NOTIFICATIONS_FOR_UPDATE, {"notification_ids": sorted(set(notification_ids))})

    async def save(self, notification: ClientNotification) -> None:
        await self.save_many([notification])

    async def save_many(self, notifications: Sequence[ClientNotification]) -> None:
        """Keep the rows of notifications this unit of work read or added for the next flush
        (they exist: notifications are never deleted); update any other one at once, which
        also tells whether it exists at all."""
        unknown = [notification for notification in notifications if notification.id not in self._stored]
        if unknown:
            result = await self._db.execute(_UPDATE_BY_ID, [_update_row(notification) for notification in unknown])
            if result.rowcount != len(unknown):
                raise KeyError(f"{_notifications.name}: the row to save was never added")
        for notification in notifications:
            stored = self._stored.get(notification.id)
            if stored is None:  # read in another unit of work: ask the store what it keeps
                stored = await self._count_children(notification.id)
            else:
                self._pending_saves[notification.id] = _update_row(notification)
            self._append_children(notification, known_history=stored[0], known_attempts=stored[1])
            self._seen(notification)

    async def flush(self, audit: Sequence[AuditEvent] = ()) -> None:
        """Write the saves, history entries and attempts kept since the last flush, and
        ``audit`` (the unit of work's events, at its commit) after them."""
        saves, self._pending_saves = list(self._pending_saves.values()), {}
        history, self._pending_history = self._pending_history, []
        attempts, self._pending_attempts = self._pending_attempts, []
        if self._db.dialect == "postgresql" and (saves or history or attempts):
            await _write_changes_on_postgresql(self._db, saves, history, attempts, audit)
            return
        # SQLite; or PostgreSQL with the audit events alone (their plain insert is cheaper).
        if saves:
            result = await self._db.execute(_UPDATE_BY_ID, saves)
            if result.rowcount != len(saves):
                raise KeyError(f"{_notifications.name}: a row to save is gone")
        if history:
            await self._db.execute(_insert_rows(_history), history)
        if attempts:
            await self._db.execute(_insert_rows(_attempts), attempts)
        await write_audit(self._db, audit)

    def forget(self) -> None:
        """After a rollback nothing kept is true any more."""
        self._stored.clear()
        self._pending_saves.clear()
        self._pending_history.clear()
        self._pending_attempts.clear()

    async def list_for_client(self, client_id: int) -> Sequence[ClientNotification]:
        return await self._many(
            sa.select(_notifications).where(_notifications.c.client_id == client_id).order_by(_notifications.c.id)
        )

    async def list_needing_attention(self, limit: int) -> Sequence[ClientNotification]:
        return await self._many(
            sa.select(_notifications)
            .where(
                _notifications.c.superseded_by.is_(None),
                _notifications.c.fallback_pending.is_(False),
                _notifications.c.status.in_([NotificationStatus.FAILED.value, NotificationStatus.HELD.value]),
            )
            .order_by(_notifications.c.id)
            .limit(limit)
        )

    async def list_held(self, channel: str | None, limit: int) -> Sequence[ClientNotification]:
        statement = sa.select(_notifications).where(_notifications.c.status == NotificationStatus.HELD.value)
        if channel is not None:
            statement = statement.where(_notifications.c.channel == channel)
        return await self._many(statement.order_by(_notifications.c.id).limit(limit))

    async def due_ids(self, now: datetime, limit: int) -> Sequence[int]:
        """Due, unleased notifications, oldest due first.

        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` until the unit of
        work ends, so workers claiming at the same moment each get different rows and
        never wait on one another. SQLite has one writer at a time (BEGIN IMMEDIATE) and
        renders no locking clause.
        """
        await self.flush()
        statement = (
            sa.select(_notifications.c.id)
            .where(
                _notifications.c.status == NotificationStatus.SCHEDULED.value,
                _notifications.c.next_attempt_at <= now,
                sa.or_(_notifications.c.lease_until.is_(None), _notifications.c.lease_until <= now),
            )
            .order_by(_notifications.c.next_attempt_at, _notifications.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = await self._db.execute(statement)
        return [int(notification_id) for notification_id in result.scalars().all()]

    async def with_expired_secrets(self, now: datetime, limit: int) -> Sequence[ClientNotification]:
        return await self._many(
            sa.select(_notifications)
            .where(
                _notifications.c.secret.is_not(None),
                _notifications.c.secret_expires_at <= now,
                # A send in flight owns its notification until its lease ends.
                sa.or_(_notifications.c.lease_until.is_(None), _notifications.c.lease_until <= now),
            )
            .order_by(_notifications.c.id)
            .limit(limit)
            # A worker recording this notification's send holds its row: leave it to the worker.
            .with_for_update(skip_locked=True)
        )

    async def get_by_provider_message_id(self, channel: str, provider_message_id: str) -> ClientNotification | None:
        return await self._one(
            sa.select(_notifications)
            .where(
                _notifications.c.channel == channel,
                _notifications.c.provider_message_id == provider_message_id,
            )
            .order_by(_notifications.c.id)
            .limit(1)
            .with_for_update()
        )

    async def fallback_pending_ids(self, limit: int) -> Sequence[int]:
        await self.flush()
        result = await self._db.execute(
            sa.select(_notifications.c.id)
            .where(_notifications.c.fallback_pending.is_(True))
            .order_by(_notifications.c.id)
            .limit(limit)
        )
        return [int(notification_id) for notification_id in result.scalars().all()]

    async def _one(self, statement: sa.Select[Any], parameters: Values | None = None) -> ClientNotification | None:
        found = await self._many(statement, parameters)
        return found[0] if found else None

    async def get_many_to_send(self, notification_ids: Sequence[int]) -> Sequence[ToSend]:
        if not notification_ids:
            return []
        found = await self._many_with_rows(_TO_SEND, {"notification_ids": sorted(set(notification_ids))})
        return [
            ToSend(notification, _recipient(row), *_route_of(row, CHANNEL_PREFIX, TEMPLATE_PREFIX))
            if row.get(_AS_SEEN.name, True)
            else await self._to_send_after_the_wait(notification)
            for row, notification in found
        ]

    async def _to_send_after_the_wait(self, notification: ClientNotification) -> ToSend:
        """A row another unit of work changed while this read waited for its lock comes back
        as that one left it, but joined to the other tables as they were when the statement
        began (and by its old values: a released notification's new channel found no route).
        Its recipient and route are read again, now that the lock is held."""
        recipient_row = await self._db.row(_CLIENT_WITH_PERSON, {"client_id": notification.client_id})
        recipient = None if recipient_row is None else stored_client_and_person(recipient_row)
        route_row = await self._db.row(
            _ROUTE, {"channel": notification.channel, "template_code": notification.template_code}
        )
        return ToSend(notification, recipient, *_route_of(route_row))

    async def _many(self, statement: sa.Select[Any], parameters: Values | None = None) -> list[ClientNotification]:
        return [notification for _, notification in await self._many_with_rows(statement, parameters)]

    async def _many_with_rows(
        self, statement: sa.Select[Any], parameters: Values | None = None
    ) -> list[tuple[RowMapping, ClientNotification]]:
        await self.flush()
        if self._db.dialect == "postgresql":
            found = await self._many_in_one_statement(statement, parameters)
        else:
            found = await self._many_with_children_apart(statement, parameters)
        for _, notification in found:
            self._stored[notification.id] = (len(notification.history), len(notification.attempts))
        return found

    async def _many_in_one_statement(
        self, statement: sa.Select[Any], parameters: Values | None
    ) -> list[tuple[RowMapping, ClientNotification]]:
        """The rows with their history and attempts as JSON: one round trip."""
        with_children = _WITH_CHILDREN.get(statement)
        if with_children is None:
            with_children = _with_children(statement)
        rows = await self._db.rows(with_children, parameters)
        # Rows another transaction changed while this read waited for their locks: their
        # children again, now that the locks are held (see _row_as_seen).
        changed = {row["id"] for row in rows if not row[_AS_SEEN.name]}
        history, attempts = (
            await self._children_of(sorted(changed)) if changed else (defaultdict(list), defaultdict(list))
        )
        return [
            (
                row,
                _notification(row, history[row["id"]], attempts[row["id"]])
                if row["id"] in changed
                else _notification(
                    row, _history_from_json(row[_HISTORY_JSON.name]), _attempts_from_json(row[_ATTEMPTS_JSON.name])
                ),
            )
            for row in rows
        ]

    async def _many_with_children_apart(
        self, statement: sa.Select[Any], parameters: Values | None
    ) -> list[tuple[RowMapping, ClientNotification]]:
        """The rows, then the children of all of them in a second statement (SQLite, which
        has no round trips to save)."""
        rows = await self._db.rows(statement, parameters)
        if not rows:
            return []
        history, attempts = await self._children_of([row["id"] for row in rows])
        return [(row, _notification(row, history[row["id"]], attempts[row["id"]])) for row in rows]

    async def _children_of(
        self, notification_ids: list[int]
    ) -> tuple[defaultdict[int, list[StatusChange]], defaultdict[int, list[DeliveryAttempt]]]:
        history: defaultdict[int, list[StatusChange]] = defaultdict(list)
        attempts: defaultdict[int, list[DeliveryAttempt]] = defaultdict(list)
        for child in await self._db.rows(_CHILDREN, {"notification_ids": notification_ids}):
            if child["kind"] == 0:
                history[child["notification_id"]].append(
                    StatusChange(NotificationStatus(child["state"]), child["at"], child["detail"])
                )
            else:
                attempts[child["notification_id"]].append(
                    DeliveryAttempt(
                        number=child["number"],
                        channel=child["channel"],
                        at=child["at"],
                        outcome=AttemptOutcome(child["state"]),
                        provider_message_id=child["provider_message_id"],
                        error=child["detail"],
                    )
                )
        return history, attempts

    async def _count_children(self, notification_id: int) -> tuple[int, int]:
        await self.flush()
        counts = (await self._db.execute(_CHILDREN_COUNTS, {"notification_id": notification_id})).one()
        return int(counts[0]), int(counts[1])

    def _append_children(self, notification: ClientNotification, *, known_history: int, known_attempts: int) -> None:
        self._pending_history += [
            history_values(notification.id, position, change)
            for position, change in enumerate(notification.history[known_history:], start=known_history)
        ]
        self._pending_attempts += [
            _attempt_values(notification.id, attempt) for attempt in notification.attempts[known_attempts:]
        ]
        self._stored[notification.id] = (len(notification.history), len(notification.attempts))


def _prefixed(row: Mapping[Any, Any], prefix: str, table: sa.Table) -> dict[str, Any]:
    return {column.name: row[f"{prefix}{column.name}"] for column in table.c}


def _recipient(row: Mapping[Any, Any]) -> tuple[Client, Person] | None:
    if row[f"{CLIENT_PREFIX}id"] is None:
        return None
    return stored_client(_prefixed(row, CLIENT_PREFIX, t.clients)), stored_person(
        _prefixed(row, PERSON_PREFIX, t.persons)
    )


# -- provider reports kept for later ---------------------------------------------------------

_reports = t.provider_reports


def _report(row: RowMapping) -> ProviderReport:
    return ProviderReport(
        channel=row["channel"],
        provider_message_id=row["provider_message_id"],
        status=NotificationStatus(row["status"]),
        received_at=row["received_at"],
        error=row["error"],
        id=row["id"],
    )


class SqlProviderReportRepository(_Repository):
    async def keep(self, report: ProviderReport) -> bool:
        values = {
            "channel": report.channel,
            "provider_message_id": report.provider_message_id,
            "status": report.status.value,
            "error": report.error,
            "received_at": report.received_at,
        }
        return await self._db.insert_unless_taken(_reports, values, ("channel", "provider_message_id", "status"))

    async def list_matched(self, limit: int) -> Sequence[ProviderReport]:
        carried = sa.exists().where(
            _notifications.c.channel == _reports.c.channel,
            _notifications.c.provider_message_id == _reports.c.provider_message_id,
        )
        rows = await self._db.rows(sa.select(_reports).where(carried).order_by(_reports.c.id).limit(limit))
        return [_report(row) for row in rows]

    async def delete(self, report_id: int) -> None:
        await self._db.execute(sa.delete(_reports).where(_reports.c.id == report_id))

    async def purge_before(self, before: datetime) -> int:
        result = await self._db.execute(sa.delete(_reports).where(_reports.c.received_at < before))
        return int(result.rowcount)


# -- audit --------------------------------------------------------------------------------


def audit_values(event: AuditEvent) -> Values:
    return {
        "action": event.action.value,
        "actor": event.actor,
        "occurred_at": event.occurred_at,
        "request_id": event.request_id,
        "person_id": event.person_id,
        "client_id": event.client_id,
        "notification_id": event.notification_id,
        "masked_phone": event.masked_phone,
        "details": dict(event.details),
    }


AUDIT_COLUMNS: Final = [column for column in t.audit_events.c if column.name != "id"]
"""What an audit event's row is given (its id is the table's)."""
_AUDIT_NAMES: Final = ", ".join(column.name for column in AUDIT_COLUMNS)
_PG_AUDIT: Final = sa.text(
    f"INSERT INTO audit_events ({_AUDIT_NAMES}) SELECT {_AUDIT_NAMES} "  # noqa: S608 -- the schema's own names, no input
    f"FROM {recordset('events', AUDIT_COLUMNS, 'event')} ORDER BY {ORDER}"
)
"""The events in the order recorded, which their ids keep (the trail is read by id)."""


def _audit_rows(events: Sequence[AuditEvent]) -> str:
    """:func:`audit_values` of the events as one JSON parameter (:mod:`.json_rows`)."""
    return json_rows(AUDIT_COLUMNS, [audit_values(event) for event in events])


class SqlAuditLog(_Repository):
    async def purge_before(self, before: datetime, *, now: datetime) -> int:
        # The purge's record comes first: the append-only trigger lets through only the
        # deletes of events older than the latest recorded purge.
        purge_id = await self._db.insert_id(t.audit_purges, {"purged_before": before, "run_at": now, "deleted": 0})
        result = await self._db.execute(sa.delete(t.audit_events).where(t.audit_events.c.occurred_at < before))
        deleted = int(result.rowcount)
        await self._db.execute(sa.update(t.audit_purges).where(t.audit_purges.c.id == purge_id).values(deleted=deleted))
        return deleted

    async def write(self, events: Iterable[AuditEvent]) -> None:
        """What the unit of work recorded, in one statement.

        On PostgreSQL one ``INSERT … SELECT FROM unnest(…)`` of fixed shape, however many
        events: an ``executemany`` runs psycopg's pipeline, whose Python per call cost more
        than the eight rows of a registration themselves.
        """
        await write_audit(self._db, list(events))

    async def list_recent(
        self, *, client_id: int | None = None, notification_id: int | None = None, limit: int = 100
    ) -> Sequence[AuditEvent]:
        """Newest first."""
        audit = t.audit_events
        statement = sa.select(audit)
        if client_id is not None:
            statement = statement.where(audit.c.client_id == client_id)
        if notification_id is not None:
            statement = statement.where(audit.c.notification_id == notification_id)
        return await self._events(statement.order_by(audit.c.id.desc()).limit(limit))

    async def search(self, query: AuditQuery) -> Sequence[AuditEvent]:
        audit = t.audit_events
        statement = sa.select(audit)
        if query.client_id is not None:
            statement = statement.where(audit.c.client_id == query.client_id)
        if query.person_id is not None:
            statement = statement.where(audit.c.person_id == query.person_id)
        if query.action is not None:
            statement = statement.where(audit.c.action == query.action.value)
        if query.since is not None:
            statement = statement.where(audit.c.occurred_at >= query.since)
        if query.until is not None:
            statement = statement.where(audit.c.occurred_at < query.until)
        if query.before_id is not None:
            statement = statement.where(audit.c.id < query.before_id)
        return await self._events(statement.order_by(audit.c.id.desc()).limit(query.limit))

    async def _events(self, statement: sa.Select[Any]) -> list[AuditEvent]:
        rows = await self._db.rows(statement)
        return [
            AuditEvent(
                action=AuditAction(row["action"]),
                actor=row["actor"],
                occurred_at=row["occurred_at"],
                request_id=row["request_id"],
                person_id=row["person_id"],
                client_id=row["client_id"],
                notification_id=row["notification_id"],
                masked_phone=row["masked_phone"],
                details=dict(row["details"]),
                id=row["id"],
            )
            for row in rows
        ]


async def write_audit(db: Statements, events: Sequence[AuditEvent]) -> None:
    if not events:
        return
    if db.dialect == "postgresql":
        await db.execute(_PG_AUDIT, {"events": _audit_rows(events)})
    else:
        await db.execute(_insert_rows(t.audit_events), [audit_values(event) for event in events])


# -- a unit of work's writes at once, on PostgreSQL -------------------------------------------

_SAVED: Final = list(_notifications.c)
"""A saved notification's row: its id, then what the UPDATE sets."""
_HISTORY_COLUMNS: Final = list(_history.c)
_ATTEMPT_COLUMNS: Final = list(_attempts.c)


def _given(alias: str, columns: Sequence[sa.Column[Any]]) -> str:
    """The rows of parameter ``<alias>_rows`` (:mod:`.json_rows`), in the order given."""
    return recordset(f"{alias}_rows", columns, alias)


def _appended(table: sa.Table, columns: Sequence[sa.Column[Any]], alias: str) -> str:
    names = ", ".join(column.name for column in columns)
    return f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {_given(alias, columns)} ORDER BY {ORDER}"  # noqa: S608 -- the schema's own names, no input


@functools.cache
def _pg_changes(saves: bool, history: bool, attempts: bool, audit: bool) -> sa.TextClause:
    """One statement for what a unit of work writes at its commit: the notifications'
    rows, their new history entries and attempts, the audit events (each part only when
    there is something to write, so at most 14 shapes, each built once). It answers how
    many notification rows it updated."""
    parts = []
    if saves:
        changes = ", ".join(f"{name} = saved.{name}" for name in _NOTIFICATION_COLUMNS)
        parts.append(
            f"updated AS (UPDATE {_notifications.name} SET {changes} FROM {_given('saved', _SAVED)} "  # noqa: S608 -- the schema's own names, no input
            f"WHERE {_notifications.name}.id = saved.id RETURNING 1)"
        )
    if history:
        parts.append(f"history AS ({_appended(_history, _HISTORY_COLUMNS, 'history')})")
    if attempts:
        parts.append(f"attempts AS ({_appended(_attempts, _ATTEMPT_COLUMNS, 'attempt')})")
    if audit:
        parts.append(f"audit AS ({_appended(t.audit_events, AUDIT_COLUMNS, 'event')})")
    updated = "(SELECT count(*) FROM updated)" if saves else "0"
    return sa.text(f"WITH {', '.join(parts)} SELECT {updated}")


async def _write_changes_on_postgresql(
    db: Statements, saves: list[Values], history: list[Values], attempts: list[Values], audit: Sequence[AuditEvent]
) -> None:
    parameters: Values = {}
    if saves:
        rows = [{"id": row["saved_id"]} | {name: row[f"new_{name}"] for name in _NOTIFICATION_COLUMNS} for row in saves]
        parameters["saved_rows"] = json_rows(_SAVED, rows)
    if history:
        parameters["history_rows"] = json_rows(_HISTORY_COLUMNS, history)
    if attempts:
        parameters["attempt_rows"] = json_rows(_ATTEMPT_COLUMNS, attempts)
    if audit:
        parameters["event_rows"] = _audit_rows(audit)
    statement = _pg_changes(bool(saves), bool(history), bool(attempts), bool(audit))
    updated = (await db.execute(statement, parameters)).scalar_one()
    if updated != len(saves):
        raise KeyError(f"{_notifications.name}: a row to save is gone")


# -- reference data -----------------------------------------------------------------------


def channel_values(channel: Channel) -> Values:
    return {
        "code": channel.code,
        "title": channel.title,
        "is_active": channel.is_active,
        "address_kind": channel.address_kind.value,
    }


def template_values(template: NotificationTemplate) -> Values:
    return {
        "code": template.code,
        "channel": template.channel,
        "kind": template.kind.value,
        "body": template.body,
        "is_active": template.is_active,
    }


def _channel(row: Mapping[Any, Any]) -> Channel:
    return Channel(
        code=row["code"], title=row["title"], is_active=row["is_active"], address_kind=AddressKind(row["address_kind"])
    )


def _template(row: Mapping[Any, Any]) -> NotificationTemplate:
    return NotificationTemplate(
        code=row["code"],
        channel=row["channel"],
        kind=TemplateKind(row["kind"]),
        body=row["body"],
        is_active=row["is_active"],
    )


_TEMPLATE_PREFIX: Final = "template_"
_TEMPLATE_COLUMNS: Final = [column.label(f"{_TEMPLATE_PREFIX}{column.name}") for column in t.notification_templates.c]
_ROUTE: Final = (
    sa.select(t.channels, *_TEMPLATE_COLUMNS)
    .select_from(
        t.channels.outerjoin(
            t.notification_templates,
            sa.and_(
                t.notification_templates.c.channel == t.channels.c.code,
                t.notification_templates.c.code == sa.bindparam("template_code"),
            ),
        )
    )
    .where(t.channels.c.code == sa.bindparam("channel"))
)
"""A channel and, when it has one, its template of a code (the template's columns prefixed)."""


def _route_of(
    row: Mapping[Any, Any] | None, channel_prefix: str = "", template_prefix: str = _TEMPLATE_PREFIX
) -> tuple[Channel | None, NotificationTemplate | None]:
    """A channel and its template (either may be missing) from a row of their columns under
    these prefixes: :data:`_ROUTE`'s by default."""
    if row is None or row[f"{channel_prefix}code"] is None:
        return None, None
    channel = _channel(_prefixed(row, channel_prefix, t.channels))
    if row[f"{template_prefix}code"] is None:
        return channel, None
    return channel, _template(_prefixed(row, template_prefix, t.notification_templates))


class RouteCopies:
    """The routes one process's units of work read as deliverable (both channel and template
    there and active), kept for :meth:`SqlReferenceDataRepository.seen_route`: one per
    engine, bounded by the reference data. A registration checks its copy in its own write
    (:attr:`barbershop_core.ports.NewRegistration.route`) and refuses only on the route read
    afresh, so a copy another process made out of date costs a registration one more try,
    never a wrong write or a wrong refusal."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}

    def get(self, channel: str, template_code: str) -> Route | None:
        return self._routes.get((channel, template_code))

    def refresh(
        self, channel_code: str, template_code: str, channel: Channel | None, template: NotificationTemplate | None
    ) -> None:
        """The route as just read: kept when deliverable, else forgotten."""
        route = Route(channel, template) if channel is not None and template is not None else None
        if route is not None and route.deliverable:
            self._routes[channel_code, template_code] = route
        else:
            self._routes.pop((channel_code, template_code), None)

    def drop(self, route: Route) -> None:
        self._routes.pop((route.channel.code, route.template.code), None)

    def clear(self) -> None:
        self._routes.clear()


route_copies: Final = PerEngine(RouteCopies)
"""The route copies of an engine's units of work in this process."""


class SqlReferenceDataRepository(_Repository):
    def __init__(self, statements: Statements, copies: RouteCopies) -> None:
        """``copies``: the process's (:func:`route_copies`)."""
        super().__init__(statements)
        self._copies = copies
        self._saved = False

    async def get_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        found, template = _route_of(await self._db.row(_ROUTE, {"channel": channel, "template_code": template_code}))
        self._copies.refresh(channel, template_code, found, template)
        return found, template

    async def seen_route(self, channel: str, template_code: str) -> tuple[Channel | None, NotificationTemplate | None]:
        copy = self._copies.get(channel, template_code)
        if copy is not None:
            return copy.channel, copy.template
        return await self.get_route(channel, template_code)

    async def holds(self, route: Route) -> bool:
        """Whether ``route`` is the stored one (read in the unit of work's transaction, which
        refreshes its copy)."""
        return await self.get_route(route.channel.code, route.template.code) == (route.channel, route.template)

    def forget(self, route: Route) -> None:
        """``route`` is out of date: read it afresh next time."""
        self._copies.drop(route)

    def settle(self) -> None:
        """The unit of work committed or dropped its work: a channel or template it saved
        makes every copy out of date (cleared again here, since a route read between the save
        and its commit saw the row before it)."""
        if self._saved:
            self._saved = False
            self._copies.clear()

    async def list_channels(self) -> Sequence[Channel]:
        return [_channel(row) for row in await self._db.rows(sa.select(t.channels).order_by(t.channels.c.code))]

    async def get_channel(self, code: str) -> Channel | None:
        row = await self._db.row(sa.select(t.channels).where(t.channels.c.code == code))
        return _channel(row) if row else None

    async def save_channel(self, channel: Channel) -> None:
        self._saved = True
        self._copies.clear()
        await self._db.execute(self._db.upsert(t.channels, channel_values(channel), ["code"]))

    async def list_templates(self) -> Sequence[NotificationTemplate]:
        templates = t.notification_templates
        rows = await self._db.rows(sa.select(templates).order_by(templates.c.code, templates.c.channel))
        return [_template(row) for row in rows]

    async def get_template(self, code: str, channel: str) -> NotificationTemplate | None:
        templates = t.notification_templates
        row = await self._db.row(sa.select(templates).where(templates.c.code == code, templates.c.channel == channel))
        return _template(row) if row else None

    async def save_template(self, template: NotificationTemplate) -> None:
        values = template_values(template)
        self._saved = True
        self._copies.clear()
        await self._db.execute(self._db.upsert(t.notification_templates, values, ["code", "channel"]))


# -- managers and partners ----------------------------------------------------------------


def _manager_values(manager: Manager) -> Values:
    return {
        "login": manager.login.value,
        "display_name": manager.display_name,
        "password_hash": manager.password_hash,
        "created_at": manager.created_at,
        "must_change_password": manager.must_change_password,
        "is_active": manager.is_active,
        "session_version": manager.session_version,
    }


def stored_manager(row: Mapping[Any, Any]) -> Manager:
    return Manager(
        login=Login(row["login"]),
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        must_change_password=row["must_change_password"],
        is_active=row["is_active"],
        session_version=row["session_version"],
        id=row["id"],
    )


_MANAGER_BY_ID: Final = sa.select(t.managers).where(t.managers.c.id == sa.bindparam("manager_id"))
"""Every manager's request reads it (the session check): built once."""


class SqlManagerRepository(_Repository):
    async def add(self, manager: Manager) -> None:
        manager.id = await self._db.insert_id(t.managers, _manager_values(manager), guarded=True)

    async def get(self, manager_id: int) -> Manager | None:
        row = await self._db.row(_MANAGER_BY_ID, {"manager_id": manager_id})
        return stored_manager(row) if row else None

    async def get_by_login(self, login: str) -> Manager | None:
        row = await self._db.row(sa.select(t.managers).where(t.managers.c.login == login))
        return stored_manager(row) if row else None

    async def save(self, manager: Manager) -> None:
        await self._db.update(t.managers, t.managers.c.id == manager.id, _manager_values(manager), guarded=True)

    async def count(self) -> int:
        result = await self._db.execute(sa.select(sa.func.count()).select_from(t.managers))
        return int(result.scalar_one())


def _partner_values(partner: Partner) -> Values:
    return {
        "name": partner.name,
        "key_digest": partner.key_digest,
        "created_at": partner.created_at,
        "revoked_at": partner.revoked_at,
    }


def stored_partner(row: Mapping[Any, Any]) -> Partner:
    return Partner(
        name=row["name"],
        key_digest=row["key_digest"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        id=row["id"],
    )


_PARTNER_BY_KEY_DIGEST: Final = sa.select(t.partners).where(t.partners.c.key_digest == sa.bindparam("key_digest"))
"""Every partner request's lookup, built once."""


class SqlPartnerRepository(_Repository):
    async def add(self, partner: Partner) -> None:
        partner.id = await self._db.insert_id(t.partners, _partner_values(partner), guarded=True)

    async def get(self, partner_id: int) -> Partner | None:
        return await self._find(t.partners.c.id == partner_id)

    async def get_by_name(self, name: str) -> Partner | None:
        return await self._find(t.partners.c.name == name)

    async def get_by_key_digest(self, key_digest: str) -> Partner | None:
        row = await self._db.row(_PARTNER_BY_KEY_DIGEST, {"key_digest": key_digest})
        return stored_partner(row) if row else None

    async def save(self, partner: Partner) -> None:
        await self._db.update(t.partners, t.partners.c.id == partner.id, _partner_values(partner), guarded=True)

    async def _find(self, condition: sa.ColumnElement[bool]) -> Partner | None:
        row = await self._db.row(sa.select(t.partners).where(condition))
        return stored_partner(row) if row else None


# -- purchases ----------------------------------------------------------------------------


def purchase_values(purchase: Purchase) -> Values:
    return {
        "client_id": purchase.client_id,
        "partner_id": purchase.partner_id,
        "name": purchase.name,
        "price": purchase.price.amount,
        "registered_at": purchase.registered_at,
    }


class SqlPurchaseRepository(_Repository):
    async def add(self, purchase: Purchase) -> None:
        purchase.id = await self._db.insert_id(t.purchases, purchase_values(purchase))

    async def add_many(self, purchases: Sequence[Purchase]) -> None:
        rows = [purchase_values(purchase) for purchase in purchases]
        for purchase, purchase_id in zip(purchases, await self._db.insert_ids(t.purchases, rows), strict=True):
            purchase.id = purchase_id

    async def list_for_client(self, client_id: int) -> Sequence[Purchase]:
        rows = await self._db.rows(
            sa.select(t.purchases).where(t.purchases.c.client_id == client_id).order_by(t.purchases.c.id)
        )
        return [
            Purchase(
                client_id=row["client_id"],
                partner_id=row["partner_id"],
                name=row["name"],
                price=Money(Decimal(row["price"]).quantize(Decimal("0.01"))),
                registered_at=row["registered_at"],
                id=row["id"],
            )
            for row in rows
        ]


# -- idempotency records ------------------------------------------------------------------


def idempotency_record_values(record: IdempotencyRecord) -> Values:
    return {
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "state": record.state.value,
        "result_id": record.result_id,
    }


def idempotency_record(row: Mapping[Any, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=IdempotencyState(row["state"]),
        result_id=row["result_id"],
    )


def _record_key(scope: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(t.idempotency_records.c.scope == scope, t.idempotency_records.c.key == key)


class SqlIdempotencyRepository(_Repository):
    async def add(self, record: IdempotencyRecord) -> None:
        await self._db.guarded(sa.insert(t.idempotency_records), idempotency_record_values(record))

    async def add_if_new(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        if await self._db.insert_unless_taken(
            t.idempotency_records, idempotency_record_values(record), ["scope", "key"]
        ):
            return None
        return row_clashed_with(await self.get(record.scope, record.key))

    async def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = await self._db.row(sa.select(t.idempotency_records).where(_record_key(scope, key)))
        return idempotency_record(row) if row is not None else None

    async def save(self, record: IdempotencyRecord) -> None:
        """Insert or update by ``(scope, key)``."""
        values = idempotency_record_values(record)
        await self._db.execute(self._db.upsert(t.idempotency_records, values, ["scope", "key"]))

    async def delete(self, scope: str, key: str) -> None:
        await self._db.execute(sa.delete(t.idempotency_records).where(_record_key(scope, key)))

    async def purge_expired(self, now: datetime) -> int:
        result = await self._db.execute(
            sa.delete(t.idempotency_records).where(t.idempotency_records.c.expires_at <= now)
        )
        return int(result.rowcount)
