"""A new client's first records in one write (:class:`barbershop_core.ports.RegistrationRepository`).

PostgreSQL gets one statement: a data-modifying CTE checks that the registration's route
(:attr:`~barbershop_core.ports.NewRegistration.route`, perhaps the process's copy of it) is the
stored one, inserts the person only then (``ON CONFLICT (phone_number) DO NOTHING``), then — from
the person's row, so only when it was inserted —
the client, its consents, the notification and its status history and the registration's
audit events, and reads back either the new ids or the person already stored with the
phone. Every statement costs ~0.3 ms of Python on top of its round trip; this one replaces
six. Sent by ``commit_if_new`` in a unit of work that has written and recorded nothing yet,
it runs in autocommit, a transaction of its own: no BEGIN and no COMMIT round trips (its
rows are all or nothing, as any statement's). With the route's copy, a registration is that
one round trip. SQLite has no data-modifying CTEs: there the route is read and compared, then
the records are added one by one in the unit of work's transaction, and the events recorded
with it for its commit.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.cte_text import (
    cast,
    casts,
    given_columns,
    names,
    parameter,
    row_parameters,
    typed,
)
from barbershop_adapters.sqlalchemy.json_rows import ORDER, json_rows, recordset
from barbershop_adapters.sqlalchemy.repositories import (
    AUDIT_COLUMNS,
    SqlClientRepository,
    SqlConsentRepository,
    SqlNotificationRepository,
    SqlReferenceDataRepository,
    Statements,
    Values,
    audit_values,
    channel_values,
    client_values,
    consent_values,
    history_values,
    notification_values,
    person_values,
    row_clashed_with,
    stored_client,
    stored_person,
    template_values,
)
from barbershop_core.model import UNSAVED, AuditEvent
from barbershop_core.ports import KnownPerson, NewRegistration, Route, RouteChanged
from barbershop_core.values import PhoneNumber

_KNOWN_CLIENT: Final = "known_client__"
"""The prefix of a known person's client columns, read with the person's."""

_PERSON: Final = given_columns(t.persons)
_CLIENT: Final = given_columns(t.clients, "person_id")
_CONSENT: Final = given_columns(t.consents, "client_id")
_NOTIFICATION: Final = given_columns(t.client_notifications, "client_id")
_HISTORY: Final = given_columns(t.notification_status_changes, "notification_id")
_OWN_IDS: Final = {"person_id": "new_person", "client_id": "new_client", "notification_id": "new_notification"}


def _linked_row(table: sa.Table, link: str, parent: str, columns: list[sa.Column[Any]]) -> str:
    """INSERT of one row (a parameter per column), linked to the row ``parent`` inserted:
    nothing when it inserted none."""
    return f"INSERT INTO {table.name} ({link}, {names(columns)}) SELECT id, {casts(columns)} FROM {parent} RETURNING id"  # noqa: S608 -- the schema's own names, no input


def _rows_parameter(table: sa.Table) -> str:
    return f"{table.name}__rows"


def _linked_rows(table: sa.Table, link: str, parent: str, columns: list[sa.Column[Any]]) -> str:
    """Like :func:`_linked_row` for rows given as one JSON parameter (:mod:`.json_rows`),
    inserted in the order given."""
    given = ", ".join(f"given.{column.name}" for column in columns)
    return (
        f"INSERT INTO {table.name} ({link}, {names(columns)}) SELECT {parent}.id, {given} "  # noqa: S608 -- the schema's own names, no input
        f"FROM {parent}, {recordset(_rows_parameter(table), columns, 'given')} ORDER BY given.{ORDER} RETURNING *"
    )


def _event_value(column: sa.Column[Any]) -> str:
    """An event's column as written: an id left UNSAVED names the registration's own record
    (:meth:`barbershop_core.ports.NewRegistration.events_with_ids`)."""
    own = _OWN_IDS.get(column.name)
    if own is None:
        return f"event.{column.name}"
    return f"CASE event.{column.name} WHEN {UNSAVED} THEN {own}.id ELSE event.{column.name} END"


_CHANNEL: Final = list(t.channels.c)
_TEMPLATE: Final = list(t.notification_templates.c)
_ROUTE_COLUMNS: Final = _CHANNEL + _TEMPLATE
_ROUTE_GIVEN: Final = "route_given"
_ROUTE_HOLDS: Final = " AND ".join(
    f"{column.table.name}.{column.name} IS NOT DISTINCT FROM {cast(column)}" for column in _ROUTE_COLUMNS
)
"""The registration's route is the stored one, column for column."""

