"""The "peer" of the partner single for ``partner_bench.py``: what a user would write instead.

One Litestar endpoint, ``POST /api/register-client`` of seed 002, written the plain way:

- the ``X-API-Key`` header, its HMAC-SHA256 digest (the product's pepper, passed in) looked
  up in ``partners`` — one statement on a pooled connection, as the product checks a key;
- the body decoded by Litestar into a ``msgspec`` struct (``fio``, ``phone``, ``email``,
  ``purchases``), the phone normalised to E.164 with ``phonenumbers``;
- the rows of ``bench/sql/minimal.sql`` — person, client, the purchases, the idempotency
  record of the body's fingerprint and the audit event — written in ONE statement (a CTE)
  through psycopg's async pool, answered ``{"client_id": N}``.

No tolerant reader, no Russian messages per field, no replay, no clash handling, no request
id, no log line: the least a Python server on this stack does per request. Plus
``GET /health/live`` for the bench's wait.

Run by the bench with the same uvicorn options as ``barbershop serve`` (one process,
``log_config=None``, no server header; uvloop / httptools when installed)::

    python bench/partner_peer_app.py --port 8001 --database-url postgresql://… --pepper-hex …

Not a test and not part of the product.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Final

import msgspec
import uvicorn
from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException
from peer_app import e164
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

PARTNER_BY_DIGEST: Final = "SELECT id, name FROM partners WHERE key_digest = %s AND revoked_at IS NULL"

REGISTER: Final = """
WITH person AS (
    INSERT INTO persons (phone_number, login, first_name, password_hash, must_change_password,
                         temporary_password_expires_at, created_at)
    VALUES (%(phone)s, %(phone)s, %(first_name)s, NULL, false, NULL, now())
    RETURNING id
), client AS (
    INSERT INTO clients (person_id, registered_at, registered_by, source, full_name, email, channel_accounts)
    SELECT id, now(), %(scope)s, %(source)s, %(fio)s, %(email)s, '{}'::jsonb FROM person
    RETURNING id, person_id
), bought AS (
    INSERT INTO purchases (client_id, partner_id, name, price, registered_at)
    SELECT client.id, %(partner_id)s, item.name, item.price, now()
    FROM client, unnest(%(names)s::text[], %(prices)s::numeric[]) AS item (name, price)
), record AS (
    INSERT INTO idempotency_records (scope, key, fingerprint, created_at, expires_at, state, result_id)
    SELECT %(scope)s, %(key)s, %(fingerprint)s, now(), now() + interval '5 minutes', 'completed', id FROM client
), trail AS (
    INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                              masked_phone, details)
    SELECT 'promo_registered', %(scope)s, now(), NULL, person_id, id, NULL, %(masked)s, %(details)s FROM client
)
SELECT id FROM client
"""


class Purchase(msgspec.Struct):
    name: str
    price: Decimal


class Participant(msgspec.Struct):
    fio: str
    phone: str
    purchases: list[Purchase]
    email: str | None = None


class Registered(msgspec.Struct):
    client_id: int


async def _partner(request: Request[Any, Any, Any], state: State) -> tuple[int, str]:
    key = request.headers.get("x-api-key")
    if not key:
        raise NotAuthorizedException
    digest = hmac.new(state.pepper, key.encode(), hashlib.sha256).hexdigest()
    pool: AsyncConnectionPool = state.pool
    async with pool.connection() as connection:
        row = await (await connection.execute(PARTNER_BY_DIGEST, (digest,))).fetchone()
    if row is None:
        raise NotAuthorizedException
    return int(row[0]), str(row[1])


@post("/api/register-client", status_code=200)
async def register_client(request: Request[Any, Any, Any], data: Participant, state: State) -> Registered:
    partner_id, partner_name = await _partner(request, state)
    phone = e164(data.phone, refused_with=400)
    if not data.purchases:
        raise HTTPException(status_code=400, detail="no purchases")
    fingerprint = hashlib.sha256(await request.body()).hexdigest()
    scope = f"partner:{partner_id}"
    parameters: dict[str, Any] = {
        "phone": phone,
        "first_name": data.fio.split()[1] if len(data.fio.split()) > 1 else data.fio,
        "fio": data.fio,
        "email": data.email,
        "scope": scope,
        "source": f"partner:{partner_name}",
        "partner_id": partner_id,
        "names": [item.name for item in data.purchases],
        "prices": [item.price for item in data.purchases],
        "key": f"auto:{fingerprint}",
        "fingerprint": fingerprint,
        "masked": f"{phone[:5]}{'*' * max(len(phone) - 7, 0)}{phone[-2:]}",
        "details": Jsonb({"purchases": str(len(data.purchases))}),
    }
    pool: AsyncConnectionPool = state.pool
    async with pool.connection() as connection:
        row = await (await connection.execute(REGISTER, parameters)).fetchone()
    assert row is not None  # noqa: S101 -- the CTE always returns its one row
    return Registered(client_id=int(row[0]))


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


def create_app(database_url: str, pepper: bytes, pool_size: int) -> Litestar:
    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False)
        await pool.open(wait=True)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return Litestar(
        route_handlers=[register_client, live], lifespan=[lifespan], state=State({"pepper": pepper}), debug=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="libpq URL of a migrated barbershop database")
    parser.add_argument("--pepper-hex", required=True, help="the partner-keys key of the product, in hex")
    parser.add_argument("--pool-size", type=int, default=16)
    args = parser.parse_args()
    # As a plain `uvicorn` run would: INFO to stderr, access lines included.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(args.database_url, bytes.fromhex(args.pepper_hex), args.pool_size)
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, log_config=None, server_header=False)


if __name__ == "__main__":
    main()
