"""A partner's registration of one participant in one write
(:meth:`barbershop_core.ports.PromoBatchRepository.register_one`).

PostgreSQL gets one statement, a data-modifying CTE: the person (``ON CONFLICT
(phone_number) DO NOTHING``, else the one stored), the client likewise (a known one's missing
full name or e-mail filled by an UPDATE that locks only such a row: registrations of a known
client do not wait for each other), then the idempotency record, completed with
the client (``ON CONFLICT (scope, key) DO UPDATE … WHERE`` the stored one is stale), and —
only when that record was stored — the purchases and the audit event. It reads back the ids,
or the record that kept the key. SQLite has no data-modifying CTEs: there the same steps are
one statement each, in the unit of work's transaction.
"""

from __future__ import annotations

from typing import Final

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import RowMapping

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.cte_text import (
    cast,
    casts,
    given_columns,
    names,
    row_parameters,
    typed,
)
from barbershop_adapters.sqlalchemy.json_rows import ORDER, json_rows, recordset
from barbershop_adapters.sqlalchemy.repositories import (
    Statements,
    Values,
    audit_values,
    client_values,
    idempotency_record,
    idempotency_record_values,
    person_values,
    purchase_values,
    row_clashed_with,
)
from barbershop_core.model import Client, IdempotencyRecord, IdempotencyState, Staleness
from barbershop_core.ports import PromoParticipantIds, PromoSignUp, StorageUnavailable
from barbershop_core.values import PhoneNumber

_PERSON: Final = given_columns(t.persons)
_CLIENT: Final = given_columns(t.clients, "person_id")
_RECORD: Final = given_columns(t.idempotency_records, "result_id")
_PURCHASE: Final = given_columns(t.purchases, "client_id")
_EVENT: Final = given_columns(t.audit_events, "person_id", "client_id")
_PURCHASES: Final = "purchases__rows"
_RECORDS: Final = t.idempotency_records
_STALENESS: Final = [
    sa.bindparam("stale_now", type_=_RECORDS.c.expires_at.type),
    sa.bindparam("abandoned_before", type_=_RECORDS.c.created_at.type),
]


_RECORD_REPLACED: Final = ", ".join(
    f"{column.name} = EXCLUDED.{column.name}" for column in _RECORDS.c if column.name not in ("scope", "key")
)


_PG_SIGN_UP: Final = (
    sa.text(
        f"""
WITH new_person AS (
    INSERT INTO persons ({names(_PERSON)}) VALUES ({casts(_PERSON)})
    ON CONFLICT (phone_number) DO NOTHING
    RETURNING id
),
participant_person AS (
    SELECT id FROM new_person
    UNION ALL
    SELECT id FROM persons WHERE phone_number = {cast(t.persons.c.phone_number)}
),
new_client AS (
    INSERT INTO clients (person_id, {names(_CLIENT)}) SELECT id, {casts(_CLIENT)} FROM participant_person
    ON CONFLICT (person_id) DO NOTHING
    RETURNING id, person_id
),
filled_client AS (
    UPDATE clients SET full_name = COALESCE(full_name, {cast(t.clients.c.full_name)}),
        email = COALESCE(email, {cast(t.clients.c.email)})
    WHERE person_id IN (SELECT id FROM participant_person) AND (full_name IS NULL OR email IS NULL)
),
participant AS (
    SELECT id, person_id FROM new_client
    UNION ALL
    SELECT id, person_id FROM clients WHERE person_id IN (SELECT id FROM participant_person)
),
claimed AS (
    INSERT INTO idempotency_records ({names(_RECORD)}, result_id) SELECT {casts(_RECORD)}, id FROM participant
    ON CONFLICT (scope, key) DO UPDATE SET {_RECORD_REPLACED}
    WHERE idempotency_records.expires_at <= :stale_now
        OR (idempotency_records.state = :in_flight AND idempotency_records.created_at <= :abandoned_before)
    RETURNING result_id
),
new_purchases AS (
    INSERT INTO purchases (client_id, {names(_PURCHASE)})
    SELECT claimed.result_id, {", ".join(f"given.{column.name}" for column in _PURCHASE)}
    FROM claimed, {recordset(_PURCHASES, _PURCHASE, "given")}
    ORDER BY given.{ORDER}
),
new_event AS (
    INSERT INTO audit_events (person_id, client_id, {names(_EVENT)})
    SELECT participant.person_id, claimed.result_id, {casts(_EVENT)} FROM participant, claimed
)
SELECT participant.person_id AS participant_person_id, participant.id AS participant_client_id,
    claimed.result_id AS claimed_for, kept.*
FROM (VALUES (true)) AS one
LEFT JOIN participant ON true
LEFT JOIN claimed ON true
LEFT JOIN idempotency_records AS kept ON claimed.result_id IS NULL
    AND kept.scope = {cast(_RECORDS.c.scope)} AND kept.key = {cast(_RECORDS.c.key)}
"""  # noqa: S608 -- the schema's own names, no input
    )
    .bindparams(*typed(_PERSON + _CLIENT + _RECORD + _EVENT), *_STALENESS)
    .columns(
        participant_person_id=t.persons.c.id.type,
        participant_client_id=t.clients.c.id.type,
        claimed_for=_RECORDS.c.result_id.type,
        **{column.name: column.type for column in _RECORDS.c},
    )
)


