"""Which statements may run before a unit of work's transaction begins (:func:`plain_read`)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.direct_statements import plain_read

_BY_PHONE = sa.select(t.persons).where(t.persons.c.phone_number == sa.bindparam("phone"))


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(_BY_PHONE, id="a select"),
        pytest.param(sa.select(sa.func.count()).select_from(t.persons), id="a count"),
        pytest.param(
            sa.select(t.clients).where(t.clients.c.person_id.in_(sa.select(t.persons.c.id).scalar_subquery())),
            id="a subquery",
        ),
        pytest.param(sa.select(sa.func.coalesce(t.clients.c.email, "")), id="coalesce"),
    ],
)
def test_a_select_that_writes_locks_and_sets_nothing_is_a_plain_read(statement: sa.Select[object]) -> None:
    assert plain_read(statement)


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(_BY_PHONE.with_for_update(), id="for update"),
        pytest.param(_BY_PHONE.with_for_update(read=True), id="for share"),
        pytest.param(
            sa.select(t.clients).where(
                t.clients.c.person_id.in_(sa.select(t.persons.c.id).with_for_update().scalar_subquery())
            ),
            id="a locking subquery",
        ),
        pytest.param(
            sa.select(sa.literal_column("id")).select_from(
                sa.insert(t.persons).values(phone_number="+79110000000").returning(t.persons.c.id).cte("new")
            ),
            id="a data-modifying cte",
        ),
        pytest.param(sa.select(sa.func.nextval("persons_id_seq")), id="a function that writes"),
        pytest.param(sa.select(sa.func.pg_advisory_xact_lock(1)), id="a function that locks"),
        pytest.param(sa.select(t.persons).where(sa.text("phone_number = :phone")), id="a text fragment"),
        pytest.param(sa.select(sa.literal_column("nextval('persons_id_seq')")), id="a literal column"),
        pytest.param(sa.text("SELECT 1"), id="a text"),
        pytest.param(sa.insert(t.persons), id="an insert"),
    ],
)
def test_anything_else_begins_the_transaction(statement: sa.Executable) -> None:
    assert not plain_read(statement)
