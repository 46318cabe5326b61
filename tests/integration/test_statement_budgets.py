"""Statement budgets of the hot paths, like Django's ``assertNumQueries``.

Every SQL statement costs a network round trip and ~250 µs of Python; the hot paths are
kept to a handful each, and a change that adds one fails here. ``statements`` is every
statement sent (an ``executemany`` is one: psycopg pipelines it, SQLite runs it in one
call); ``transactions`` is every BEGIN.

On PostgreSQL they are read off the wire: libpq's trace of every connection the engine's
pool hands out while counting, so what is counted is what the server received, however it
was sent (straight to psycopg by ``direct_statements``, or through SQLAlchemy). psycopg's
prepared statements are off while counting, so each statement's text is on the wire; a
round trip is a simple query (BEGIN, COMMIT) or an extended one's Sync. On SQLite a
listener on the engine counts them (every statement then goes through SQLAlchemy:
``direct_statements`` steps aside for it; the statements are the same either way).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any, Final

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.sqlalchemy import tables as t
from barbershop_adapters.sqlalchemy.engine import SINGLE_STATEMENT, configure_lone_writes
from barbershop_adapters.sqlalchemy.psycopg_sessions import SessionConnections
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_core.model import Partner
from barbershop_core.use_cases.accounts import (
    AuthenticatePartner,
    CreateManager,
    CreatePartner,
    PartnerDeps,
    authenticate_partner,
    create_manager,
    create_partner,
)
from barbershop_core.use_cases.delivery import (
    AttemptDelivery,
    AttemptResult,
    Deliveries,
    DeliveryDeps,
    attempt_delivery,
)
from barbershop_core.use_cases.promo import (
    PromoRegistration,
    PromoSignUps,
    PurchaseLine,
    RegisterPromoParticipant,
    RegisterPromoParticipants,
    register_promo_participant,
    register_promo_participants,
)
from barbershop_core.use_cases.registration import RegisterClient, register_client
from barbershop_core.use_cases.sessions import (
    SessionDeps,
    SignedInClient,
    SignedInManager,
    signed_in_client,
    signed_in_manager,
)
from barbershop_core.values import Email, FullName, Money, PhoneNumber
from tests.conftest import MANAGER, World
from tests.fakes import ScriptedChannel

pytestmark = pytest.mark.parametrize(
    "engine", [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@attrs.define
class Counter:
    statements: list[str] = attrs.field(factory=list)
    transactions: int = 0
    round_trips: int = 0
    """PostgreSQL's: the statements, BEGINs, COMMITs and ROLLBACKs the server answered."""
    deallocations: int = 0
    """psycopg's ``DEALLOCATE ALL`` after a ROLLBACK, when the connection held prepared
    statements (it drops them all: a rollback may have undone what they were planned on)."""
    checkouts: int = 0
    """PostgreSQL's: connections checked out of the engine's pool (the autocommit
    connections of :data:`AUTOCOMMIT` are not the pool's)."""


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[Counter]:
    if engine.dialect.name == "postgresql":
        with on_the_wire(engine) as counter:
            yield counter
        return
    counter = Counter()

    def statement(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, executemany: bool) -> None:
        verb = sql.split(None, 1)[0].upper()
        if verb != "BEGIN":  # SQLite's BEGIN IMMEDIATE, sent as a statement: counted as a transaction
            counter.statements.append(verb + (" (many)" if executemany else ""))

    def begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if not options.get(SINGLE_STATEMENT) and options.get("isolation_level") != "AUTOCOMMIT":
            counter.transactions += 1  # a one-statement read (SessionReader) opens none

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "begin", begin)
    try:
        yield counter
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
        event.remove(engine.sync_engine, "begin", begin)


_TRACE_FLAGS: Final = pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
_ENDS: Final = {"COMMIT", "ROLLBACK"}


