"""CPU and wall time per hot-path operation of the core on PostgreSQL, in one process: a profiling aid.

Not a benchmark of the product (no HTTP, no argon2, no provider): it isolates what the
use cases and the SQL adapter cost — the part issue #10 reduced — so two revisions can be
compared on the same machine in the same minute. It runs the core directly with the
tests' fast fakes for hashing and the channel:

* ``registration`` — UC04 ``register_client`` of a new phone with two consents;
* ``send`` — ``attempt_delivery`` of a due welcome notification (claim + record);
* ``send, N at once`` — ``--batch`` sends started together on one ``Deliveries`` (a busy
  worker: their claims and records share transactions), per send;
* ``partner single`` — the partner lookup and ``register_promo_participant`` (two purchases).

Usage: ``.venv/bin/python bench/hot_path_cost.py [--operations 300]`` from the repository root
(the tests package provides the fakes). It creates and drops its own database.
``--sqlite`` runs the same on a fresh SQLite file, twice in one run: with the engine of the
product (statements on the loop's thread) and with aiosqlite's own thread per statement
(what the product used before), so the two compare under the same load of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import attrs
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import MANAGER, World  # noqa: E402
from tests.fakes import ScriptedChannel  # noqa: E402

from barbershop_adapters.sqlalchemy.engine import DatabaseSettings, create_engine  # noqa: E402 -- after the path
from barbershop_adapters.sqlalchemy.sessions import SqlSessionReader  # noqa: E402
from barbershop_adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWorkFactory  # noqa: E402
from barbershop_core.use_cases.accounts import (  # noqa: E402
    AuthenticatePartner,
    CreatePartner,
    authenticate_partner,
    create_partner,
)
from barbershop_core.use_cases.delivery import AttemptDelivery, Deliveries, attempt_delivery  # noqa: E402
from barbershop_core.use_cases.promo import (  # noqa: E402
    PromoDeps,
    PromoRegistration,
    PurchaseLine,
    RegisterPromoParticipant,
    register_promo_participant,
)
from barbershop_core.use_cases.registration import RegisterClient, register_client  # noqa: E402
from barbershop_core.values import Email, FullName, Money, PhoneNumber  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def timed(label: str, operation: Callable[[int], Awaitable[object]], count: int, per: int = 1) -> None:
    """``per``: operations in one call of ``operation`` (the figures are per operation)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(count):
        await operation(number)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count *= per
    print(f"{label:>16}: {1000 * cpu / count:6.2f} ms CPU, {1000 * wall / count:6.2f} ms wall per operation")


def aiosqlite_engine(url: str) -> AsyncEngine:
    """The product's SQLite engine as it was before: every call a hop to aiosqlite's thread."""
    from sqlalchemy import event  # noqa: PLC0415 -- only this comparison needs it

    from barbershop_adapters.sqlalchemy import engine as product  # noqa: PLC0415

    engine = create_async_engine(url, connect_args={"timeout": product.SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(engine.sync_engine, "connect", product._configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", product._begin_immediate)
    return engine


async def run(url: str, count: int, batch: int, *, threaded_sqlite: bool = False) -> None:
    world = World()
    world.channels.channels["sms"] = ScriptedChannel()
    engine = aiosqlite_engine(url) if threaded_sqlite else create_engine(DatabaseSettings(url))
    uow_factory = SqlAlchemyUnitOfWorkFactory(engine, world.queue)
    registration = attrs.evolve(world.registration(), uow_factory=uow_factory)
    delivery = attrs.evolve(world.delivery(), uow_factory=uow_factory)
    notification_ids: list[int] = []

    async def register(number: int) -> None:
        command = RegisterClient(
            phone=f"+7915{number:07d}", first_name="Иван", context=MANAGER, consents={"personal_data": True}
        )
        result = await register_client(command, registration)
        if result.notification_id is None:
            raise SystemExit("the registration made no welcome notification")
        notification_ids.append(result.notification_id)

    partners = attrs.evolve(world.partners(), uow_factory=uow_factory, sessions=SqlSessionReader(engine))
    created = await create_partner(CreatePartner("bench"), partners)
    promo = PromoDeps(uow_factory=uow_factory, clock=world.clock)

    async def partner_single(number: int) -> None:
        partner = await authenticate_partner(AuthenticatePartner(created.api_key), partners)
        participant = PromoRegistration(
            FullName.parse("Иванов Иван"),
            PhoneNumber.parse_strict_e164(f"+7916{number:07d}"),
            Email.parse("ivan@example.com"),
            (PurchaseLine("Шампунь", Money(Decimal("10.50"))), PurchaseLine("Бальзам", Money(Decimal("3")))),
        )
        await register_promo_participant(RegisterPromoParticipant(participant, partner), promo)

    for number in range(9_000_000, 9_000_030):  # warm the statement caches and the pool
        await register(number)
        await partner_single(number)
    for notification_id in notification_ids:
        await attempt_delivery(AttemptDelivery(notification_id), delivery)
    notification_ids.clear()
    await timed("registration", register, count)
    await timed("send", lambda number: attempt_delivery(AttemptDelivery(notification_ids[number]), delivery), count)
    if batch > 1:
        notification_ids.clear()
        for number in range(count):
            await register(1_000_000 + number)
        deliveries = Deliveries(delivery)

        async def sends_together(number: int) -> None:
            await asyncio.gather(
                *(deliveries.attempt(i) for i in notification_ids[number * batch : (number + 1) * batch])
            )

        await timed(f"send, {batch} at once", sends_together, count // batch, per=batch)
    await timed("partner single", partner_single, count)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=300)
    parser.add_argument("--batch", type=int, default=20, help="sends started together (1: skip that figure)")
    parser.add_argument("--sqlite", action="store_true", help="on SQLite: the product's engine and aiosqlite's")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="hot-path-") as directory:
            for threaded in (False, True, False, True):
                url = f"sqlite+aiosqlite:///{directory}/{uuid.uuid4().hex[:8]}.sqlite3"
                env = {**os.environ, "BARBERSHOP_DATABASE_URL": url, "BARBERSHOP_SECRET_KEY": "x" * 40}
                upgrade = [sys.executable, "-m", "barbershop_entrypoints.cli", "db", "upgrade"]
                subprocess.run(upgrade, env=env, check=True, capture_output=True)  # noqa: S603 -- our own CLI
                print(f"SQLite, {'aiosqlite thread per call' if threaded else 'the product engine'}:")
                asyncio.run(run(url, args.operations, args.batch, threaded_sqlite=threaded))
        return
    database = f"hot_path_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        env = {**os.environ, "BARBERSHOP_DATABASE_URL": url, "BARBERSHOP_SECRET_KEY": "x" * 40}
        upgrade = [sys.executable, "-m", "barbershop_entrypoints.cli", "db", "upgrade"]
        subprocess.run(upgrade, env=env, check=True, capture_output=True)  # noqa: S603 -- our own CLI, fixed arguments
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        asyncio.run(run(url, args.operations, args.batch))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
