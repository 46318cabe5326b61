"""Throughput and latency of UC04 ``POST /api/registrations`` against two limits, in one run.

What it does, in order (see ``bench/README.md``):

1. the **argon2id ceiling**: hashes with argon2-cffi at the server's parameters (the
   settings' defaults) on as many threads as CPUs for ``--ceiling-seconds`` → hashes/s;
   measured again at the end (a shared machine drifts), the higher of the two is the limit;
2. creates a fresh PostgreSQL database (``--admin-url``), migrates it with
   ``barbershop db upgrade``; it is dropped at the end, whatever happens;
3. creates a manager with ``barbershop manager create`` (password piped on stdin), starts
   ``barbershop serve`` on a free loopback port — on that database (or, ``--sqlite``, on
   the embedded SQLite default), with the Redis hand-off (``--broker-url``, a stream of
   the run's own) and no worker, or with the queue inside the server
   (``--in-process-queue``) — logs in, and changes the password if the API asks;
4. for each concurrency (``--concurrencies 8,2``, or ``--concurrency``): that many
   requests in flight, each a new phone (``+7913…`` counting up), ``--warmup`` seconds not
   measured, then ``--duration`` seconds measured → registrations/s, p50/p99, non-2xx by
   status; meanwhile a probe thread sends ``GET /health/live`` every ``--probe-interval``
   seconds on a connection of its own → p50/p99 of its latency (the event loop's lag);
5. the **peer** (``bench/peer_app.py``: Litestar under uvicorn with the same options,
   argon2id off the loop, the same rows in one CTE through psycopg's async pool) on the
   same PostgreSQL schema, driven the same way;
6. prints the table (figures, limits, ratios, the machine, the load average before and
   after); ``--json FILE`` also writes the figures.

``--py-spy FILE`` (repeatable; ``.svg`` flame graph, ``.txt`` collapsed stacks) records
the server with ``py-spy --nonblocking`` during the first measured window.

It only ever talks to 127.0.0.1. It is not a test: nothing in CI runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import harness
import httpx

from barbershop_entrypoints.settings import Settings

PATH = "/api/registrations"
LIVE = "/health/live"
LOGIN = "bench"
PASSWORD = "bench-password-" + "p" * 16
NEW_PASSWORD = "bench-changed-" + "q" * 16


# --- parameters and results -------------------------------------------------------------------


@dataclass
class Load:
    """One measured window against one server at one concurrency."""

    target: str
    concurrency: int
    registrations: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    lag_p50_ms: float = 0.0
    lag_p99_ms: float = 0.0
    lag_max_ms: float = 0.0
    lag_samples: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of CPU per registration in the measured window: the server, PostgreSQL,
    Redis, this bench, other processes, and the idle CPU."""

    @property
    def rate(self) -> float:
        return self.registrations / self.seconds if self.seconds else 0.0


@dataclass
class Ceiling:
    threads: int
    hashes: int
    seconds: float
    time_cost: int
    memory_kib: int
    parallelism: int

    @property
    def rate(self) -> float:
        return self.hashes / self.seconds if self.seconds else 0.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/15", help="Redis for the hand-off")
    parser.add_argument("--in-process-queue", action="store_true", help="no broker: the server sends itself")
    parser.add_argument("--sqlite", action="store_true", help="the server on the embedded SQLite default")
    parser.add_argument("--pool-size", type=int, default=10, help="BARBERSHOP_DB_POOL_SIZE, and the peer's pool")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--concurrencies", help="several, one window each, e.g. 8,2 (overrides --concurrency)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured, per window")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured, per window")
    parser.add_argument("--probe-interval", type=float, default=0.02, help="seconds between GET /health/live")
    parser.add_argument("--ceiling-seconds", type=float, default=10.0, help="argon2id ceiling run")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer app")
    parser.add_argument("--py-spy", action="append", type=Path, default=[], help="record the server (.svg/.txt)")
    parser.add_argument("--spy-gil", action="store_true", help="--py-spy keeps only samples holding the GIL")
    parser.add_argument("--spy-rate", type=int, default=100, help="--py-spy samples per second")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    harness.require_loopback(args.admin_url, args.broker_url)
    args.levels = [int(level) for level in args.concurrencies.split(",")] if args.concurrencies else [args.concurrency]
    if any(level < 1 for level in args.levels):
        parser.error("concurrency must be at least 1")
    return args


# --- the argon2id ceiling ---------------------------------------------------------------------