def _sign_up_parameters(sign_up: PromoSignUp) -> Values:
    return {
        **row_parameters(_PERSON, person_values(sign_up.person)),
        **row_parameters(_CLIENT, client_values(sign_up.client)),
        **row_parameters(_RECORD, idempotency_record_values(sign_up.record)),
        _PURCHASES: json_rows(_PURCHASE, [purchase_values(purchase) for purchase in sign_up.purchases]),
        **row_parameters(_EVENT, audit_values(sign_up.event)),
        "stale_now": sign_up.staleness.now,
        "abandoned_before": sign_up.staleness.abandoned_before,
        "in_flight": IdempotencyState.IN_FLIGHT.value,
    }


def _stale(staleness: Staleness) -> sa.ColumnElement[bool]:
    """:meth:`Staleness.covers` of the stored record, for SQLite's ``ON CONFLICT … WHERE``."""
    return sa.or_(
        _RECORDS.c.expires_at <= staleness.now,
        sa.and_(
            _RECORDS.c.state == IdempotencyState.IN_FLIGHT.value,
            _RECORDS.c.created_at <= staleness.abandoned_before,
        ),
    )


class SqlPromoSignUps:
    def __init__(self, statements: Statements) -> None:
        self._db = statements

    async def register_one(self, sign_up: PromoSignUp) -> PromoParticipantIds | IdempotencyRecord:
        if self._db.dialect != "postgresql":
            return await self._one_by_one(sign_up)
        parameters = _sign_up_parameters(sign_up)
        for _ in range(2):
            row = (await self._db.execute(_PG_SIGN_UP, parameters)).mappings().one()
            if row["claimed_for"] is not None:
                return PromoParticipantIds(row["participant_person_id"], row["claimed_for"])
            if row["participant_client_id"] is not None:
                return await self._record_kept(row, sign_up)
            # A concurrent registration committed the phone's person or client while this
            # statement waited for it: the statement's snapshot predates that row, so nothing
            # was written; the next statement sees it.
        raise StorageUnavailable("a person or client clashed with without being found")

    async def _record_kept(self, row: RowMapping, sign_up: PromoSignUp) -> IdempotencyRecord:
        """The record that kept the key: as the statement saw it, unless that version was
        stale (a concurrent request replaced it after the statement's snapshot)."""
        seen = idempotency_record(row) if row["scope"] is not None else None
        if seen is not None and not sign_up.staleness.covers(seen):
            return seen
        return await self._record(sign_up.record)

    async def _one_by_one(self, sign_up: PromoSignUp) -> PromoParticipantIds | IdempotencyRecord:
        person_id = await self._db.insert_id_unless_taken(t.persons, person_values(sign_up.person), "phone_number")
        if person_id is None:
            person_id = await self._person_id(sign_up.person.phone)
        client_id = await self._client_id(attrs.evolve(sign_up.client, person_id=person_id))
        record = attrs.evolve(sign_up.record, result_id=client_id)
        if not await self._claim(record, sign_up.staleness):
            return await self._record(record)
        purchases = [purchase_values(attrs.evolve(purchase, client_id=client_id)) for purchase in sign_up.purchases]
        await self._db.execute(sa.insert(t.purchases), purchases)
        event = attrs.evolve(sign_up.event, person_id=person_id, client_id=client_id)
        await self._db.execute(sa.insert(t.audit_events), audit_values(event))
        return PromoParticipantIds(person_id, client_id)

    async def _person_id(self, phone: PhoneNumber) -> int:
        found = await self._db.execute(sa.select(t.persons.c.id).where(t.persons.c.phone_number == phone.e164))
        return int(row_clashed_with(found.scalar_one_or_none()))

    async def _client_id(self, client: Client) -> int:
        statement = sqlite.insert(t.clients).values(client_values(client))
        statement = statement.on_conflict_do_update(
            index_elements=["person_id"],
            set_={
                "full_name": sa.func.coalesce(t.clients.c.full_name, statement.excluded.full_name),
                "email": sa.func.coalesce(t.clients.c.email, statement.excluded.email),
            },
        )
        return int((await self._db.execute(statement.returning(t.clients.c.id))).scalar_one())

    async def _claim(self, record: IdempotencyRecord, staleness: Staleness) -> bool:
        values = idempotency_record_values(record)
        statement = sqlite.insert(_RECORDS).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["scope", "key"],
            set_={name: statement.excluded[name] for name in values if name not in ("scope", "key")},
            where=_stale(staleness),
        )
        return (await self._db.execute(statement.returning(_RECORDS.c.key))).first() is not None

    async def _record(self, record: IdempotencyRecord) -> IdempotencyRecord:
        condition = sa.and_(_RECORDS.c.scope == record.scope, _RECORDS.c.key == record.key)
        return idempotency_record(row_clashed_with(await self._db.row(sa.select(_RECORDS).where(condition))))
