"""The event loop's CPU per request through the ASGI app in-process: no socket, no uvicorn, no load generator.

A profiling aid beside ``hot_path_cost.py`` (the core alone) and the load benches (the whole
server): it drives ``create_app`` with hand-made ASGI messages, one request at a time, and
counts the loop thread's own CPU (``time.thread_time()``), so the hash threads, other
processes and a busy machine's preemption do not enter the figure (``docs/performance.md``:
what py-spy's GIL samples overstate). Each figure is the mean over ``--requests`` after a
warm-up:

* ``GET /health/live`` — Litestar and the middlewares alone;
* ``GET /api/channels`` without a token — refused by the bearer check (401);
* ``GET /api/channels`` — the token, the session check, one read and the answer;
* ``POST /api/registrations`` with a bad phone — authenticated, refused by the core (422);
* ``POST /api/registrations`` — UC04 with its welcome message (the embedded default sends it
  in-process: its claim and record are counted too, unbatched at one request in flight).

Usage: ``.venv/bin/python bench/asgi_cost.py [--requests 1000]`` from the repository root; it
runs the embedded default in a temporary data directory (``--database-url`` for PostgreSQL
with ``--broker-url`` for the hand-off to Redis). Not a test: nothing in CI runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import harness
import uvloop

LOGIN, PASSWORD = "bench-admin", "bench-password-2026"
Headers = Sequence[tuple[bytes, bytes]]
App = Any
"""The Litestar app, called as an ASGI application."""


async def call(app: App, method: str, path: str, body: object = None, headers: Headers = ()) -> tuple[int, bytes]:
    """One request through the ASGI app: its status and body."""
    raw = b"" if body is None else json.dumps(body).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    delivered = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


@contextlib.asynccontextmanager
async def running(app: App) -> AsyncIterator[None]:
    """The app's lifespan: started before the block, shut down after it."""
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await messages.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()
        elif message["type"].startswith("lifespan.shutdown"):
            stopped.set()

    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    await messages.put({"type": "lifespan.startup"})
    await started.wait()
    try:
        yield
    finally:
        await messages.put({"type": "lifespan.shutdown"})
        await stopped.wait()
        await lifespan


async def measure(app: App, requests: int, warmup: int) -> list[tuple[str, float, int]]:
    status, body = await call(app, "POST", "/api/auth/login", {"login": LOGIN, "password": PASSWORD})
    if status != 200:
        raise SystemExit(f"login failed: {status} {body[:200]!r}")
    bearer = [(b"authorization", f"Bearer {json.loads(body)['access_token']}".encode())]
    phones = (f"+7915{number:07d}" for number in range(10**7))
    cases: list[tuple[str, Callable[[], Awaitable[tuple[int, bytes]]]]] = [
        ("GET /health/live", lambda: call(app, "GET", "/health/live")),
        ("GET /api/channels without a token (401)", lambda: call(app, "GET", "/api/channels")),
        ("GET /api/channels (token, session check, one read)", lambda: call(app, "GET", "/api/channels", None, bearer)),
        (
            "POST /api/registrations, a bad phone (422)",
            lambda: call(app, "POST", "/api/registrations", {"phone": "+7000", "first_name": "Иван"}, bearer),
        ),
        (
            "POST /api/registrations (with its send)",
            lambda: call(app, "POST", "/api/registrations", {"phone": next(phones), "first_name": "Иван"}, bearer),
        ),
    ]
    figures = []
    for name, request in cases:
        for _ in range(warmup):
            await request()
        await asyncio.sleep(0.3)  # what the warm-up handed off (sends) is done
        started = time.thread_time()
        for _ in range(requests):
            status, _ = await request()
        await asyncio.sleep(0.3)  # the measured requests' sends run on this loop too
        figures.append((name, (time.thread_time() - started) / requests * 1000, status))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per case")
    parser.add_argument("--warmup", type=int, default=100, help="requests per case not measured")
    parser.add_argument("--database-url", help="PostgreSQL (sqlalchemy URL) instead of the embedded SQLite")
    parser.add_argument("--broker-url", help="Redis for the hand-off (with --database-url)")
    args = parser.parse_args()
    harness.require_loopback(args.database_url, args.broker_url)
    with tempfile.TemporaryDirectory(prefix="asgi-cost-") as data:
        extra = {
            "BARBERSHOP_SECRET_KEY": harness.SECRET_KEY,
            "BARBERSHOP_DATA_DIR": data,
            "BARBERSHOP_LOCAL_CHANNEL": "true",
            "BARBERSHOP_LOCAL_CHANNEL_ECHO": "false",
        }
        if args.database_url:
            extra["BARBERSHOP_DATABASE_URL"] = args.database_url
        if args.broker_url:
            extra |= {"BARBERSHOP_BROKER_URL": args.broker_url, "BARBERSHOP_BROKER_STREAM": f"asgi-cost-{os.getpid()}"}
        env = harness.clean_env(extra)
        harness.cli(env, "db", "upgrade")
        harness.cli(env, "manager", "create", "--login", LOGIN, stdin=f"{PASSWORD}\n")
        os.environ.clear()
        os.environ.update(env)
        from barbershop_entrypoints.http.app import create_app  # noqa: PLC0415 -- after the environment is set

        async def run() -> list[tuple[str, float, int]]:
            app: Any = create_app()
            async with running(app):
                return await measure(app, args.requests, args.warmup)

        figures = uvloop.run(run())
    facts = harness.machine()
    print("machine: " + ", ".join(f"{name} {value}" for name, value in facts.items()))
    print(f"load average (1, 5, 15 min) after: {harness.load_average()}")
    print(f"database: {'PostgreSQL' if args.database_url else 'embedded SQLite'}; {args.requests} requests per case")
    for name, milliseconds, status in figures:
        print(f"{name:55} {milliseconds:6.3f} ms of the loop's CPU ({status})")
    if any(status >= 500 for _, _, status in figures):
        sys.exit(1)


if __name__ == "__main__":
    main()