def argon2_ceiling(settings: Settings, seconds: float) -> Ceiling:
    """Hashes/s at the server's argon2id parameters on one thread per CPU (argon2-cffi frees the GIL)."""
    hasher = argon2.PasswordHasher(
        time_cost=settings.security.argon2_time_cost,
        memory_cost=settings.security.argon2_memory_kib,
        parallelism=settings.security.argon2_parallelism,
        type=argon2.Type.ID,
    )
    threads = os.cpu_count() or 1
    deadline = time.perf_counter() + seconds

    def hash_until_deadline() -> int:
        count = 0
        while time.perf_counter() < deadline:
            hasher.hash(secrets.token_urlsafe(9))
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        counts = list(pool.map(lambda _: hash_until_deadline(), range(threads)))
    elapsed = time.perf_counter() - started
    return Ceiling(
        threads,
        sum(counts),
        elapsed,
        settings.security.argon2_time_cost,
        settings.security.argon2_memory_kib,
        settings.security.argon2_parallelism,
    )


# --- the load and the probe -------------------------------------------------------------------


def phones() -> Iterator[str]:
    """Distinct valid Russian mobile numbers: ``+7913`` and seven digits, counting up."""
    return (f"+7913{number:07d}" for number in itertools.count())


class LagProbe:
    """``GET /health/live`` every ``interval`` seconds from a thread and a connection of its own.

    The request is written by hand on a kept-alive socket and only the status line and
    ``Content-Length`` are read back: ~0.17 ms of CPU per probe here, against ~1.2 ms
    through httpx. At 50 probes a second the probe shares the server's two CPUs, so httpx
    took ~0.7–0.9 ms of CPU per registration from the server (``docs/performance.md``)."""

    def __init__(self, base_url: str, interval: float) -> None:
        self._address = urllib.parse.urlsplit(base_url)
        self._interval = interval
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="lag-probe", daemon=True)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        host, port = self._address.hostname or "127.0.0.1", self._address.port or 80
        request = f"GET {LIVE} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        connection: socket.socket | None = None
        next_at = time.perf_counter()
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if connection is None:
                    connection = socket.create_connection((host, port), timeout=10.0)
                    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.sendall(request)
                status = _read_answer(connection)
            except (OSError, ValueError, IndexError):  # a garbled answer counts as a failure too
                status = None
                if connection is not None:
                    connection.close()
                connection = None
            if status == HTTPStatus.OK:
                self.latencies.append(time.perf_counter() - started)
            else:
                self.failures += 1
            next_at += self._interval
            self._stop.wait(max(next_at - time.perf_counter(), 0.0))
        if connection is not None:
            connection.close()


def _read_answer(connection: socket.socket) -> int:
    """The status of one HTTP/1.1 answer with a ``Content-Length``, its body read and dropped."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            raise OSError("closed")
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(
        (
            int(value)
            for name, _, value in (line.partition(b":") for line in lines[1:])
            if name.strip().lower() == b"content-length"
        ),
        None,
    )
    if length is None:
        raise OSError("no Content-Length")
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise OSError("closed")
        body += chunk
    if len(body) > length:
        raise OSError("more than one answer")  # one request in flight: nothing else may follow
    return int(lines[0].split(b" ", 2)[1])


async def _drive(
    client: aiohttp.ClientSession, numbers: Iterator[str], concurrency: int, seconds: float
) -> tuple[list[float], Counter[str], float]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    until = started + seconds

    async def worker() -> None:
        while time.perf_counter() < until:
            body = {"phone": next(numbers), "first_name": "Иван"}
            sent = time.perf_counter()
            try:
                async with client.post(PATH, json=body) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                continue
            if 200 <= status < 300:
                latencies.append(time.perf_counter() - sent)
            else:
                errors[str(status)] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


async def measure(
    target: str,
    pid: int,
    base_url: str,
    token: str | None,
    numbers: Iterator[str],
    concurrency: int,
    args: argparse.Namespace,
    on_measuring: list[Callable[[], None]] | None = None,
) -> Load:
    """``concurrency`` requests in flight through aiohttp (~0.15 ms of CPU per request here, a
    tenth of httpx's: the load generator shares the server's two CPUs and should take little)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(
        base_url=base_url,
        headers=headers,
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=60.0),
    ) as client:
        await _drive(client, numbers, concurrency, args.warmup)
        for start in on_measuring or []:
            start()
        cpu_before = harness.cpu_snapshot(pid)
        with LagProbe(base_url, args.probe_interval) as probe:
            latencies, errors, seconds = await _drive(client, numbers, concurrency, args.duration)
        cpu_after = harness.cpu_snapshot(pid)
    p50, p99 = harness.percentiles_ms(latencies)
    lag50, lag99 = harness.percentiles_ms(probe.latencies)
    if probe.failures:
        errors["probe failures"] = probe.failures
    return Load(
        target=target,
        concurrency=concurrency,
        registrations=len(latencies),
        seconds=seconds,
        p50_ms=p50,
        p99_ms=p99,
        errors=dict(errors),
        lag_p50_ms=lag50,
        lag_p99_ms=lag99,
        lag_max_ms=max(probe.latencies, default=0.0) * 1000,
        lag_samples=len(probe.latencies),
        cpu_ms=harness.cpu_per_item(cpu_before, cpu_after, len(latencies)),
    )