_PG_REGISTRATION: Final = (
    sa.text(
        f"""
WITH route AS (
    SELECT NOT :{_ROUTE_GIVEN} OR EXISTS (
        SELECT FROM channels JOIN notification_templates ON notification_templates.channel = channels.code
        WHERE {_ROUTE_HOLDS}
    ) AS held
),
new_person AS (
    INSERT INTO persons ({names(_PERSON)}) SELECT {casts(_PERSON)} FROM route WHERE route.held
    ON CONFLICT (phone_number) DO NOTHING
    RETURNING id
),
new_client AS ({_linked_row(t.clients, "person_id", "new_person", _CLIENT)}),
new_consents AS ({_linked_rows(t.consents, "client_id", "new_client", _CONSENT)}),
new_notification AS ({_linked_row(t.client_notifications, "client_id", "new_client", _NOTIFICATION)}),
new_history AS ({_linked_rows(t.notification_status_changes, "notification_id", "new_notification", _HISTORY)}),
new_events AS (
    INSERT INTO audit_events ({names(AUDIT_COLUMNS)})
    SELECT {", ".join(_event_value(column) for column in AUDIT_COLUMNS)}
    FROM new_person, new_client, new_notification, {recordset(_rows_parameter(t.audit_events), AUDIT_COLUMNS, "event")}
    ORDER BY event.{ORDER}
)
SELECT (SELECT held FROM route) AS route_held, new_person.id AS new_person_id, new_client.id AS new_client_id,
    new_notification.id AS new_notification_id, ARRAY(SELECT id FROM new_consents ORDER BY id) AS new_consent_ids,
    known.*, {", ".join(f"known_client.{column.name} AS {_KNOWN_CLIENT}{column.name}" for column in t.clients.c)}
FROM (VALUES (true)) AS one
LEFT JOIN new_person ON true
LEFT JOIN new_client ON true
LEFT JOIN new_notification ON true
LEFT JOIN persons AS known ON new_person.id IS NULL AND known.phone_number = {cast(t.persons.c.phone_number)}
LEFT JOIN clients AS known_client ON known_client.person_id = known.id
"""  # noqa: S608 -- the schema's own names, no input
    )
    .bindparams(
        *typed(_PERSON + _CLIENT + _NOTIFICATION + _ROUTE_COLUMNS), sa.bindparam(_ROUTE_GIVEN, type_=sa.Boolean)
    )
    .columns(
        route_held=sa.Boolean(),
        **{column.name: column.type for column in t.persons.c},
        **{f"{_KNOWN_CLIENT}{column.name}": column.type for column in t.clients.c},
    )
)
_KNOWN: Final = sa.select(
    t.persons, *(column.label(f"{_KNOWN_CLIENT}{column.name}") for column in t.clients.c)
).select_from(t.persons.outerjoin(t.clients, t.clients.c.person_id == t.persons.c.id))


def _known_person(row: RowMapping) -> KnownPerson:
    """A row of a person's columns and its client's, prefixed (all None when it is not one)."""
    client = None
    if row[f"{_KNOWN_CLIENT}id"] is not None:
        client = stored_client({column.name: row[f"{_KNOWN_CLIENT}{column.name}"] for column in t.clients.c})
    return KnownPerson(stored_person(row), client)


def _registration_parameters(registration: NewRegistration) -> Values:
    notification = registration.notification
    history = [history_values(UNSAVED, position, change) for position, change in enumerate(notification.history)]
    consents = [consent_values(consent) for consent in registration.consents]
    events = [audit_values(event) for event in registration.events]
    route = registration.route
    return {
        _ROUTE_GIVEN: route is not None,
        **_route_parameters(route),
        **row_parameters(_PERSON, person_values(registration.person)),
        **row_parameters(_CLIENT, client_values(registration.client)),
        _rows_parameter(t.consents): json_rows(_CONSENT, consents),
        **row_parameters(_NOTIFICATION, notification_values(notification)),
        _rows_parameter(t.notification_status_changes): json_rows(_HISTORY, history),
        _rows_parameter(t.audit_events): json_rows(AUDIT_COLUMNS, events),
    }