AUTOCOMMIT: Final[weakref.WeakKeyDictionary[AsyncEngine, SessionConnections]] = weakref.WeakKeyDictionary()
"""The autocommit connections beside a PostgreSQL engine's pool, as ``build_container``
gives its units of work (see the ``autocommit`` fixture)."""


@contextmanager
def on_the_wire(engine: AsyncEngine) -> Iterator[Counter]:
    """A :class:`Counter` of what PostgreSQL received on the connections checked out meanwhile,
    the engine's and its :data:`AUTOCOMMIT` ones."""
    traces: list[IO[str]] = []
    traced: list[tuple[psycopg.AsyncConnection[Any], int | None]] = []
    counter = Counter()

    def trace(driver: psycopg.AsyncConnection[Any]) -> None:
        trace = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 -- closed after reading
        traces.append(trace)
        traced.append((driver, driver.prepare_threshold))
        driver.prepare_threshold = None
        driver.pgconn.trace(trace.fileno())
        driver.pgconn.set_trace_flags(_TRACE_FLAGS)

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        counter.checkouts += 1
        trace(dbapi_connection.driver_connection)

    incomplete: list[str] = []

    def stop(driver: psycopg.AsyncConnection[Any], threshold: int | None) -> None:
        if driver.closed:
            # libpq keeps what it buffered of the trace: the count would silently miss it.
            incomplete.append(f"a connection closed while counting (backend {driver.info.backend_pid})")
        else:
            driver.pgconn.untrace()  # flushes what libpq buffered
        driver.prepare_threshold = threshold

    def checkin(dbapi_connection: Any, record: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        for index, (one, threshold) in enumerate(traced):
            if one is driver:
                stop(one, threshold)
                del traced[index]
                break

    autocommit = AUTOCOMMIT.get(engine)
    if autocommit is not None:
        take = autocommit.connection

        @asynccontextmanager
        async def traced_connection() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
            async with take() as connection:
                trace(connection)
                try:
                    yield connection
                finally:
                    checkin(connection, None)

        autocommit.connection = traced_connection  # type: ignore[method-assign]  # counting only
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        yield counter
    finally:
        if autocommit is not None:
            del autocommit.connection  # the class's own again
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
        for driver, threshold in traced:
            stop(driver, threshold)
        for trace in traces:
            trace.seek(0)
            _count(trace.read(), counter)
            trace.close()
    assert not incomplete, incomplete


_MESSAGES: Final = re.compile(r"\n(?=[FB]\t\d+\t)")
"""Between the trace's messages: a statement's text may span lines."""
_QUERY_VERB: Final = re.compile(r'\s*"\s*(\w+)')
_PARSE_VERB: Final = re.compile(r'\s*"[^"]*"\s*"\s*(\w+)')


def _count(trace: str, counter: Counter) -> None:
    """Each simple query is a round trip; so is each Sync, ending the extended statements
    before it (several Executes in one: an ``executemany``)."""
    verb, executes = "", 0
    for message in _MESSAGES.split(trace):
        fields = message.split("\t", 3)
        if len(fields) < 3 or fields[0] != "F":
            continue
        kind, text = fields[2], fields[3] if len(fields) > 3 else ""
        if kind == "Query":
            counter.round_trips += 1
            sent = _verb(_QUERY_VERB, text)
            if sent == "BEGIN":
                counter.transactions += 1
            elif sent == "DEALLOCATE":
                counter.deallocations += 1
            elif sent not in _ENDS:
                counter.statements.append(sent)
        elif kind == "Parse":
            verb = verb or _verb(_PARSE_VERB, text)
        elif kind == "Execute":
            executes += 1
        elif kind == "Sync":
            counter.round_trips += 1
            if executes:
                counter.statements.append(verb + (" (many)" if executes > 1 else ""))
            verb, executes = "", 0


def _verb(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.match(text)
    assert found is not None, text
    return found.group(1).upper()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture(autouse=True)
async def autocommit(engine: AsyncEngine) -> AsyncIterator[SessionConnections | None]:
    """PostgreSQL's autocommit connections, given to the units of work as ``build_container``
    gives them (:func:`on_sql`)."""
    if engine.dialect.name != "postgresql":
        yield None
        return
    connections = AUTOCOMMIT[engine] = SessionConnections(engine.url, configure=configure_lone_writes)
    yield connections
    await connections.aclose()


@pytest.fixture
def world(engine: AsyncEngine) -> World:
    world = World()
    world.channels.channels["sms"] = ScriptedChannel()
    return world


def on_sql(world: World, engine: AsyncEngine) -> SqlAlchemyUnitOfWorkFactory:
    return SqlAlchemyUnitOfWorkFactory(engine, world.queue, AUTOCOMMIT.get(engine))


def on_sql_partners(world: World, engine: AsyncEngine) -> PartnerDeps:
    return attrs.evolve(world.partners(), uow_factory=on_sql(world, engine), sessions=SqlSessionReader(engine))


async def register(world: World, engine: AsyncEngine, phone: str = "+79111234567") -> int:
    deps = attrs.evolve(world.registration(), uow_factory=on_sql(world, engine))
    command = RegisterClient(
        phone=phone,
        first_name="Иван",
        context=MANAGER,
        consents={"personal_data": True, "marketing": False},
    )
    result = await register_client(command, deps)
    assert result.notification_id is not None
    return result.notification_id


async def test_a_registration_is_one_statement_on_postgresql_a_transaction_of_its_own(
    world: World, engine: AsyncEngine
) -> None:
    await register(world, engine, "+79110000000")  # warm the statement caches and the route's copy

    with counting(engine) as counter:
        await register(world, engine)

    if engine.dialect.name == "postgresql":
        # the route's check, person, client, consents, notification, its history and the audit
        # events in one statement, which commits itself: no route read, no BEGIN, no COMMIT
        assert counter.statements == ["WITH"], counter
        assert counter.transactions == 0, counter
        assert counter.round_trips == 1, counter
        assert counter.checkouts == 0, counter  # on an autocommit connection: no pool, no SQLAlchemy
    else:
        # SQLite has no data-modifying CTEs, and no round trips to save: the route's check,
        # person, client, consents, notification, its history, audit
        assert counter.transactions == 1, counter
        assert len(counter.statements) <= 7, counter
    assert world.queue.enqueued[-1] > 0


async def test_a_registration_reads_its_route_again_after_another_process_changed_it(
    world: World, engine: AsyncEngine
) -> None:
    await register(world, engine, "+79110000000")  # the route's copy
    async with engine.begin() as connection:  # another process edits the template
        await connection.execute(
            sa.update(t.notification_templates)
            .where(t.notification_templates.c.code == "REG_WELCOME", t.notification_templates.c.channel == "sms")
            .values(body="Добро пожаловать! Логин {login}, пароль {password}")
        )

    with counting(engine) as counter:
        await register(world, engine)

    if engine.dialect.name == "postgresql":
        # the write on the copy (nothing written: its route is not the stored one) and the
        # phone looked up; the route read afresh; the write
        assert counter.statements == ["WITH", "SELECT", "SELECT", "WITH"], counter
        assert counter.transactions == 0, counter
    with counting(engine) as counter:
        await register(world, engine, "+79111234568")
    if engine.dialect.name == "postgresql":
        assert counter.statements == ["WITH"], counter  # the new copy


async def test_a_repeated_registration_a6_is_one_transaction_of_at_most_five_statements_on_postgresql(
    world: World, engine: AsyncEngine
) -> None:
    await register(world, engine)

    with counting(engine) as counter:
        await register(world, engine)

    assert counter.transactions == 1, counter
    if engine.dialect.name == "postgresql":
        # the write, which inserts nothing and reads the person with its client; notifications
        # with their children in one statement; audit
        assert len(counter.statements) <= 3, counter
    else:
        # route, person (clash), the person with its client, notifications with their children, audit
        assert len(counter.statements) <= 6, counter


async def warmed_delivery(world: World, engine: AsyncEngine) -> DeliveryDeps:
    """The send's deps on ``engine``, after one send that warmed the statement caches."""
    delivery = attrs.evolve(world.delivery(), uow_factory=on_sql(world, engine))
    warm = await register(world, engine, "+79110000000")
    assert await attempt_delivery(AttemptDelivery(warm), delivery) is AttemptResult.SENT
    return delivery


async def test_a_send_claims_and_records_in_two_transactions_of_few_statements(
    world: World, engine: AsyncEngine
) -> None:
    delivery = await warmed_delivery(world, engine)
    notification_id = await register(world, engine)

    with counting(engine) as counter:
        assert await attempt_delivery(AttemptDelivery(notification_id), delivery) is AttemptResult.SENT

    assert counter.transactions == 2, counter
    if engine.dialect.name == "postgresql":
        # claim: the notification with its children, its client and person and its route
        # in one statement; the lease (the commit's writes). record: the notification with
        # its children; the commit's writes: the row, its history, the attempt and the audit
        # in one statement (the client and person are the claim's: not read again)
        assert len(counter.statements) <= 4, counter
    else:
        # the same, the children read apart and the commit's writes one statement per
        # table: update; update, history, attempt, audit
        assert len(counter.statements) <= 9, counter


async def make_partner(world: World, engine: AsyncEngine) -> tuple[Partner, str]:
    created = await create_partner(CreatePartner("retail-1"), on_sql_partners(world, engine))
    return created.partner, created.api_key


def participant(phone: str) -> PromoRegistration:
    return PromoRegistration(
        fio=FullName.parse("Иванов Иван"),
        phone=PhoneNumber.parse_strict_e164(phone),
        email=Email.parse("ivan@example.com"),
        purchases=(PurchaseLine("Шампунь", Money(Decimal("10.50"))), PurchaseLine("Бальзам", Money(Decimal("3")))),
    )


async def partner_registration(
    world: World, engine: AsyncEngine, api_key: str, phone: str, key: str | None = None
) -> None:
    uow_factory = on_sql(world, engine)
    partner = await authenticate_partner(AuthenticatePartner(api_key), on_sql_partners(world, engine))
    command = RegisterPromoParticipant(participant(phone), partner, idempotency_key=key)
    await register_promo_participant(command, attrs.evolve(world.promo(), uow_factory=uow_factory))


async def test_a_partner_registration_is_the_partner_lookup_and_a_transaction_of_one_statement_on_postgresql(
    world: World, engine: AsyncEngine
) -> None:
    _, api_key = await make_partner(world, engine)
    await partner_registration(world, engine, api_key, "+79110000000")

    with counting(engine) as counter:
        await partner_registration(world, engine, api_key, "+79111234567")

    assert counter.transactions == 1, counter
    if engine.dialect.name == "postgresql":
        # partner (outside any transaction); person, client, record, purchases and audit in one
        # statement; with BEGIN and COMMIT four round trips in all
        assert counter.statements == ["SELECT", "WITH"], counter
        assert counter.round_trips == 4, counter
    else:
        # partner; person, client, record, purchases, audit
        assert len(counter.statements) == 6, counter


async def test_a_known_participant_and_a_replay_stay_within_budget(world: World, engine: AsyncEngine) -> None:
    _, api_key = await make_partner(world, engine)
    await partner_registration(world, engine, api_key, "+79111234567")
    world.clock.advance(timedelta(minutes=10))  # past the replay window: a new purchase set

    with counting(engine) as known:
        await partner_registration(world, engine, api_key, "+79111234567")
    with counting(engine) as replay:
        await partner_registration(world, engine, api_key, "+79111234567")

    assert known.transactions == 1, known
    # the work, undone; then the replay's audit event in a new transaction
    assert replay.transactions == 2, replay
    if engine.dialect.name == "postgresql":
        # partner; the one statement (the person, the client and the expired record found in it)
        assert known.statements == ["SELECT", "WITH"], known
        # partner; the one statement, which reads back the record that kept the key; audit
        assert replay.statements == ["SELECT", "WITH", "INSERT"], replay
    else:
        # partner; person (clash) and its read, client, the expired record replaced, purchases, audit
        assert len(known.statements) == 7, known
        # partner; person (clash) and its read, client, record (kept) and its read; audit
        assert len(replay.statements) == 7, replay


async def test_a_partner_registration_with_a_key_is_the_partner_lookup_and_one_transaction(
    world: World, engine: AsyncEngine
) -> None:
    _, api_key = await make_partner(world, engine)
    await partner_registration(world, engine, api_key, "+79110000000", key="warm")

    with counting(engine) as counter:
        await partner_registration(world, engine, api_key, "+79111234567", key="order-1")
    with counting(engine) as replay:
        await partner_registration(world, engine, api_key, "+79111234567", key="order-1")

    assert counter.transactions == 1, counter
    # the work, undone; then the replay's audit event in a new transaction
    assert replay.transactions == 2, replay
    if engine.dialect.name == "postgresql":
        # partner (outside any transaction); person, client, record under the key, purchases
        # and audit in one statement; with BEGIN and COMMIT four round trips in all
        assert counter.statements == ["SELECT", "WITH"], counter
        assert counter.round_trips == 4, counter
        assert replay.statements == ["SELECT", "WITH", "INSERT"], replay
    else:
        # partner; person, client, record, purchases, audit
        assert len(counter.statements) == 6, counter


@pytest.mark.parametrize("keyed", [False, True], ids=["without keys", "with keys"])
async def test_sixteen_partner_registrations_arriving_together_are_one_transaction_of_a_handful_of_statements(
    world: World, engine: AsyncEngine, keyed: bool
) -> None:
    _, api_key = await make_partner(world, engine)
    partner = await authenticate_partner(AuthenticatePartner(api_key), on_sql_partners(world, engine))
    alone = attrs.evolve(world.promo(), uow_factory=on_sql(world, engine))
    together = attrs.evolve(alone, sign_ups=PromoSignUps(alone))
    await partner_registration(world, engine, api_key, "+79110000000")
    phones = [f"+7911{index:07d}" for index in range(1, 17)]

    with counting(engine) as counter:
        results = await asyncio.gather(
            *(
                register_promo_participant(
                    RegisterPromoParticipant(participant(phone), partner, idempotency_key=phone if keyed else None),
                    together,
                )
                for phone in phones
            )
        )

    assert len({result.client_id for result in results}) == 16
    # records read, persons, their ids, clients, (their ids on SQLite), purchases, records
    # inserted completed, audit — against 16 transactions and 48 statements one by one
    assert counter.transactions == 1, counter
    assert len(counter.statements) <= 8, counter  # PostgreSQL 7, SQLite 8


async def partner_batch(world: World, engine: AsyncEngine, api_key: str, phones: list[str]) -> None:
    uow_factory = on_sql(world, engine)
    partner = await authenticate_partner(AuthenticatePartner(api_key), on_sql_partners(world, engine))
    batch = RegisterPromoParticipants([participant(phone) for phone in phones], partner)
    results = await register_promo_participants(batch, attrs.evolve(world.promo(), uow_factory=uow_factory))
    assert all(result.client_id is not None for result in results)


async def test_a_batch_of_a_thousand_is_the_partner_lookup_and_one_transaction_of_a_handful_of_statements(
    world: World, engine: AsyncEngine
) -> None:
    _, api_key = await make_partner(world, engine)
    await partner_batch(world, engine, api_key, ["+79110000000"])
    known = [f"+7911{index:07d}" for index in range(1, 501)]
    await partner_batch(world, engine, api_key, known[:250])  # a quarter of the batch is known clients

    with counting(engine) as counter:
        await partner_batch(world, engine, api_key, known + [f"+7912{index:07d}" for index in range(500)])

    # partner (outside any transaction); records read, persons, their ids, clients, (their
    # ids on SQLite), purchases, records inserted completed, audit
    assert counter.transactions == 1, counter
    assert len(counter.statements) <= 11, counter


async def test_a_session_check_is_one_statement_outside_any_transaction(world: World, engine: AsyncEngine) -> None:
    uow_factory = on_sql(world, engine)
    created = await create_manager(CreateManager("desk", None), attrs.evolve(world.managers(), uow_factory=uow_factory))
    notification_id = await register(world, engine)
    async with uow_factory() as uow:
        notification = await uow.notifications.get(notification_id)
    assert notification is not None
    sessions = SessionDeps(SqlSessionReader(engine))
    await signed_in_manager(SignedInManager(created.manager.id), sessions)  # warm the statement caches
    sent: list[str] = []
    begun: list[str | None] = []

    def statement(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append(sql.split(None, 1)[0].upper())  # SQLite's BEGIN IMMEDIATE included

    def begin(conn: Any) -> None:
        begun.append(conn.get_execution_options().get("isolation_level"))

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "begin", begin)
    try:
        assert await signed_in_manager(SignedInManager(created.manager.id), sessions) == created.manager
        assert await signed_in_client(SignedInClient(notification.client_id), sessions) is not None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
        event.remove(engine.sync_engine, "begin", begin)

    # A unit of work would send BEGIN (IMMEDIATE, on SQLite) and ROLLBACK around each SELECT.
    assert sent == ["SELECT", "SELECT"], sent
    if engine.dialect.name == "postgresql":
        assert begun == ["AUTOCOMMIT", "AUTOCOMMIT"], begun  # psycopg sends no BEGIN and no ROLLBACK


async def test_twenty_concurrent_sends_share_one_claim_and_one_record_transaction(
    world: World, engine: AsyncEngine
) -> None:
    delivery = await warmed_delivery(world, engine)
    ids = [await register(world, engine, f"+791112345{number:02d}") for number in range(20)]
    deliveries = Deliveries(delivery)

    with counting(engine) as counter:
        outcomes = await asyncio.gather(*(deliveries.attempt(notification_id) for notification_id in ids))

    assert outcomes == [AttemptResult.SENT] * 20
    # the same statements as one send (above), each for the whole batch
    assert counter.transactions == 2, counter
    assert len(counter.statements) <= (4 if engine.dialect.name == "postgresql" else 9), counter


async def test_a_unit_of_work_that_only_reads_sends_no_begin_and_no_rollback_on_postgresql(
    world: World, engine: AsyncEngine
) -> None:
    uow_factory = on_sql(world, engine)
    for _ in range(2):  # the second run of a module statement goes straight to the driver
        async with uow_factory() as uow:
            await uow.persons.get_by_phone(PhoneNumber("+79111234567"))

    with counting(engine) as counter:
        async with uow_factory() as uow:
            await uow.reference.list_channels()  # a statement built per call: SQLAlchemy runs it
            await uow.persons.get_by_phone(PhoneNumber("+79111234567"))

    assert counter.statements == ["SELECT", "SELECT"], counter
    if engine.dialect.name == "postgresql":
        # Each read its own snapshot, as inside a transaction under READ COMMITTED; no
        # ROLLBACK, so psycopg keeps the connection's prepared statements (no DEALLOCATE ALL).
        assert counter.transactions == 0, counter
        assert counter.round_trips == 2, counter
        assert counter.deallocations == 0, counter
    else:
        assert counter.transactions == 1, counter  # BEGIN IMMEDIATE: SQLite's one writer at a time
