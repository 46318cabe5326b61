"""The "peer" of UC04 for ``uc04_bench.py``: what a user would write instead of the product.

One Litestar endpoint, ``POST /api/registrations``: parse ``{phone, first_name}`` (the
phone normalised to E.164 with ``phonenumbers``, as the product does), hash a random
temporary password with argon2id off the event loop (``run_in_executor`` on a pool of as
many threads as CPUs), seal it with AES-GCM, and write the same rows the product writes
for a registration — person, client, welcome notification and its first status change,
and the six audit events — into the same migrated schema in ONE statement (a CTE)
through psycopg's async pool. No authentication, no reference-data checks, no queue.
Plus ``GET /health/live`` for the loop-lag probe.

Run by the bench with the same uvicorn options as ``barbershop serve`` (one process,
``log_config=None``, no server header; uvloop / httptools when installed)::

    python bench/peer_app.py --port 8001 --database-url postgresql://postgres@127.0.0.1:5432/db

Not a test and not part of the product.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import argon2
import msgspec
import phonenumbers
import uvicorn
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from psycopg import errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

ACTOR: Final = "manager:1"
TTL: Final = "72 hours"

# Person, client, notification (+ its first status change) and the six audit events of
# UC04 (phone_checked, credentials_issued, person_created, client_created,
# notification_scheduled, registration_completed) in one round trip.
REGISTER: Final = """
WITH person AS (
    INSERT INTO persons (phone_number, login, first_name, password_hash, must_change_password,
                         temporary_password_expires_at, created_at)
    VALUES (%(phone)s, %(phone)s, %(first_name)s, %(hash)s, true, now() + interval '72 hours', now())
    RETURNING id
), client AS (
    INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts)
    SELECT id, now(), %(actor)s, 'manager', NULL, NULL, '{}'::jsonb FROM person
    RETURNING id, person_id
), notification AS (
    INSERT INTO client_notifications (client_id, channel, template_code, kind, status, created_at,
                                      next_attempt_at, secret, secret_expires_at)
    SELECT id, 'local', 'REG_WELCOME', 'service', 'scheduled', now(), now(), %(secret)s,
           now() + interval '72 hours'
    FROM client
    RETURNING id
), history AS (
    INSERT INTO notification_status_changes (notification_id, position, status, at, reason)
    SELECT id, 0, 'scheduled', now(), NULL FROM notification
), trail AS (
    INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                              masked_phone, details)
    SELECT event.action, %(actor)s, now(), %(request_id)s, client.person_id,
           CASE WHEN event.of_client THEN client.id END,
           CASE WHEN event.of_notification THEN notification.id END,
           %(masked)s, event.details
    FROM client, notification, (VALUES
        (1, 'phone_checked', false, false, '{"exists": "false"}'::jsonb),
        (2, 'credentials_issued', false, false, '{}'::jsonb),
        (3, 'person_created', false, false, '{}'::jsonb),
        (4, 'client_created', true, false, '{}'::jsonb),
        (5, 'notification_scheduled', true, true, %(scheduled)s),
        (6, 'registration_completed', true, false, '{}'::jsonb)
    ) AS event (position, action, of_client, of_notification, details)
    ORDER BY event.position
)
SELECT client.person_id, client.id, notification.id FROM client, notification
"""


class Registration(msgspec.Struct):
    phone: str
    first_name: str


class Registered(msgspec.Struct):
    person_id: int
    client_id: int
    notification_id: int
    login: str


def e164(raw: str, refused_with: int = 422) -> str:
    """The phone in E.164 as the product normalises it (default region RU), else ``refused_with``."""
    try:
        number = phonenumbers.parse(raw, "RU")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise HTTPException(status_code=refused_with, detail="invalid phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _masked(e164: str) -> str:
    return f"{e164[:5]}{'*' * max(len(e164) - 7, 0)}{e164[-2:]}"


@post("/api/registrations", status_code=201)
async def register(data: Registration, state: State) -> Registered:
    phone = e164(data.phone)
    first_name = " ".join(data.first_name.split())
    if not 0 < len(first_name) <= 50:
        raise HTTPException(status_code=422, detail="invalid first name")
    password = secrets.token_urlsafe(9)
    loop = asyncio.get_running_loop()
    password_hash = await loop.run_in_executor(state.hash_pool, state.hasher.hash, password)
    nonce = os.urandom(12)
    sealed = b"\x01" + nonce + state.aead.encrypt(nonce, password.encode(), b"\x01")
    parameters: dict[str, Any] = {
        "phone": phone,
        "first_name": first_name,
        "hash": password_hash,
        "actor": ACTOR,
        "secret": sealed,
        "request_id": secrets.token_hex(8),
        "masked": _masked(phone),
        "scheduled": Jsonb({"channel": "local", "template": "REG_WELCOME"}),
    }
    pool: AsyncConnectionPool = state.pool
    try:
        async with pool.connection() as connection:
            row = await (await connection.execute(REGISTER, parameters)).fetchone()
    except errors.UniqueViolation:
        raise HTTPException(status_code=409, detail="client exists") from None
    assert row is not None  # noqa: S101 -- the CTE always returns its one row
    return Registered(person_id=row[0], client_id=row[1], notification_id=row[2], login=phone)


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


def create_app(database_url: str, time_cost: int, memory_kib: int, parallelism: int, pool_size: int) -> Litestar:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False)
        await pool.open(wait=True)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2") as hash_pool:
            app.state.pool = pool
            app.state.hash_pool = hash_pool
            try:
                yield
            finally:
                await pool.close()

    hasher = argon2.PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=argon2.Type.ID
    )
    state = State({"hasher": hasher, "aead": AESGCM(AESGCM.generate_key(bit_length=256))})
    return Litestar(route_handlers=[register, live], lifespan=[lifespan], state=state, debug=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="libpq URL of a migrated barbershop database")
    parser.add_argument("--time-cost", type=int, default=2)
    parser.add_argument("--memory-kib", type=int, default=19 * 1024)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    # As a plain `uvicorn` run would: INFO to stderr, access lines included.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(args.database_url, args.time_cost, args.memory_kib, args.parallelism, args.pool_size)
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, log_config=None, server_header=False)


if __name__ == "__main__":
    main()
