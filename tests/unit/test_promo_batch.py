"""Seed 002 at volume: a batch of promo participants, set-based, with the single rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from barbershop_core.errors import IdempotencyKeyReused, TemporaryError, ValidationError
from barbershop_core.model import AuditAction, Partner
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.promo import (
    MAX_BATCH,
    BatchTooLarge,
    EmptyBatch,
    PromoItemResult,
    RegisterPromoParticipant,
    RegisterPromoParticipants,
    parse_promo_registration,
    register_promo_participant,
    register_promo_participants,
)
from tests.conftest import World
from tests.unit.support import MASKED_PHONE, PHONE, audit_events, make_partner, register, rows
from tests.unit.test_promo import body, promo

OTHER = "+79111234568"


async def run(world: World, partner: Partner, items: list[Any], key: str | None = None) -> list[PromoItemResult]:
    return await register_promo_participants(RegisterPromoParticipants(items, partner, key, "req-1"), world.promo())


def client_ids(results: list[PromoItemResult]) -> list[int | None]:
    return [result.client_id for result in results]


async def test_each_participant_gets_its_result_in_order_and_a_bad_one_sinks_nothing(world: World) -> None:
    partner = await make_partner(world)

    results = await run(world, partner, [body(), "not an object", body(phone=OTHER), body(purchases=[])])

    assert [result.error is None for result in results] == [True, False, True, False]
    assert results[1].error is not None
    assert results[1].error.message == "Тело запроса должно быть JSON-объектом"
    assert results[3].error is not None
    assert results[3].error.message == "Нужна хотя бы одна покупка"
    assert results[0].client_id != results[2].client_id
    assert len(rows(world, "clients")) == 2
    assert len(rows(world, "purchases")) == 4


async def test_one_phone_twice_is_one_client_with_both_purchase_sets(world: World) -> None:
    partner = await make_partner(world)
    other_set = body(purchases=[{"name": "Пульт", "price": 5}])

    results = await run(world, partner, [body(), other_set])

    assert results[0].client_id == results[1].client_id
    assert not results[1].replayed
    assert [purchase.name for purchase in rows(world, "purchases")] == ["Стрижка", "Воск", "Пульт"]
    assert len(rows(world, "persons")) == 1


async def test_a_phone_registered_by_a_manager_is_that_client_and_gets_the_name_and_email(world: World) -> None:
    registered = await register(world)
    partner = await make_partner(world)

    results = await run(world, partner, [body()])

    assert results[0].client_id == registered.client_id
    [client] = rows(world, "clients")
    assert str(client.full_name) == "Иванов Иван Иванович"
    assert str(client.email) == "ivan@example.com"


async def test_a_batch_and_the_single_registration_share_the_replay_window(world: World) -> None:
    partner = await make_partner(world)
    single = await register_promo_participant(
        RegisterPromoParticipant(parse_promo_registration(body()), partner), world.promo()
    )

    results = await run(world, partner, [body()])

    assert results == [PromoItemResult(single.client_id, replayed=True)]
    assert len(rows(world, "purchases")) == 2


async def test_without_a_key_a_repeat_within_five_minutes_adds_nothing_and_after_it_adds_again(
    world: World,
) -> None:
    partner = await make_partner(world)
    first = await run(world, partner, [body(), body()])

    again = await run(world, partner, [body()])
    world.clock.advance(timedelta(minutes=6))
    later = await run(world, partner, [body()])

    assert first[1].replayed
    assert first[0].client_id == first[1].client_id == again[0].client_id == later[0].client_id
    assert again[0].replayed
    assert not later[0].replayed
    assert len(rows(world, "purchases")) == 4


async def test_with_a_key_a_retried_batch_replays_its_whole_answer(world: World) -> None:
    partner = await make_partner(world)
    items = [body(), "bad", body(phone=OTHER), body()]
    first = await run(world, partner, items, key="batch-1")

    again = await run(world, partner, items, key="batch-1")

    assert client_ids(again) == client_ids(first)
    assert [type(result.error) for result in again] == [type(result.error) for result in first]
    assert all(result.replayed for result in again if result.client_id is not None)
    assert len(rows(world, "purchases")) == 6  # the same body twice under a key is two registrations


async def test_with_a_key_a_changed_participant_is_refused_alone(world: World) -> None:
    partner = await make_partner(world)
    first = await run(world, partner, [body(), body(phone=OTHER)], key="batch-2")

    results = await run(world, partner, [body(), body(phone=OTHER, purchases=[{"name": "Др", "price": 1}])], "batch-2")

    assert results[0] == PromoItemResult(first[0].client_id, replayed=True)
    assert isinstance(results[1].error, IdempotencyKeyReused)


async def test_a_single_request_whose_key_looks_like_a_participants_of_a_batch_is_its_own(world: World) -> None:
    partner = await make_partner(world)
    batch = await run(world, partner, [body(), body(phone=OTHER)], key="order-7")

    same_body = await promo(world, partner, body(), key="order-7/0")
    other_body = await promo(world, partner, body(phone=OTHER, purchases=[{"name": "Др", "price": 1}]), key="order-7/1")
    again = await promo(world, partner, body(), key="order-7/0")

    assert not same_body.replayed  # not batch participant 0's answer
    assert same_body.client_id == batch[0].client_id  # the same phone: the same client, purchases again
    assert not other_body.replayed  # another body under "order-7/1" is not batch participant 1's key reused
    assert again.replayed  # its own key still replays its own first answer
    assert len(rows(world, "purchases")) == 4 + 2 + 1


@pytest.mark.parametrize("key", ["", "k" * 252, "a\nb"])
async def test_an_unusable_key_refuses_the_batch(world: World, key: str) -> None:
    partner = await make_partner(world)

    with pytest.raises(ValidationError, match="Некорректный заголовок Idempotency-Key"):
        await run(world, partner, [body()], key=key)


async def test_an_empty_or_oversized_batch_is_refused_before_anything_is_stored(world: World) -> None:
    partner = await make_partner(world)

    with pytest.raises(EmptyBatch, match="Нужен хотя бы один участник"):
        await run(world, partner, [])
    with pytest.raises(BatchTooLarge, match="Не больше 1000 участников в одном запросе"):
        await run(world, partner, [body()] * (MAX_BATCH + 1))
    assert rows(world, "clients") == []


async def test_a_thousand_participants_are_one_transaction(world: World) -> None:
    partner = await make_partner(world)
    commits = world.db.commits
    items = [body(phone=f"+7911{index:07d}") for index in range(MAX_BATCH)]

    results = await run(world, partner, items)

    assert len(set(client_ids(results))) == MAX_BATCH
    assert world.db.commits == commits + 1


async def test_each_registration_and_replay_is_audited_with_a_masked_phone(world: World) -> None:
    partner = await make_partner(world)

    await run(world, partner, [body(), body()])

    events = [event for event in audit_events(world) if event.action.name.startswith("PROMO")]
    assert [event.action for event in events] == [AuditAction.PROMO_REGISTERED, AuditAction.PROMO_REPLAYED]
    assert {event.masked_phone for event in events} == {MASKED_PHONE}
    assert all(event.request_id == "req-1" for event in events)


async def test_an_outage_is_a_temporary_error_and_stores_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    partner = await make_partner(world)
    world.db.fail("promo.participants", StorageUnavailable("down"))

    with pytest.raises(TemporaryError):
        await run(world, partner, [body()])

    assert rows(world, "clients") == []
    assert PHONE not in caplog.text
