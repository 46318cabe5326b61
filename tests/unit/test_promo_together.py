"""Partner registrations that arrive together are written together, each answered as if alone."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest

from barbershop_core.errors import IdempotencyKeyReused, TemporaryError, ValidationError
from barbershop_core.model import AuditAction, Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    PromoDeps,
    PromoResult,
    PromoSignUps,
    RegisterPromoParticipant,
    parse_promo_registration,
    register_promo_participant,
)
from tests.conftest import World
from tests.fakes import FakePromoBatches, FakeUnitOfWork
from tests.unit.support import audit_events, make_partner, rows


def body(phone: str, purchase: str = "Стрижка") -> dict[str, Any]:
    return {
        "fio": "Иванов Иван",
        "phone": phone,
        "email": "ivan@example.com",
        "purchases": [{"name": purchase, "price": 1500}],
    }


def command(partner: Partner, phone: str, request_id: str, **kwargs: Any) -> RegisterPromoParticipant:
    return RegisterPromoParticipant(parse_promo_registration(body(phone)), partner, request_id=request_id, **kwargs)


PHONES = [f"+7911000{n:04d}" for n in range(10)]


@pytest.fixture
async def partner(world: World) -> Partner:
    return await make_partner(world)


async def test_requests_arriving_together_are_one_transaction_each_answered_with_its_own_client(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    before = world.db.commits

    results = await asyncio.gather(
        *(register_promo_participant(command(partner, phone, f"req-{n}"), deps) for n, phone in enumerate(PHONES))
    )

    assert world.db.commits - before == 1
    clients = {client.id: client for client in rows(world, "clients")}
    persons = {person.id: person for person in rows(world, "persons")}
    assert [str(persons[clients[r.client_id].person_id].phone) for r in results] == PHONES
    assert all(result.replayed is False for result in results)
    assert sorted(p.client_id for p in rows(world, "purchases")) == sorted(r.client_id for r in results)
    registered = {e.request_id: e for e in audit_events(world) if e.action is AuditAction.PROMO_REGISTERED}
    assert {request: event.client_id for request, event in registered.items()} == {
        f"req-{n}": result.client_id for n, result in enumerate(results)
    }
    assert all(e.actor == "partner:1" and e.masked_phone.startswith("+7911") for e in registered.values())


async def test_the_same_body_arriving_together_is_registered_once_and_replayed_for_the_others(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()

    results = await asyncio.gather(
        *(register_promo_participant(command(partner, PHONES[0], f"req-{n}"), deps) for n in range(3))
    )

    assert results == [PromoResult(1), PromoResult(1, replayed=True), PromoResult(1, replayed=True)]
    assert len(rows(world, "purchases")) == 1
    assert [(e.action, e.request_id) for e in audit_events(world) if e.action.name.startswith("PROMO")] == [
        (AuditAction.PROMO_REGISTERED, "req-0"),
        (AuditAction.PROMO_REPLAYED, "req-1"),
        (AuditAction.PROMO_REPLAYED, "req-2"),
    ]
    # written together, found alone: the batch's idempotency record answers a later repeat
    again = await register_promo_participant(command(partner, PHONES[0], "req-3"), deps)
    assert again == PromoResult(1, replayed=True)
    assert len(rows(world, "purchases")) == 1


async def test_one_phone_with_two_bodies_together_is_one_client_with_both_purchases(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    haircut, shave = (
        RegisterPromoParticipant(parse_promo_registration(body(PHONES[0], name)), partner, request_id=name)
        for name in ("Стрижка", "Бритьё")
    )

    first, second = await asyncio.gather(
        register_promo_participant(haircut, deps), register_promo_participant(shave, deps)
    )

    assert first == second == PromoResult(1)
    assert len(rows(world, "clients")) == 1
    assert sorted(p.name for p in rows(world, "purchases")) == ["Бритьё", "Стрижка"]


async def test_a_request_alone_is_written_in_the_single_statement_of_a_lone_registration(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    before = world.db.commits
    world.db.fail("promo.stored", AssertionError("a lone request must not take the batch's statements"))

    result = await register_promo_participant(command(partner, PHONES[0], "req-0"), deps)

    assert result == PromoResult(1)
    assert world.db.commits - before == 1


async def test_when_the_store_fails_a_batch_each_of_its_requests_gets_a_temporary_error_at_once(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    before = world.db.commits
    world.db.fail("promo.participants", StorageUnavailable("connection lost"))

    results = await asyncio.gather(
        *(register_promo_participant(command(partner, phone, f"req-{n}"), deps) for n, phone in enumerate(PHONES[:3])),
        return_exceptions=True,
    )

    assert all(isinstance(result, TemporaryError) for result in results), results
    assert len({id(result) for result in results}) == 3  # each caller its own exception
    assert world.db.commits == before  # not tried again one by one (each would wait its own timeout)
    assert rows(world, "clients") == []


class AnswerLostUnitOfWork(FakeUnitOfWork):
    """Commits, then loses the answer: the store has the rows, the caller an error."""

    async def commit(self) -> None:
        await super().commit()
        raise StorageUnavailable("connection lost after COMMIT")


async def test_a_batch_whose_commit_answer_is_lost_is_not_answered_as_a_replay(world: World, partner: Partner) -> None:
    units = iter([AnswerLostUnitOfWork(world.db, world.queue)])  # the first; the next ones answer

    def uow_factory() -> FakeUnitOfWork:
        return next(units, None) or FakeUnitOfWork(world.db, world.queue)

    alone = attrs.evolve(world.promo(), uow_factory=uow_factory)
    deps = attrs.evolve(alone, sign_ups=PromoSignUps(alone))

    results = await asyncio.gather(
        *(register_promo_participant(command(partner, phone, f"req-{n}"), deps) for n, phone in enumerate(PHONES[:3])),
        return_exceptions=True,
    )

    assert all(isinstance(result, TemporaryError) for result in results), results
    # the partner's retry finds what was written: a replay, as for a request alone
    retried = await register_promo_participant(command(partner, PHONES[0], "req-r"), world.promo_together())
    assert retried == PromoResult(1, replayed=True)


async def test_a_batch_that_fails_otherwise_is_run_again_request_by_request(world: World, partner: Partner) -> None:
    deps = world.promo_together()
    before = world.db.commits
    world.db.fail("promo.participants", RuntimeError("a bug of the store's"))

    results = await asyncio.gather(
        *(register_promo_participant(command(partner, phone, f"req-{n}"), deps) for n, phone in enumerate(PHONES[:3]))
    )

    assert [r.client_id for r in results] == [1, 2, 3]
    assert world.db.commits - before == 3  # the batch rolled back; each request then alone
    assert len(rows(world, "purchases")) == 3


async def test_a_batch_writes_its_participants_and_records_in_one_order_whatever_their_arrival(
    world: World, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two batches locking overlapping rows in opposite orders could deadlock each other."""
    seen: dict[str, list[str]] = {}
    participants, complete = FakePromoBatches.participants, FakePromoBatches.complete

    async def participants_spy(self: FakePromoBatches, rows: Any, **kwargs: Any) -> Any:
        seen["phones"] = [row.phone.e164 for row in rows]
        return await participants(self, rows, **kwargs)

    async def complete_spy(self: FakePromoBatches, records: Any, **kwargs: Any) -> None:
        seen["records"] = [record.key for record in records]
        await complete(self, records, **kwargs)

    monkeypatch.setattr(FakePromoBatches, "participants", participants_spy)
    monkeypatch.setattr(FakePromoBatches, "complete", complete_spy)
    deps = world.promo_together()

    await asyncio.gather(
        *(register_promo_participant(command(partner, phone, f"req-{n}"), deps) for n, phone in enumerate(PHONES[::-1]))
    )

    assert seen["phones"] == sorted(PHONES)
    assert seen["records"] == sorted(seen["records"])


