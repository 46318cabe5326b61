"""The set-based port of a promo batch (:class:`barbershop_core.ports.PromoBatchRepository`);
its single registration is :mod:`barbershop_adapters.sqlalchemy.promo_sign_up`'s.

PostgreSQL gets each step as one statement over arrays (``INSERT … SELECT FROM unnest(…)
ON CONFLICT …``), so a batch of 1,000 participants costs the same handful of round trips as
a batch of one. SQLite runs each step as one ``executemany`` in the unit of work's
transaction (one writer at a time, so a read before a write sees what the write will meet).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.arrays import array
from barbershop_adapters.sqlalchemy.promo_sign_up import SqlPromoSignUps
from barbershop_adapters.sqlalchemy.repositories import (
    Statements,
    Values,
    idempotency_record,
    idempotency_record_values,
    purchase_values,
)
from barbershop_core.model import IdempotencyRecord, Purchase
from barbershop_core.ports import (
    PromoParticipantIds,
    PromoParticipantRow,
    PromoSignUp,
    StorageUnavailable,
    UniqueViolation,
)

_RECORD_COLUMNS: Final = "scope, key, fingerprint, created_at, expires_at, state, result_id"
_RECORD_ARRAYS: Final = (
    "CAST(:scopes AS text[]), CAST(:keys AS text[]), CAST(:fingerprints AS text[]), "
    "CAST(:created AS timestamptz[]), CAST(:expires AS timestamptz[]), CAST(:states AS text[]), "
    "CAST(:results AS bigint[])"
)
# One primary-key lookup per key: LIMIT 1 (a key has one record) keeps the planner from
# turning the lookups into a join that hashes or scans the whole table.
_PG_STORED: Final = sa.text(
    "SELECT stored.* FROM unnest(CAST(:scopes AS text[]), CAST(:keys AS text[])) AS wanted(scope, key) "
    "CROSS JOIN LATERAL (SELECT * FROM idempotency_records AS record "
    "WHERE record.scope = wanted.scope AND record.key = wanted.key LIMIT 1) AS stored"
).columns(*t.idempotency_records.c)
# A stale record makes way only as it was read: one completed or replaced since holds its key.
_PG_DELETE_REPLACED: Final = sa.text(
    "DELETE FROM idempotency_records AS stored USING unnest(CAST(:scopes AS text[]), CAST(:keys AS text[]), "
    "CAST(:created AS timestamptz[]), CAST(:states AS text[])) AS replaced(scope, key, created_at, state) "
    "WHERE stored.scope = replaced.scope AND stored.key = replaced.key "
    "AND stored.created_at = replaced.created_at AND stored.state = replaced.state"
)
_PG_COMPLETE: Final = sa.text(
    f"INSERT INTO idempotency_records ({_RECORD_COLUMNS}) SELECT * FROM unnest({_RECORD_ARRAYS}) "  # noqa: S608 - constants of this module, no input
    "ON CONFLICT (scope, key) DO NOTHING"
)
_PG_PERSONS: Final = sa.text(
    "INSERT INTO persons (phone_number, login, first_name, must_change_password, created_at, session_version) "
    "SELECT phone, phone, first_name, false, :now, 0 "
    "FROM unnest(CAST(:phones AS text[]), CAST(:first_names AS text[])) AS row(phone, first_name) "
    "ON CONFLICT (phone_number) DO NOTHING"
)
# One index lookup per phone, whatever the plan: psycopg prepares a statement after five
# runs, and PostgreSQL's generic plan for "phone_number = ANY(:phones)" — chosen after small
# batches (partner requests written together) — scanned every person for a batch of 1,000.
_PG_PERSON_IDS: Final = sa.text(
    "SELECT person.id, person.phone_number FROM unnest(CAST(:phones AS text[])) AS wanted(phone) "
    "CROSS JOIN LATERAL (SELECT id, phone_number FROM persons WHERE phone_number = wanted.phone) AS person"
)
_PG_CLIENTS: Final = sa.text(
    "INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts) "
    "SELECT person_id, :now, :registered_by, :source, full_name, email, CAST('{}' AS jsonb) "
    "FROM unnest(CAST(:person_ids AS bigint[]), CAST(:full_names AS text[]), CAST(:emails AS text[])) "
    "AS row(person_id, full_name, email) "
    "ON CONFLICT (person_id) DO UPDATE SET full_name = COALESCE(clients.full_name, EXCLUDED.full_name), "
    "email = COALESCE(clients.email, EXCLUDED.email) "
    "RETURNING id, person_id"
)
_PG_PURCHASES: Final = sa.text(
    "INSERT INTO purchases (client_id, partner_id, name, price, registered_at) "
    "SELECT * FROM unnest(CAST(:client_ids AS bigint[]), CAST(:partner_ids AS bigint[]), CAST(:names AS text[]), "
    "CAST(:prices AS numeric[]), CAST(:registered AS timestamptz[]))"
)


def _record_arrays(records: Sequence[IdempotencyRecord]) -> Values:
    return {
        "scopes": array(record.scope for record in records),
        "keys": array(record.key for record in records),
        "fingerprints": array(record.fingerprint for record in records),
        "created": array(record.created_at for record in records),
        "expires": array(record.expires_at for record in records),
        "states": array(record.state.value for record in records),
        "results": array(record.result_id for record in records),
    }


class SqlPromoBatchRepository:
    def __init__(self, statements: Statements) -> None:
        self._db = statements
        self._sign_ups = SqlPromoSignUps(statements)

    async def register_one(self, sign_up: PromoSignUp) -> PromoParticipantIds | IdempotencyRecord:
        return await self._sign_ups.register_one(sign_up)

    async def stored(self, records: Sequence[IdempotencyRecord]) -> Sequence[IdempotencyRecord | None]:
        if not records:
            return []
        if self._db.dialect == "postgresql":
            parameters = {"scopes": array(r.scope for r in records), "keys": array(r.key for r in records)}
            rows = await self._db.execute(_PG_STORED, parameters)
        else:
            table = t.idempotency_records
            wanted = sa.tuple_(table.c.scope, table.c.key).in_([(r.scope, r.key) for r in records])
            rows = await self._db.execute(sa.select(table).where(wanted))
        known = {(row.scope, row.key): idempotency_record(row._mapping) for row in rows}
        return [known.get((record.scope, record.key)) for record in records]

    async def participants(
        self, rows: Sequence[PromoParticipantRow], *, now: datetime, registered_by: str, source: str
    ) -> Sequence[PromoParticipantIds]:
        if not rows:
            return []
        phones = array(row.phone.e164 for row in rows)
        if self._db.dialect == "postgresql":
            first_names = array(row.full_name.first_name.value for row in rows)
            await self._db.execute(_PG_PERSONS, {"now": now, "phones": phones, "first_names": first_names})
            person_ids = {phone: int(pid) for pid, phone in await self._db.execute(_PG_PERSON_IDS, {"phones": phones})}
        else:
            await self._sqlite_persons(rows, now)
            found = await self._db.execute(
                sa.select(t.persons.c.id, t.persons.c.phone_number).where(t.persons.c.phone_number.in_(phones))
            )
            person_ids = {phone: int(pid) for pid, phone in found}
        try:
            ordered = [person_ids[phone] for phone in phones]
        except KeyError:
            raise StorageUnavailable("a person vanished while registering a batch") from None
        client_ids = await self._clients(rows, ordered, now, registered_by, source)
        return [PromoParticipantIds(pid, client_ids[pid]) for pid in ordered]

    async def _sqlite_persons(self, rows: Sequence[PromoParticipantRow], now: datetime) -> None:
        statement = sqlite.insert(t.persons).on_conflict_do_nothing(index_elements=["phone_number"])
        values = [
            {
                "phone_number": row.phone.e164,
                "login": row.phone.e164,
                "first_name": row.full_name.first_name.value,
                "password_hash": None,
                "must_change_password": False,
                "temporary_password_expires_at": None,
                "created_at": now,
                "temporary_password_voided_at": None,
                "first_signed_in_at": None,
                "session_version": 0,
            }
            for row in rows
        ]
        await self._db.execute(statement, values)

    async def _clients(
        self,
        rows: Sequence[PromoParticipantRow],
        person_ids: list[int],
        now: datetime,
        registered_by: str,
        source: str,
    ) -> dict[int, int]:
        if self._db.dialect == "postgresql":
            parameters = {
                "now": now,
                "registered_by": registered_by,
                "source": source,
                "person_ids": array(person_ids),
                "full_names": array(row.full_name.value for row in rows),
                "emails": array(row.email.value for row in rows),
            }
            return {int(pid): int(cid) for cid, pid in await self._db.execute(_PG_CLIENTS, parameters)}
        statement = sqlite.insert(t.clients)
        statement = statement.on_conflict_do_update(
            index_elements=["person_id"],
            set_={
                "full_name": sa.func.coalesce(t.clients.c.full_name, statement.excluded.full_name),
                "email": sa.func.coalesce(t.clients.c.email, statement.excluded.email),
            },
        )
        values = [
            {
                "person_id": person_id,
                "registered_at": now,
                "registered_by": registered_by,
                "source": source,
                "full_name": row.full_name.value,
                "email": row.email.value,
                "channel_accounts": {},
            }
            for row, person_id in zip(rows, person_ids, strict=True)
        ]
        await self._db.execute(statement, values)
        found = await self._db.execute(
            sa.select(t.clients.c.id, t.clients.c.person_id).where(t.clients.c.person_id.in_(person_ids))
        )
        return {int(pid): int(cid) for cid, pid in found}

    async def add_purchases(self, purchases: Sequence[Purchase]) -> None:
        if not purchases:
            return
        if self._db.dialect == "postgresql":
            parameters = {
                "client_ids": array(purchase.client_id for purchase in purchases),
                "partner_ids": array(purchase.partner_id for purchase in purchases),
                "names": array(purchase.name for purchase in purchases),
                "prices": array(purchase.price.amount for purchase in purchases),
                "registered": array(purchase.registered_at for purchase in purchases),
            }
            await self._db.execute(_PG_PURCHASES, parameters)
            return
        await self._db.execute(sa.insert(t.purchases), [purchase_values(purchase) for purchase in purchases])

    async def complete(
        self, records: Sequence[IdempotencyRecord], *, replacing: Sequence[IdempotencyRecord] = ()
    ) -> None:
        if replacing:
            await self._delete_as_read(replacing)
        if not records:
            return
        if self._db.dialect == "postgresql":
            # No clash error here: a key a concurrent batch holds is waited for, then left alone.
            inserted = await self._db.execute(_PG_COMPLETE, _record_arrays(records))
            if inserted.rowcount != len(records):
                raise UniqueViolation("idempotency_key")
            return
        # SQLite: the transaction holds the write lock since it began, so only a record that
        # was already there can clash (an IntegrityError, translated).
        await self._db.execute(sa.insert(t.idempotency_records), [idempotency_record_values(r) for r in records])

    async def _delete_as_read(self, records: Sequence[IdempotencyRecord]) -> None:
        if self._db.dialect == "postgresql":
            await self._db.execute(_PG_DELETE_REPLACED, _record_arrays(records))
            return
        table = t.idempotency_records
        statement = sa.delete(table).where(
            table.c.scope == sa.bindparam("old_scope"),
            table.c.key == sa.bindparam("old_key"),
            table.c.created_at == sa.bindparam("old_created_at", type_=t.UtcDateTime()),
            table.c.state == sa.bindparam("old_state"),
        )
        values = [
            {"old_scope": r.scope, "old_key": r.key, "old_created_at": r.created_at, "old_state": r.state.value}
            for r in records
        ]
        await self._db.execute(statement, values)