# --- the servers --------------------------------------------------------------------------------


def server_env(
    args: argparse.Namespace, database_url: str, data_dir: Path, stream: str, *, sqlite: bool
) -> dict[str, str]:
    extra = {
        "BARBERSHOP_SECRET_KEY": harness.SECRET_KEY,
        "BARBERSHOP_DATA_DIR": str(data_dir),
        "BARBERSHOP_DB_POOL_SIZE": str(args.pool_size),
        "BARBERSHOP_LOCAL_CHANNEL_ECHO": "false",
        "BARBERSHOP_LOCAL_CHANNEL": "true",  # the welcome messages' default channel, on PostgreSQL too
    }
    if not sqlite:
        extra["BARBERSHOP_DATABASE_URL"] = harness.sqlalchemy_url(database_url)
    if not args.in_process_queue:
        extra |= {"BARBERSHOP_BROKER_URL": args.broker_url, "BARBERSHOP_BROKER_STREAM": stream}
    return harness.clean_env(extra)


def manager_token(base_url: str) -> str:
    """Log in as the bench's manager; change the password first when the API asks for it."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        answer = client.post("/api/auth/login", json={"login": LOGIN, "password": PASSWORD})
        answer.raise_for_status()
        body = answer.json()
        token = str(body["access_token"])
        if body.get("must_change_password"):
            client.post(
                "/api/auth/change-password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
        return token


def run_server(args: argparse.Namespace, env: dict[str, str], logs: Path, numbers: Iterator[str]) -> list[Load]:
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = harness.barbershop("serve", "--host", "127.0.0.1", "--port", str(port))
    with harness.running(command, env, logs / "serve.log", base_url + LIVE) as pid:
        token = manager_token(base_url)
        results = []
        spy = harness.Spy(args.py_spy, pid, args.duration, gil_only=args.spy_gil, rate=args.spy_rate)
        for index, level in enumerate(args.levels):
            print(f"uc04: {level} in flight, {args.warmup:.0f} s warm-up, {args.duration:.0f} s measured…")
            on_measuring = [spy.start] if index == 0 else []
            results.append(asyncio.run(measure("uc04", pid, base_url, token, numbers, level, args, on_measuring)))
        spy.wait()
        return results


def run_peer(
    args: argparse.Namespace, database_url: str, settings: Settings, logs: Path, numbers: Iterator[str]
) -> list[Load]:
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(Path(__file__).with_name("peer_app.py")),
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--time-cost",
        str(settings.security.argon2_time_cost),
        "--memory-kib",
        str(settings.security.argon2_memory_kib),
        "--parallelism",
        str(settings.security.argon2_parallelism),
        "--pool-size",
        str(args.pool_size),
    ]
    with harness.running(command, harness.clean_env({}), logs / "peer.log", base_url + LIVE) as pid:
        results = []
        for level in args.levels:
            print(f"peer: {level} in flight, {args.warmup:.0f} s warm-up, {args.duration:.0f} s measured…")
            results.append(asyncio.run(measure("peer", pid, base_url, None, numbers, level, args)))
        return results


# --- the report -------------------------------------------------------------------------------


def _errors(load: Load) -> str:
    return str(sum(load.errors.values())) + (f" {load.errors}" if load.errors else "")


def rows_for(uc04: Load, peer: Load | None, ceilings: tuple[Ceiling, Ceiling]) -> list[tuple[str, str]]:
    ceiling = max(ceilings, key=lambda measured: measured.rate)
    level = uc04.concurrency
    rows = [
        (f"uc04 POST {PATH}, registrations/s ({level} in flight)", f"{uc04.rate:,.1f}"),
        ("uc04 latency p50 / p99, ms", f"{uc04.p50_ms:.1f} / {uc04.p99_ms:.1f}"),
        ("uc04 non-2xx answers", _errors(uc04)),
        ("uc04 loop lag: GET /health/live p50 / p99 / max, ms", _lag(uc04)),
        ("limit: argon2id ceiling, hashes/s (before / after the load)", " / ".join(_rates(ceilings))),
        ("one hash at the ceiling, ms of CPU", f"{(ceiling.threads / ceiling.rate * 1000) if ceiling.rate else 0:.1f}"),
        ("uc04 CPU per registration, ms", harness.cpu_line(uc04.cpu_ms, "registration")),
    ]
    if peer is not None:
        rows += [
            ("limit: peer (Litestar + one CTE), registrations/s", f"{peer.rate:,.1f}"),
            ("peer latency p50 / p99, ms", f"{peer.p50_ms:.1f} / {peer.p99_ms:.1f}"),
            ("peer non-2xx answers", _errors(peer)),
            ("peer loop lag: GET /health/live p50 / p99 / max, ms", _lag(peer)),
            ("peer CPU per registration, ms", harness.cpu_line(peer.cpu_ms, "registration")),
        ]
    rows.append(("ratio uc04 / argon2id ceiling", harness.ratio(uc04.rate, ceiling.rate)))
    if peer is not None:
        rows.append(("ratio uc04 / peer", harness.ratio(uc04.rate, peer.rate)))
    rows.append(("uc04 loop / hash threads, CPU per registration", _loop_per_hash(uc04)))
    if peer is not None:
        rows.append(("peer loop / hash threads, CPU per registration", _loop_per_hash(peer)))
    return rows


def _loop_per_hash(load: Load) -> str:
    """The loop's CPU against the hash threads' in the same window: both move with the
    machine's speed, their ratio with the code — comparable across runs where ms are not."""
    hash_ms = load.cpu_ms.get("server threads", 0.0)
    return f"{load.cpu_ms.get('server loop', 0.0) / hash_ms:.3f}" if hash_ms else "n/a"