async def test_a_request_alone_that_fails_answers_a_temporary_error_and_stores_nothing(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    world.db.fail("promo.register_one", StorageUnavailable("connection lost"))

    with pytest.raises(TemporaryError):
        await register_promo_participant(command(partner, PHONES[0], "req-0"), deps)

    assert rows(world, "clients") == []


async def test_requests_of_two_partners_are_never_one_batch(world: World, partner: Partner) -> None:
    other = await make_partner(world, "retail-2")
    deps = world.promo_together()
    before = world.db.commits

    results = await asyncio.gather(
        *(
            register_promo_participant(command(who, phone, f"req-{n}"), deps)
            for n, (who, phone) in enumerate([(partner, PHONES[0]), (other, PHONES[1]), (partner, PHONES[2])])
        )
    )

    assert world.db.commits - before == 2
    sources = {c.id: c.source for c in rows(world, "clients")}
    assert [sources[r.client_id] for r in results] == ["partner:retail-1", "partner:retail-2", "partner:retail-1"]
    purchases = {p.client_id: p.partner_id for p in rows(world, "purchases")}
    assert [purchases[r.client_id] for r in results] == [partner.id, other.id, partner.id]


class HeldUnitOfWork(FakeUnitOfWork):
    """The first unit of work waits at its commit until ``release`` is set."""

    def __init__(self, world: World, release: asyncio.Event) -> None:
        super().__init__(world.db, world.queue)
        self._release = release

    async def commit(self) -> None:
        await self._release.wait()
        await super().commit()


async def test_a_request_cancelled_before_its_batch_starts_is_not_written(world: World, partner: Partner) -> None:
    release = asyncio.Event()
    alone = attrs.evolve(world.promo(), uow_factory=lambda: HeldUnitOfWork(world, release))
    deps = attrs.evolve(alone, sign_ups=PromoSignUps(alone))
    first = asyncio.create_task(register_promo_participant(command(partner, PHONES[0], "req-0"), deps))
    await asyncio.sleep(0.01)  # the first batch (of one) is written and held at its commit
    gone = asyncio.create_task(register_promo_participant(command(partner, PHONES[1], "req-1"), deps))
    kept = asyncio.create_task(register_promo_participant(command(partner, PHONES[2], "req-2"), deps))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()

    assert (await first).client_id == 1
    assert (await kept).client_id == 2
    assert gone.cancelled()
    assert sorted(str(p.phone) for p in rows(world, "persons")) == [PHONES[0], PHONES[2]]


async def test_requests_with_idempotency_keys_arriving_together_are_one_transaction_each_under_its_key(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    before = world.db.commits

    results = await asyncio.gather(
        *(
            register_promo_participant(command(partner, phone, f"req-{n}", idempotency_key=f" order-{n} "), deps)
            for n, phone in enumerate(PHONES[:4])
        )
    )

    assert world.db.commits - before == 1
    assert [r.replayed for r in results] == [False] * 4
    assert len({r.client_id for r in results}) == 4
    # each key kept for the key's lifetime (24 hours), found alone later
    again = await register_promo_participant(command(partner, PHONES[2], "req-9", idempotency_key="order-2"), deps)
    assert again == PromoResult(results[2].client_id, replayed=True)
    assert {record.key for record in rows(world, "idempotency")} == {f"key:order-{n}" for n in range(4)}


async def test_one_key_twice_in_a_batch_is_registered_once_and_replayed_or_refused_with_another_body(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    first = command(partner, PHONES[0], "req-0", idempotency_key="order-1")
    retry = command(partner, PHONES[0], "req-1", idempotency_key="order-1")
    other_body = command(partner, PHONES[1], "req-2", idempotency_key="order-1")
    unkeyed = command(partner, PHONES[0], "req-3")

    results = await asyncio.gather(
        *(register_promo_participant(c, deps) for c in (first, retry, other_body, unkeyed)), return_exceptions=True
    )

    assert results[:2] == [PromoResult(1), PromoResult(1, replayed=True)]
    assert isinstance(results[2], IdempotencyKeyReused)
    assert results[3] == PromoResult(1)  # a keyed request and an unkeyed one do not replay each other
    assert len(rows(world, "purchases")) == 2
    assert [c.id for c in rows(world, "clients")] == [1]


async def test_a_key_kept_before_the_batch_answers_each_of_its_requests_by_its_body(
    world: World, partner: Partner
) -> None:
    deps = world.promo_together()
    await register_promo_participant(command(partner, PHONES[0], "req-0", idempotency_key="order-1"), deps)
    other_body = command(partner, PHONES[1], "req-1", idempotency_key="order-1")
    retry = command(partner, PHONES[0], "req-2", idempotency_key="order-1")

    results = await asyncio.gather(
        *(register_promo_participant(c, deps) for c in (other_body, retry)), return_exceptions=True
    )

    assert isinstance(results[0], IdempotencyKeyReused)
    assert results[1] == PromoResult(1, replayed=True)
    assert len(rows(world, "purchases")) == 1


async def test_a_malformed_key_is_refused_before_its_request_joins_a_batch(world: World, partner: Partner) -> None:
    deps = world.promo_together()

    with pytest.raises(ValidationError) as error:
        await register_promo_participant(command(partner, PHONES[0], "req-0", idempotency_key="bad\nkey"), deps)

    assert error.value.field == "Idempotency-Key"
    assert rows(world, "clients") == []


async def test_sign_ups_built_for_other_ports_are_refused(world: World, partner: Partner) -> None:
    together = world.promo_together()
    elsewhere: PromoDeps = attrs.evolve(together, uow_factory=lambda: FakeUnitOfWork(world.db, world.queue))

    with pytest.raises(ValueError, match="other ports"):
        await register_promo_participant(command(partner, PHONES[0], "req-0"), elsewhere)

    assert rows(world, "clients") == []
