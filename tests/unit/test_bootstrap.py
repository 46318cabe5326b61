"""``build_container(settings, **overrides)``: the one wiring, used by production and by the tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from barbershop_adapters.argon2_hasher import Argon2Hasher
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory
from barbershop_core.use_cases.delivery import SENDS_OF_REGISTRATIONS, Batching
from barbershop_entrypoints.bootstrap import build_container
from barbershop_entrypoints.settings import QueueConfig, SecurityConfig, Settings
from barbershop_entrypoints.tasks import batching_for, build_broker
from tests.conftest import UNIT_SETTINGS, World
from tests.fakes import FakeClock

SECRET = "a-secret-of-at-least-thirty-two-characters"


def test_the_ports_a_world_overrides_are_the_ones_its_bundles_carry() -> None:
    world = World()

    deps = world.client_accounts()

    assert (deps.hasher, deps.clock, deps.attempts, deps.digester) == (
        world.hasher,
        world.clock,
        world.attempts,
        world.digester,
    )
    assert deps.policy == UNIT_SETTINGS.registration_policy()
    assert world.delivery().channels is world.channels


def test_what_is_overridden_is_not_built() -> None:
    container = World().container

    with pytest.raises(RuntimeError, match="overridden"):
        _ = container.engine
    assert container.redis is None


def test_a_fake_swapped_into_a_world_reaches_its_bundles() -> None:
    world = World()
    other = FakeClock()

    world.clock = other

    assert world.managers().clock is other


def test_a_port_swapped_into_the_container_reaches_the_partner_sign_ups() -> None:
    world = World()
    before = world.container.promo()
    other = FakeClock()

    world.clock = other
    after = world.container.promo()

    assert after.sign_ups is not None
    assert after.sign_ups is not before.sign_ups
    assert after.sign_ups.deps.clock is other
    assert world.container.promo().sign_ups is after.sign_ups  # built again only when a port changed


async def test_without_overrides_every_adapter_is_built_from_settings_and_closed(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path, security=SecurityConfig(secret_key=SECRET, hash_threads=1)))
    try:
        assert isinstance(container.engine, AsyncEngine)
        assert isinstance(container.uow_factory, SqlAlchemyUnitOfWorkFactory)
        assert isinstance(container.hasher, Argon2Hasher)
        assert container.policy.default_channel == "local"
    finally:
        await container.aclose()


async def test_closing_a_server_that_sends_itself_waits_for_the_sends_its_sends_hand_off(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path, security=SecurityConfig(secret_key=SECRET, hash_threads=1)))
    finished: list[int] = []

    async def send(generation: int) -> None:
        await asyncio.sleep(0.02)
        if generation < 3:  # a send that fails for good hands off its fallback as it finishes
            await handed_off.kiq(generation + 1)
        await asyncio.sleep(0.02)
        finished.append(generation)

    handed_off = container.broker.register_task(send, task_name="test.send")
    await container.broker.startup()
    await handed_off.kiq(0)
    await asyncio.sleep(0)

    await container.aclose()

    assert sorted(finished) == [0, 1, 2, 3]


async def test_a_send_failing_while_the_server_stops_leaves_the_others_waited_for_and_the_broker_shut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    container = build_container(Settings(data_dir=tmp_path, security=SecurityConfig(secret_key=SECRET, hash_threads=1)))
    broker = container.broker
    finished: list[str] = []

    async def send(name: str) -> None:
        await asyncio.sleep(0.02)
        finished.append(name)

    task = broker.register_task(send, task_name="test.send")
    await broker.startup()
    await task.kiq("a")
    wait_all, shut = broker.wait_all, []

    async def failing_once() -> None:
        monkeypatch.setattr(broker, "wait_all", wait_all)
        raise RuntimeError("a receiver's bug")

    async def shutdown() -> None:
        shut.append(True)

    monkeypatch.setattr(broker, "wait_all", failing_once)
    monkeypatch.setattr(broker, "shutdown", shutdown)
    await asyncio.sleep(0)

    await container.aclose()

    assert (finished, shut) == (["a"], [True])
    assert "a send failed while the server was stopping" in caplog.text


def test_a_server_that_sends_itself_batches_for_one_send_per_registration_and_a_worker_for_its_own() -> None:
    in_process = build_broker(Settings(security=SecurityConfig(secret_key=SECRET, hash_threads=1)))
    on_redis = build_broker(
        Settings(
            security=SecurityConfig(secret_key=SECRET, hash_threads=1),
            queue=QueueConfig(broker_url="redis://127.0.0.1:6379/15"),
        )
    )

    assert batching_for(in_process) == SENDS_OF_REGISTRATIONS
    assert batching_for(on_redis) == Batching()
    assert SENDS_OF_REGISTRATIONS.quiet_seconds > Batching().quiet_seconds
