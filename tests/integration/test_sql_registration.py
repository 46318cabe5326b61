"""UC04 and seed 002 on the real databases: atomicity (A3), the race of A6, the whole flow."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import Any

import attrs
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from barbershop_adapters.sqlalchemy import tables
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory
from barbershop_core.errors import ClientExists, TemporaryError
from barbershop_core.model import NotificationStatus, Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.accounts import CreatePartner, create_partner
from barbershop_core.use_cases.clients import GetClientCard, get_client_card
from barbershop_core.use_cases.delivery import AttemptDelivery, AttemptResult, attempt_delivery
from barbershop_core.use_cases.promo import (
    PromoDeps,
    PromoSignUps,
    RegisterPromoParticipant,
    RegisterPromoParticipants,
    parse_promo_registration,
    register_promo_participant,
    register_promo_participants,
)
from barbershop_core.use_cases.registration import (
    RegisterClient,
    RegistrationDeps,
    RegistrationResult,
    register_client,
)
from barbershop_core.values import PhoneNumber
from tests.conftest import MANAGER, World
from tests.fakes import FakeHasher, ScriptedChannel
from tests.integration.sql_fixtures import ALL_BACKENDS, SQL_BACKENDS, Backend
from tests.integration.test_sql_contract import a_registration

PHONE = "+79111234567"
TYPED_PHONE = "8 (911) 123-45-67"
MASKED_PHONE = "+7911*****67"
WRITTEN_BY_REGISTRATION = (
    tables.persons,
    tables.clients,
    tables.consents,
    tables.client_notifications,
    tables.notification_status_changes,
    tables.audit_events,
)


def new_world() -> World:
    world = World()
    world.channels.channels["sms"] = ScriptedChannel()
    return world


def registration_deps(world: World, uow_factory: Callable[[], Any]) -> RegistrationDeps:
    """The world's deps on ``uow_factory``; a SQL factory hands off to the world's queue."""
    if isinstance(uow_factory, SqlAlchemyUnitOfWorkFactory):
        uow_factory = SqlAlchemyUnitOfWorkFactory(uow_factory.engine, world.queue, uow_factory.autocommit)
    return attrs.evolve(world.registration(), uow_factory=uow_factory)


async def register(deps: RegistrationDeps, phone: str = TYPED_PHONE) -> RegistrationResult:
    command = RegisterClient(
        phone=phone,
        first_name="Иван",
        context=MANAGER,
        channel="sms",
        consents={"personal_data": True, "marketing": False},
    )
    return await register_client(command, deps)


async def nothing_persisted(backend: Backend) -> bool:
    return all([await backend.count(table) == 0 for table in WRITTEN_BY_REGISTRATION])


class FaultyUnitOfWork:
    """The real unit of work, with one operation (``"clients.add"``, ``"commit"``) replaced by ``fault``."""

    def __init__(
        self,
        inner: SqlAlchemyUnitOfWork,
        operation: str,
        fault: Callable[[SqlAlchemyUnitOfWork, Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]],
    ) -> None:
        self._inner = inner
        self._operation = operation
        self._fault = fault

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        uow = await self._inner.__aenter__()
        owner_name, _, method = self._operation.rpartition(".")
        owner = getattr(uow, owner_name) if owner_name else uow
        setattr(owner, method, self._fault(uow, getattr(owner, method)))
        return uow

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)


Fault = Callable[[SqlAlchemyUnitOfWork, Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]


def with_fault(backend: Backend, operation: str, fault: Fault) -> Callable[[], FaultyUnitOfWork]:
    """A unit-of-work factory of ``backend`` whose units have ``operation`` replaced by ``fault``."""

    def faulty() -> FaultyUnitOfWork:
        uow = backend.uow_factory()
        assert isinstance(uow, SqlAlchemyUnitOfWork)
        return FaultyUnitOfWork(uow, operation, fault)

    return faulty


def raise_storage_unavailable(
    uow: SqlAlchemyUnitOfWork, original: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    async def fail(*args: Any, **kwargs: Any) -> None:
        raise StorageUnavailable("injected fault")

    return fail


def assert_a3_logged(caplog: pytest.LogCaptureFixture, world: World, error: TemporaryError) -> None:
    """ERROR_REGISTER_CLIENT with the masked phone; no raw phone or password in the log or the traceback."""
    [record] = [r for r in caplog.records if "ERROR_REGISTER_CLIENT" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert MASKED_PHONE in record.getMessage()
    traceback_text = "".join(traceback.format_exception(error))
    for text in (caplog.text, traceback_text):
        assert PHONE not in text
        assert "9111234567" not in text
        for password in world.passwords.issued:
            assert password not in text


# "_notifications.flush": the commit's writes (the audit rows on SQLite).
FAULTS_AROUND_THE_WRITE = ["registrations.commit_if_new", "_notifications.flush", "commit"]
# SQLite writes the records one by one: a fault may come between them.
FAULTS_BETWEEN_THE_RECORDS = ["clients.add_if_new", "consents.add_many", "notifications.add"]
# PostgreSQL writes them and the audit events in one statement, a transaction of its own: the
# commit after it sends nothing, so the statement is where a fault can come.
FAULTS_IN_THE_ONE_STATEMENT = ["registrations.commit_if_new"]


@pytest.mark.parametrize(
    ("backend", "operation"),
    [
        *(pytest.param("sqlite", operation) for operation in FAULTS_AROUND_THE_WRITE + FAULTS_BETWEEN_THE_RECORDS),
        *(pytest.param("postgres", operation, marks=pytest.mark.postgres) for operation in FAULTS_IN_THE_ONE_STATEMENT),
    ],
    indirect=["backend"],
)
async def test_a_fault_between_the_inserts_leaves_nothing_and_answers_temporary_error(
    backend: Backend, operation: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world = new_world()

    faulty = with_fault(backend, operation, raise_storage_unavailable)
    with pytest.raises(TemporaryError) as raised:
        await register(registration_deps(world, faulty))

    assert raised.value.code == "temporary_error"
    assert raised.value.message == "Временная ошибка, попробуйте снова"
    assert await nothing_persisted(backend)
    assert world.queue.enqueued == []
    assert_a3_logged(caplog, world, raised.value)
    # The store is fine afterwards: the manager's retry goes through.
    retried = await register(registration_deps(world, backend.uow_factory))
    assert not retried.idempotent
    assert await backend.count(tables.persons) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_connections_that_died_idle_cost_one_temporary_error_each_set_not_a_pre_ping_per_request(
    backend: Backend,
) -> None:
    """No pre-ping on checkout: the server dropping idle connections (a restart, a proxy's
    idle timeout) is met by the next statement on them. The registration's lone write meets
    its dead autocommit connection: that request answers A3 and leaves nothing, the dead ones
    are dropped, and the next goes through. The engine's pool, which that write never
    touched, costs its own first user one A3 too; it is then invalidated."""
    world = new_world()
    deps = registration_deps(world, backend.uow_factory)
    await register(deps, phone="+79110000000")  # the route read afresh: a connection left in the pool
    await register(deps, phone="+79110000001")  # the route's copy: an autocommit connection left idle
    admin_engine = create_async_engine(backend.sql.url, poolclass=NullPool)
    async with admin_engine.connect() as admin:
        killed = await admin.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        assert killed.scalar_one() >= 1
    await admin_engine.dispose()

    with pytest.raises(TemporaryError) as raised:
        await register(deps)

    assert isinstance(raised.value.__cause__, StorageUnavailable)
    retried = await register(deps)
    assert not retried.idempotent
    async with backend.uow_factory() as uow:
        with pytest.raises(StorageUnavailable):
            await uow.persons.get_by_phone(PhoneNumber(retried.phone))
    async with backend.uow_factory() as uow:
        assert await uow.persons.get_by_phone(PhoneNumber(retried.phone)) is not None
    assert await backend.count(tables.persons) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_connection_broken_mid_transaction_leaves_nothing_and_answers_temporary_error(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """The server drops the session after the route was read, before the registration's
    write — the write that would have been a transaction of its own meets the dead connection."""
    caplog.set_level(logging.INFO)
    world = new_world()
    terminated: list[int] = []

    def terminate_then_continue(
        uow: SqlAlchemyUnitOfWork, original: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def add(*args: Any) -> Any:
            driver = (await uow.connection.get_raw_connection()).driver_connection
            assert isinstance(driver, psycopg.AsyncConnection)
            assert driver.pgconn.transaction_status == pq.TransactionStatus.IDLE  # the route read began nothing
            pid = driver.info.backend_pid  # known to the driver: nothing sent
            async with backend.sql.connect() as admin:
                killed = await admin.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
                assert killed.scalar_one() is True
            terminated.append(pid)
            return await original(*args)

        return add

    faulty = with_fault(backend, "registrations.commit_if_new", terminate_then_continue)
    with pytest.raises(TemporaryError) as raised:
        await register(registration_deps(world, faulty))

    assert terminated
    assert raised.value.message == "Временная ошибка, попробуйте снова"
    assert isinstance(raised.value.__cause__, StorageUnavailable)
    assert await nothing_persisted(backend)
    assert world.queue.enqueued == []
    assert_a3_logged(caplog, world, raised.value)
    retried = await register(registration_deps(world, backend.uow_factory))
    assert not retried.idempotent


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_failure_after_the_write_committed_itself_answers_temporary_error_and_the_retry_replays_it(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL the registration's one statement is its own transaction: whatever fails
    after it (here the commit that would hand the notification off) cannot undo it. The
    manager is told to try again, and the retry is answered as the same registration (A6);
    the notification, never handed off, is due in the database for the sweep."""
    caplog.set_level(logging.INFO)
    world = new_world()

    faulty = with_fault(backend, "commit", raise_storage_unavailable)
    with pytest.raises(TemporaryError) as raised:
        await register(registration_deps(world, faulty))

    assert raised.value.code == "temporary_error"
    assert_a3_logged(caplog, world, raised.value)
    assert world.queue.enqueued == []
    assert await backend.count(tables.persons) == 1
    retried = await register(registration_deps(world, backend.uow_factory))
    assert retried.idempotent
    assert retried.notification_id is not None
    async with backend.uow_factory() as uow:
        stored = await uow.notifications.get(retried.notification_id)
    assert stored is not None
    assert stored.status is NotificationStatus.SCHEDULED  # due: the sweep queues it