def _route_parameters(route: Route | None) -> Values:
    if route is None:
        return {parameter(column): None for column in _ROUTE_COLUMNS}
    return {
        **row_parameters(_CHANNEL, channel_values(route.channel)),
        **row_parameters(_TEMPLATE, template_values(route.template)),
    }


class Unit(Protocol):
    """What the repository needs of its unit of work."""

    @property
    def records_nothing(self) -> bool:
        """Nothing recorded for its commit yet: a registration may be a transaction of its own."""

    def record(self, *events: AuditEvent) -> None: ...
    async def commit(self) -> None: ...


class SqlRegistrationRepository:
    def __init__(
        self,
        statements: Statements,
        clients: SqlClientRepository,
        consents: SqlConsentRepository,
        notifications: SqlNotificationRepository,
        reference: SqlReferenceDataRepository,
        unit: Unit,
    ) -> None:
        """``unit``: its unit of work, which records the events a store without the one
        statement writes at the commit, and commits. ``reference``: where the registration's
        route is checked, and its copy forgotten when it is out of date."""
        self._db = statements
        self._clients = clients
        self._consents = consents
        self._notifications = notifications
        self._reference = reference
        self._unit = unit

    async def add_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        return await self._add(registration, alone=False)

    async def commit_if_new(self, registration: NewRegistration) -> KnownPerson | None:
        # Alone, the statement commits itself (on PostgreSQL, when no transaction is open
        # yet): the commit that follows has nothing to send and only hands off.
        known = await self._add(registration, alone=self._unit.records_nothing)
        if known is None:
            await self._unit.commit()
        return known

    async def _add(self, registration: NewRegistration, *, alone: bool) -> KnownPerson | None:
        if self._db.dialect == "postgresql":
            return await self._add_in_one_statement(registration, alone=alone)
        person = registration.person
        if registration.route is not None and not await self._reference.holds(registration.route):
            return await self._known_or_route_changed(person.phone)
        person_id = await self._db.insert_id_unless_taken(t.persons, person_values(person), "phone_number")
        if person_id is None:
            return await self._known(person.phone)
        person.id = person_id
        await registration.add_client_records(self._clients, self._consents, self._notifications)
        self._unit.record(*registration.events_with_ids())
        return None

    async def _add_in_one_statement(self, registration: NewRegistration, *, alone: bool) -> KnownPerson | None:
        person = registration.person
        result = await self._db.execute(_PG_REGISTRATION, _registration_parameters(registration), alone=alone)
        row = result.mappings().one()
        if row["new_person_id"] is None:
            if not row["route_held"]:
                assert registration.route is not None  # a registration without one always holds
                self._reference.forget(registration.route)
            if row["id"] is not None:
                return _known_person(row)  # whatever its route
            if not row["route_held"]:
                return await self._known_or_route_changed(person.phone)
            # A concurrent registration committed the phone while this statement waited
            # for it; the statement's snapshot predates that row, the next one sees it.
            return await self._known(person.phone)
        client, notification = registration.client, registration.notification
        person.id = client.person_id = row["new_person_id"]
        client.id = notification.client_id = row["new_client_id"]
        for consent, consent_id in zip(registration.consents, row["new_consent_ids"], strict=True):
            consent.client_id, consent.id = client.id, consent_id
        notification.id = row["new_notification_id"]
        self._notifications.added_with_history(notification)
        return None

    async def _known(self, phone: PhoneNumber) -> KnownPerson:
        return _known_person(row_clashed_with(await self._stored(phone)))

    async def _known_or_route_changed(self, phone: PhoneNumber) -> KnownPerson:
        """A known phone is answered whatever its route; a new one waits for the route read afresh."""
        row = await self._stored(phone)
        if row is None:
            raise RouteChanged()
        return _known_person(row)

    async def _stored(self, phone: PhoneNumber) -> RowMapping | None:
        return await self._db.row(_KNOWN.where(t.persons.c.phone_number == phone.e164))