def _rates(ceilings: tuple[Ceiling, Ceiling]) -> list[str]:
    return [f"{measured.rate:,.1f}" for measured in ceilings]


def _lag(load: Load) -> str:
    return f"{load.lag_p50_ms:.1f} / {load.lag_p99_ms:.1f} / {load.lag_max_ms:.1f} ({load.lag_samples} probes)"


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    loads: tuple[list[Load], list[Load]],
    ceilings: tuple[Ceiling, Ceiling],
    load_average: tuple[str, str],
) -> str:
    ceiling = ceilings[0]
    queue = "in-process queue" if args.in_process_queue else f"Redis hand-off ({args.broker_url}), no worker"
    lines = [
        *harness.machine_lines(facts, *load_average),
        f"server: barbershop serve (1 process) on {'SQLite' if args.sqlite else 'PostgreSQL'}, {queue}, "
        f"pool {args.pool_size}; peer on PostgreSQL",
        f"argon2id t={ceiling.time_cost} m={ceiling.memory_kib} KiB p={ceiling.parallelism}; ceiling on "
        f"{ceiling.threads} threads for {ceiling.seconds:.1f} s; window {args.warmup:.0f} s warm-up + "
        f"{args.duration:.0f} s measured; probe every {args.probe_interval * 1000:.0f} ms",
    ]
    uc04, peer = loads
    for index, load in enumerate(uc04):
        lines += ["", *harness.table(rows_for(load, peer[index] if peer else None, ceilings))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    facts = harness.machine()
    load_before = harness.load_average()
    stream = f"bench:uc04:{uuid.uuid4().hex}"
    settings = Settings()  # the server runs on the settings' defaults
    print(f"argon2id ceiling: {os.cpu_count()} threads, {args.ceiling_seconds:.0f} s…")
    ceiling = argon2_ceiling(settings, args.ceiling_seconds)
    numbers = phones()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(harness.fresh_database(args.admin_url))
        facts["postgresql"] = harness.postgres_version(database_url)
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="barbershop-uc04-")))
        if not args.in_process_queue:
            stack.callback(harness.delete_stream, args.broker_url, stream)
        env = server_env(args, database_url, logs / "data", stream, sqlite=args.sqlite)
        print("migrating a fresh database…")
        harness.cli(server_env(args, database_url, logs / "data", stream, sqlite=False), "db", "upgrade")
        if args.sqlite:
            harness.cli(env, "db", "upgrade")
        harness.cli(env, "manager", "create", "--login", LOGIN, stdin=PASSWORD + "\n")
        uc04 = run_server(args, env, logs, numbers)
        peer = [] if args.no_peer else run_peer(args, database_url, settings, logs, numbers)
    print(f"argon2id ceiling again: {os.cpu_count()} threads, {args.ceiling_seconds:.0f} s…")
    ceilings = (ceiling, argon2_ceiling(settings, args.ceiling_seconds))
    load_after = harness.load_average()
    print()
    print(report(args, facts, (uc04, peer), ceilings, (load_before, load_after)))
    if args.json:
        figures: dict[str, Any] = {
            "machine": facts,
            "load_average": {"before": load_before, "after": load_after},
            "arguments": {key: str(value) for key, value in vars(args).items() if key != "json"},
            "argon2_ceiling": [asdict(measured) | {"rate": measured.rate} for measured in ceilings],
            "uc04": [asdict(load) | {"rate": load.rate} for load in uc04],
            "peer": [asdict(load) | {"rate": load.rate} for load in peer],
        }
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