class BarrierHasher(FakeHasher):
    """Holds every registration after its phone check until all of them passed it."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = asyncio.Barrier(parties)

    async def hash(self, password: str) -> str:
        await self.barrier.wait()
        return await super().hash(password)


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_twenty_simultaneous_registrations_of_one_phone_make_one_client(backend: Backend) -> None:
    """A6: every request passed the read check, so only the unique index can keep them apart."""
    callers = 20
    world = new_world()
    world.hasher = BarrierHasher(callers)
    deps = registration_deps(world, backend.uow_factory)

    results = await asyncio.gather(*(register(deps, PHONE) for _ in range(callers)))

    assert len(world.hasher.hashed) == callers  # nobody was stopped by the read-then-write check
    assert await backend.count(tables.persons) == 1
    assert await backend.count(tables.clients) == 1
    assert await backend.count(tables.client_notifications) == 1
    assert len({(r.person_id, r.client_id) for r in results}) == 1
    assert sorted(r.idempotent for r in results) == [False] + [True] * (callers - 1)
    created = next(r for r in results if not r.idempotent)
    assert all(r.notification_id == created.notification_id for r in results)
    assert world.queue.enqueued == [created.notification_id]


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_registration_runs_end_to_end_on_the_database(backend: Backend) -> None:
    world = new_world()
    sms = ScriptedChannel()
    world.channels.channels["sms"] = sms
    deps = registration_deps(world, backend.uow_factory)

    created = await register(deps)
    again = await register(deps, PHONE)
    assert created.notification_id is not None
    delivered = await attempt_delivery(
        AttemptDelivery(created.notification_id), attrs.evolve(world.delivery(), uow_factory=deps.uow_factory)
    )
    world.clock.advance(timedelta(minutes=6))
    with pytest.raises(ClientExists) as exists:
        await register(deps)

    assert created.phone == PHONE
    assert created.notification_status is NotificationStatus.SCHEDULED
    assert world.queue.enqueued == [created.notification_id]
    assert again.idempotent
    assert (again.person_id, again.client_id) == (created.person_id, created.client_id)
    assert delivered is AttemptResult.SENT
    assert exists.value.client_id == created.client_id
    card = await get_client_card(
        GetClientCard(created.client_id), attrs.evolve(world.clients(), uow_factory=backend.uow_factory)
    )
    assert card.person.phone.e164 == PHONE
    assert card.person.must_change_password
    assert card.consents == {"personal_data": True, "marketing": False}
    [notification] = card.notifications
    assert notification.status is NotificationStatus.SENT
    assert notification.secret is None  # wiped once sent
    assert [a.outcome.value for a in notification.attempts] == ["sent"]
    [message] = sms.sent
    assert "Иван" in message.text
    assert world.passwords.issued[0] in message.text


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_a_retried_promo_registration_adds_its_purchases_once(backend: Backend) -> None:
    world = new_world()
    partner: Partner = (
        await create_partner(
            CreatePartner("retail-1"),
            attrs.evolve(world.partners(), uow_factory=backend.uow_factory),
        )
    ).partner
    deps = attrs.evolve(world.promo(), uow_factory=backend.uow_factory)
    registration = parse_promo_registration(
        {
            "fio": "Иванов Иван Иванович",
            "phone": PHONE,
            "email": "ivan@example.ru",
            "purchases": [{"name": "Шампунь", "price": 499.9}, {"name": "Стрижка", "price": 1500}],
        }
    )
    command = RegisterPromoParticipant(registration, partner, idempotency_key="order-1")

    first = await register_promo_participant(command, deps)
    retried = await register_promo_participant(command, deps)

    assert not first.replayed
    assert retried.replayed
    assert retried.client_id == first.client_id
    card = await get_client_card(
        GetClientCard(first.client_id), attrs.evolve(world.clients(), uow_factory=backend.uow_factory)
    )
    assert [(p.name, str(p.price)) for p in card.purchases] == [("Шампунь", "499.90"), ("Стрижка", "1500.00")]
    assert card.client.full_name is not None
    assert card.client.source == "partner:retail-1"


def promo_body(purchase: str) -> dict[str, Any]:
    return {
        "fio": "Иванов Иван",
        "phone": PHONE,
        "email": "ivan@example.ru",
        "purchases": [{"name": purchase, "price": 1}],
    }


async def partner_on(backend: Backend, *, together: bool, max_batch: int) -> tuple[Partner, PromoDeps]:
    """A new partner and the ports its registrations go through on ``backend``: each request
    alone, or (``together``) batched by a :class:`PromoSignUps` as the partner API does."""
    world = new_world()
    partner = (
        await create_partner(CreatePartner("retail-1"), attrs.evolve(world.partners(), uow_factory=backend.uow_factory))
    ).partner
    deps = attrs.evolve(world.promo(), uow_factory=backend.uow_factory)
    return partner, attrs.evolve(deps, sign_ups=PromoSignUps(deps, max_batch=max_batch)) if together else deps


@pytest.mark.parametrize("together", [False, True], ids=["alone", "together"])
@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_simultaneous_promo_registrations_of_one_new_phone_make_one_client_and_add_each_body_once(
    backend: Backend, together: bool
) -> None:
    """Without a key: the unique indexes of the phone and of the record's key keep them apart
    (alone); or they arrive together and are written as one batch (as the partner API does)."""
    partner, deps = await partner_on(backend, together=together, max_batch=7)  # three batches, each body in several
    bodies = [promo_body(f"Покупка {index % 5}") for index in range(20)]  # five bodies, each four times

    results = await asyncio.gather(
        *(
            register_promo_participant(RegisterPromoParticipant(parse_promo_registration(b), partner), deps)
            for b in bodies
        )
    )

    assert await backend.count(tables.persons) == 1
    assert await backend.count(tables.clients) == 1
    assert await backend.count(tables.purchases) == 5
    assert await backend.count(tables.idempotency_records) == 5
    assert len({result.client_id for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False] * 5 + [True] * 15


@pytest.mark.parametrize("together", [False, True], ids=["alone", "together"])
@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_simultaneous_retries_under_one_idempotency_key_register_once_and_replay_the_rest(
    backend: Backend, together: bool
) -> None:
    """With a key: each request is one transaction; the record's unique key makes the
    others wait for the first and answer its replay (none is told "in flight"); or they
    arrive together and are written as batches (as the partner API does)."""
    partner, deps = await partner_on(backend, together=together, max_batch=3)
    command = RegisterPromoParticipant(parse_promo_registration(promo_body("Покупка")), partner, idempotency_key="o-1")

    results = await asyncio.gather(*(register_promo_participant(command, deps) for _ in range(8)))

    assert await backend.count(tables.clients) == 1
    assert await backend.count(tables.purchases) == 1
    assert await backend.count(tables.idempotency_records) == 1
    assert len({result.client_id for result in results}) == 1
    assert sorted(result.replayed for result in results) == [False] + [True] * 7


class ReadTogether:
    """Units of work whose first ``parties`` promo batches all read their idempotency
    records before any of them goes on to write."""

    def __init__(self, uow_factory: Callable[[], Any], parties: int) -> None:
        self._uow_factory = uow_factory
        self._barrier = asyncio.Barrier(parties)
        self._waiting = parties

    def __call__(self) -> Any:
        uow = self._uow_factory()
        stored = uow.promo.stored

        async def stored_together(records: Any) -> Any:
            found = await stored(records)
            if self._waiting:
                self._waiting -= 1
                await self._barrier.wait()
            return found

        uow.promo.stored = stored_together
        return uow


@pytest.mark.parametrize("backend", [ALL_BACKENDS[2]], indirect=True)
async def test_two_simultaneous_identical_batches_register_each_participant_once(backend: Backend) -> None:
    """Both read no idempotency record: the records' unique key decides, the loser starts
    again and answers from the winner's records."""
    world = new_world()
    partner = (
        await create_partner(CreatePartner("retail-1"), attrs.evolve(world.partners(), uow_factory=backend.uow_factory))
    ).partner
    deps = attrs.evolve(world.promo(), uow_factory=ReadTogether(backend.uow_factory, 2))
    participants = [
        {
            "fio": "Иванов Иван Иванович",
            "phone": f"+7911123456{number}",
            "email": "ivan@example.ru",
            "purchases": [{"name": "Шампунь", "price": 499.9}],
        }
        for number in range(3)
    ]
    batch = RegisterPromoParticipants(participants, partner)

    first, second = await asyncio.gather(*(register_promo_participants(batch, deps) for _ in range(2)))

    assert [r.client_id for r in first] == [r.client_id for r in second]
    assert sorted([first[0].replayed, second[0].replayed]) == [False, True]
    assert all(r.replayed == first[0].replayed for r in first)
    assert await backend.count(tables.clients) == 3
    assert await backend.count(tables.purchases) == 3
    assert await backend.count(tables.idempotency_records) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_value_longer_than_its_column_is_refused_whole_not_cut(backend: Backend) -> None:
    """The one-statement writes cast their parameters; a cast to varchar(n) would cut an
    over-long value silently. The core never sends one (its values check their lengths):
    should one get through, the store refuses it and keeps nothing."""
    world = new_world()
    partner: Partner = (
        await create_partner(CreatePartner("retail-1"), attrs.evolve(world.partners(), uow_factory=backend.uow_factory))
    ).partner
    deps = attrs.evolve(world.promo(), uow_factory=backend.uow_factory)
    registration = parse_promo_registration(
        {
            "fio": "Иванов Иван",
            "phone": PHONE,
            "email": "ivan@example.ru",
            "purchases": [{"name": "Шампунь", "price": 10}],
        }
    )
    too_long = "Я" * (tables.NAME_LENGTH + 1)
    object.__setattr__(registration.purchases[0], "name", too_long)  # past the core's own check
    object.__setattr__(registration.fio, "value", too_long)

    with pytest.raises(TemporaryError):
        await register_promo_participant(RegisterPromoParticipant(registration, partner), deps)

    assert await backend.count(tables.persons) == 0
    assert await backend.count(tables.purchases) == 0

    by_a_manager = a_registration()
    object.__setattr__(by_a_manager.person.first_name, "value", too_long)
    async with backend.uow_factory() as uow:
        with pytest.raises(StorageUnavailable, match="refused"):
            await uow.registrations.add_if_new(by_a_manager)
    assert await backend.count(tables.persons) == 0
