"""Throughput of the partner API (seed 002) against the raw SQL it sends, on PostgreSQL, in one run.

What it does, in order (see ``bench/README.md``):

1. creates a fresh database on the PostgreSQL server (``--admin-url``) and migrates it
   (``barbershop db upgrade``); it is dropped at the end, whatever happens;
2. creates a partner with ``barbershop partner create`` and reads its key from the output;
3. starts ``barbershop serve`` on a free loopback port (``--workers N``; above 1 it needs
   Redis, ``--broker-url``) — or drives a server already running (``--target``);
4. drives ``POST /api/register-client`` with ``--concurrency`` requests in flight (aiohttp) for
   ``--duration`` seconds after a warm-up (each request a new participant, two purchases);
5. right after the single window (the server idle meanwhile), drives the **peer**
   (``bench/partner_peer_app.py``: the same endpoint written the plain way, Litestar +
   psycopg's pool, the key lookup and one CTE) with the same single load, unless ``--no-peer``;
6. drives ``POST /api/register-clients`` with ``--bulk-requests`` requests of ``--bulk-size``,
   then one NDJSON stream of ``--stream-lines``;
7. stops the server and runs ``pgbench`` on the same database with ``bench/sql/same.sql``
   (every statement, savepoint and transaction one registration sends) and
   ``bench/sql/minimal.sql`` (the same rows in one transaction);
8. prints the table — with the ratios single / same SQL, single / minimal SQL (the
   target: single ≥ 50 % of the minimal raw SQL TPS), single / peer and peer / minimal
   SQL — and the load average before and after; ``--json FILE`` also writes the figures.

It only ever talks to 127.0.0.1. It is not a test: nothing in CI runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import harness
import httpx
import psycopg
from psycopg import sql

from barbershop_entrypoints.settings import Settings

SINGLE = "/api/register-client"
BULK = "/api/register-clients"
PARTNER = "bench"
SECRET_KEY = "bench-secret-key-" + "b" * 32  # the CLI and the server must derive the same key digests


# --- the run's parameters and results ------------------------------------------------------


@dataclass
class Single:
    requests: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of CPU per request, by part (``harness.cpu_per_item``)."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Bulk:
    participants: int = 0
    seconds: float = 0.0
    errors: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of CPU per 1,000 participants, by part (``harness.cpu_per_item``)."""

    @property
    def rate(self) -> float:
        return self.participants / self.seconds if self.seconds else 0.0


@dataclass
class Stream:
    participants: int = 0
    seconds: float = 0.0
    errors: int = 0
    server_peak_rss_mib: float = 0.0
    server_peak_rss_before_mib: float = 0.0
    """The server's peak RSS once the single and bulk phases ran, before the stream."""
    server_rss_samples_mib: list[float] = field(default_factory=list)
    """The server's RSS every 10,000 answered lines: flat memory means these stay level."""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """Milliseconds of CPU per 1,000 lines, by part (``harness.cpu_per_item``)."""

    @property
    def rate(self) -> float:
        return self.participants / self.seconds if self.seconds else 0.0


@dataclass
class Raw:
    tps: float = 0.0
    transactions: int = 0
    failed: int = 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=1, help="barbershop serve --workers")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/15", help="used when --workers > 1")
    parser.add_argument("--pool-size", type=int, help="BARBERSHOP_DB_POOL_SIZE per server process (default: serve's)")
    parser.add_argument("--max-overflow", type=int, help="BARBERSHOP_DB_MAX_OVERFLOW (default: serve's)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (and pgbench clients)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of single requests not measured")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of single requests measured")
    parser.add_argument("--bulk-requests", type=int, default=5)
    parser.add_argument("--bulk-size", type=int, default=1000)
    parser.add_argument("--bulk-concurrency", type=int, default=1, help="bulk requests in flight")
    parser.add_argument("--stream-lines", type=int, default=100_000, help="lines of the one NDJSON stream")
    parser.add_argument("--pgbench", default=shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench")
    parser.add_argument("--pgbench-duration", type=int, default=20)
    parser.add_argument(
        "--target",
        help="drive this running server (http://127.0.0.1:PORT) instead of starting one; "
        "needs --api-key and --database-url (its database, for pgbench)",
    )
    parser.add_argument("--api-key")
    parser.add_argument("--database-url")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--py-spy",
        action="append",
        type=Path,
        default=[],
        help="record the server in the single window",
    )
    parser.add_argument("--spy-gil", action="store_true", help="--py-spy keeps only samples holding the GIL")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer app")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="each single request with an Idempotency-Key of its own"
    )
    args = parser.parse_args(argv)
    if args.target and not (args.api_key and args.database_url):
        parser.error("--target needs --api-key and --database-url")
    for url in (args.target, args.admin_url, args.database_url):
        if url and not re.search(r"(@|//)(127\.0\.0\.1|localhost)(:|/|$)", url):
            parser.error(f"loopback only: {url}")
    return args


# --- the database, the CLI, the server ------------------------------------------------------


def _database_url_of(admin_url: str, name: str) -> str:
    scheme, _, rest = admin_url.partition("://")
    authority, _, path = rest.partition("/")
    query = path.partition("?")[2]
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


def _barbershop(*args: str) -> list[str]:
    installed = Path(sys.executable).with_name("barbershop")
    return (
        [str(installed), *args] if installed.exists() else [sys.executable, "-m", "barbershop_entrypoints.cli", *args]
    )


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(_barbershop(*args), env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603 -- our own CLI, fixed arguments
    if done.returncode != 0:
        raise SystemExit(f"barbershop {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


SERVER_PIDS: list[int] = []
"""The running ``barbershop serve`` (for its peak RSS)."""


def peak_rss_mib(field_name: str = "VmHWM:") -> float:
    """The largest peak RSS (VmHWM) of the server and its worker processes, in MiB
    (``field_name="VmRSS:"``: the largest current RSS)."""
    pids = list(SERVER_PIDS)
    for pid in SERVER_PIDS:
        with contextlib.suppress(OSError):
            pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    peak = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field_name):
                    peak = max(peak, int(line.split()[1]))
    return peak / 1024


@contextlib.contextmanager
def running_server(env: dict[str, str], workers: int, logs: Path) -> Iterator[str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (logs / "serve.log").open("w") as log:
        command = _barbershop("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers))
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 -- our own CLI
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"barbershop serve exited with {process.returncode}; see {logs / 'serve.log'}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("barbershop serve did not start in 60 s")
                time.sleep(0.2)
            SERVER_PIDS.append(process.pid)
            yield base_url
        finally:
            SERVER_PIDS.remove(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- the load -------------------------------------------------------------------------------

_FIO = "Иванов Иван Иванович"
_PURCHASES = '[{"name": "Телевизор Samsung", "price": 40000.00}, {"name": "Кабель", "price": 499.99}]'


def _participant(phone: str) -> str:
    return f'{{"fio": "{_FIO}", "phone": "{phone}", "email": "ivanov@mail.ru", "purchases": {_PURCHASES}}}'


def _phones(prefix: str) -> Iterator[str]:
    """Distinct valid Russian mobile numbers: ``+7<prefix>`` and seven digits."""
    return (f"+7{prefix}{number:07d}" for number in itertools.count())


def _client(base_url: str, key: str, connections: int, *, keep_alive: bool = True) -> httpx.AsyncClient:
    """``keep_alive=False``: a connection per request, so that with ``serve --workers N`` each
    request goes to whichever process accepts it first (kept-alive connections stay with the
    process that accepted them, and a few of them can land on one process)."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections if keep_alive else 0),
        timeout=httpx.Timeout(60.0),
    )


async def drive_single(
    base_url: str,
    key: str,
    concurrency: int,
    warmup: float,
    duration: float,
    spy: harness.Spy | None = None,
    *,
    server_pid: int | None = None,
    prefix: str = "911",
    keyed: bool = False,
) -> Single:
    """``server_pid``: the one server process whose CPU is split (none: no split);
    ``keyed``: each request carries an ``Idempotency-Key`` of its own."""
    phones = _phones(prefix)
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    # aiohttp: ~0.15 ms of CPU per request where httpx takes ~1.7 ms; the load generator
    # shares the server's two CPUs and should take as little of them as it can.
    async with aiohttp.ClientSession(
        base_url=base_url,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=60.0),
    ) as client:

        async def worker(until: float, measured: bool) -> None:
            while time.perf_counter() < until:
                phone = next(phones)
                body = _participant(phone).encode()
                headers = {"Idempotency-Key": f"bench-{phone}"} if keyed else None
                started = time.perf_counter()
                try:
                    async with client.post(SINGLE, data=body, headers=headers) as answer:
                        await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - started
                if not measured:
                    continue
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors[str(status)] += 1

        await asyncio.gather(*(worker(time.perf_counter() + warmup, False) for _ in range(concurrency)))
        server = server_pid
        cpu_before = {} if server is None else harness.cpu_snapshot(server)
        if spy is not None:
            spy.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + duration, True) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        cpu = {} if server is None else harness.cpu_per_item(cpu_before, harness.cpu_snapshot(server), len(latencies))

    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Single(len(latencies), seconds, dict(errors), cuts[49] * 1000, cuts[98] * 1000, cpu)


async def drive_bulk(base_url: str, key: str, requests: int, size: int, concurrency: int) -> Bulk:
    phones = _phones("912")
    bodies = [
        ("[" + ", ".join(_participant(next(phones)) for _ in range(size)) + "]").encode() for _ in range(requests)
    ]
    result = Bulk()
    async with _client(base_url, key, concurrency, keep_alive=False) as client:
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                answer = await client.post(BULK, content=body)
                if answer.status_code != 200:
                    result.errors += size
                    continue
                for item in answer.json()["results"]:
                    if "client_id" in item:
                        result.participants += 1
                    else:
                        result.errors += 1

        server = SERVER_PIDS[0] if len(SERVER_PIDS) == 1 else None
        cpu_before = {} if server is None else harness.cpu_snapshot(server)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        if server is not None:
            thousands = round(result.participants / 1000) or 1
            result.cpu_ms = harness.cpu_per_item(cpu_before, harness.cpu_snapshot(server), thousands)
    return result


async def drive_stream(base_url: str, key: str, lines: int) -> Stream:
    """One NDJSON request of ``lines`` participants, sent and read as it goes."""
    phones = _phones("913")

    async def body() -> Any:
        for start in range(0, lines, 1000):
            yield "".join(_participant(next(phones)) + "\n" for _ in range(min(1000, lines - start))).encode()

    result = Stream(server_peak_rss_before_mib=peak_rss_mib())
    server = SERVER_PIDS[0] if len(SERVER_PIDS) == 1 else None
    cpu_before = {} if server is None else harness.cpu_snapshot(server)
    async with _client(base_url, key, 1) as client:
        started = time.perf_counter()
        headers = {"Content-Type": "application/x-ndjson"}
        async with client.stream("POST", BULK, content=body(), headers=headers, timeout=None) as answer:
            if answer.status_code != 200:
                result.errors = lines
            else:
                async for line in answer.aiter_lines():
                    if '"client_id"' in line:
                        result.participants += 1
                    elif line:
                        result.errors += 1
                    if (result.participants + result.errors) % 10_000 == 0 and line:
                        result.server_rss_samples_mib.append(peak_rss_mib("VmRSS:"))
        result.seconds = time.perf_counter() - started
    if server is not None:
        result.cpu_ms = harness.cpu_per_item(cpu_before, harness.cpu_snapshot(server), lines // 1000 or 1)
    result.server_peak_rss_mib = peak_rss_mib()
    return result


def _before_after(stream: Stream) -> str:
    return f"{stream.server_peak_rss_before_mib:,.0f} / {stream.server_peak_rss_mib:,.0f}"


def _samples(stream: Stream) -> str:
    return " ".join(f"{sample:.0f}" for sample in stream.server_rss_samples_mib) or "-"


# --- the raw SQL ------------------------------------------------------------------------------


def _psycopg_sql(statement: Any) -> str:
    """A SQLAlchemy ``text()`` of the adapter in psycopg's parameter style."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", str(statement))


def raw_set_based(database_url: str, partner_id: int, batches: int, size: int) -> Bulk:
    """The set-based statements of the app's batch (records stored, persons, their ids,
    clients, purchases, records completed, audit), for the same rows, straight through
    psycopg — with the app's binary arrays."""
    # The bench runs without src on the path otherwise.
    from barbershop_adapters.sqlalchemy import promo_batches as sql_of  # noqa: PLC0415
    from barbershop_adapters.sqlalchemy.arrays import array, send_binary_arrays  # noqa: PLC0415
    from barbershop_adapters.sqlalchemy.json_rows import json_rows  # noqa: PLC0415
    from barbershop_adapters.sqlalchemy.repositories import _PG_AUDIT, AUDIT_COLUMNS  # noqa: PLC0415

    statements = {
        name: _psycopg_sql(getattr(sql_of, name))
        for name in ("_PG_STORED", "_PG_PERSONS", "_PG_PERSON_IDS", "_PG_CLIENTS", "_PG_PURCHASES", "_PG_COMPLETE")
    }
    audit = _psycopg_sql(_PG_AUDIT)
    phones = _phones("914")
    scope = f"partner:{partner_id}"
    result = Bulk()
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        send_binary_arrays(connection)
        cpu_before = harness.cpu_snapshot(os.getpid())
        started = time.perf_counter()
        for _ in range(batches):
            batch = array(next(phones) for _ in range(size))
            now = datetime.now(UTC)
            later = now + timedelta(minutes=5)
            records = {
                "scopes": array([scope] * size),
                "keys": array(f"auto:{uuid.uuid4().hex}" for _ in batch),
                "fingerprints": array(["f" * 64] * size),
                "created": array([now] * size),
                "expires": array([later] * size),
            }
            with connection.transaction():
                connection.execute(statements["_PG_STORED"], {"scopes": records["scopes"], "keys": records["keys"]})
                connection.execute(
                    statements["_PG_PERSONS"], {"now": now, "phones": batch, "first_names": array(["Иван"] * size)}
                )
                found = connection.execute(statements["_PG_PERSON_IDS"], {"phones": batch})
                ids = {phone: pid for pid, phone in found}
                persons = array(ids[phone] for phone in batch)
                clients = connection.execute(
                    statements["_PG_CLIENTS"],
                    {
                        "now": now,
                        "registered_by": scope,
                        "source": f"partner:{PARTNER}",
                        "person_ids": persons,
                        "full_names": array([_FIO] * size),
                        "emails": array(["ivanov@mail.ru"] * size),
                    },
                ).fetchall()
                by_person = {pid: cid for cid, pid in clients}
                client_ids = array(by_person[pid] for pid in persons)
                connection.execute(
                    statements["_PG_PURCHASES"],
                    {
                        "client_ids": array(cid for cid in client_ids for _ in range(2)),
                        "partner_ids": array([partner_id] * (2 * size)),
                        "names": array(["Телевизор Samsung", "Кабель"] * size),
                        "prices": array([Decimal("40000.00"), Decimal("499.99")] * size),
                        "registered": array([now] * (2 * size)),
                    },
                )
                completed = records | {"states": array(["completed"] * size), "results": client_ids}
                if connection.execute(statements["_PG_COMPLETE"], completed).rowcount != size:
                    raise SystemExit("a record's key was taken")
                events = [
                    {
                        "action": "promo_registered",
                        "actor": scope,
                        "occurred_at": now,
                        "request_id": None,
                        "person_id": person_id,
                        "client_id": client_id,
                        "notification_id": None,
                        "masked_phone": "+7914*****00",
                        "details": {"purchases": "2", "email": "i*****@mail.ru"},
                    }
                    for person_id, client_id in zip(persons, client_ids, strict=True)
                ]
                connection.execute(audit, {"events": json_rows(AUDIT_COLUMNS, events)})  # as SqlAuditLog sends them
            result.participants += size
        result.seconds = time.perf_counter() - started
        # here "server loop" is this bench's own thread: the client of the raw SQL
        result.cpu_ms = harness.cpu_per_item(cpu_before, harness.cpu_snapshot(os.getpid()), batches * size // 1000 or 1)
    return result


SCRIPTS = Path(__file__).with_name("sql")
SAME_SQL = SCRIPTS / "same.sql"
"""Every statement and transaction of one registration as the app sent them before its
one-statement write (see the script's header)."""
MINIMAL_SQL = SCRIPTS / "minimal.sql"
"""The same rows in one transaction: the least a registration costs the database."""


def pgbench(binary: str, database_url: str, script: Path, clients: int, seconds: int, defines: dict[str, str]) -> Raw:
    command = [binary, "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", str(script)]
    for name, value in defines.items():
        command += ["-D", f"{name}={value}"]
    done = subprocess.run(  # noqa: S603 -- pgbench with arguments built here
        [*command, database_url], capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if tps is None or processed is None:
        raise SystemExit(f"unexpected pgbench output:\n{done.stdout}")
    return Raw(float(tps.group(1)), int(processed.group(1)), int(failed.group(1)) if failed else 0)


# --- the run ----------------------------------------------------------------------------------


def machine(database_url: str) -> dict[str, str]:
    memory = ""
    with contextlib.suppress(OSError):
        total = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        memory = f"{int(total.group(1)) / 1024 / 1024:.1f} GiB" if total else ""
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return {
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "postgresql": str(row[0]) if row else "?",
        "platform": platform.platform(),
        "uvloop": "installed" if importlib.util.find_spec("uvloop") else "not installed",
        "httptools": "installed" if importlib.util.find_spec("httptools") else "not installed",
        "load_average_at_start": _load_average(),
    }


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _server_env(database_url: str, args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BARBERSHOP_")}
    env |= {
        "BARBERSHOP_DATABASE_URL": database_url,
        "BARBERSHOP_SECRET_KEY": SECRET_KEY,
        "BARBERSHOP_DATA_DIR": str(data_dir),
        "BARBERSHOP_LOCAL_CHANNEL_ECHO": "false",
        "BARBERSHOP_LOCAL_CHANNEL": "true",  # the welcome messages go to the local channel, on PostgreSQL too
    }
    if args.pool_size is not None:
        env["BARBERSHOP_DB_POOL_SIZE"] = str(args.pool_size)
    if args.max_overflow is not None:
        env["BARBERSHOP_DB_MAX_OVERFLOW"] = str(args.max_overflow)
    if args.workers > 1:
        env |= {"BARBERSHOP_BROKER_URL": args.broker_url, "BARBERSHOP_BROKER_STREAM": f"bench:{uuid.uuid4().hex}"}
    return env


def _partner_of(database_url: str) -> tuple[int, str]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT id, key_digest FROM partners WHERE name = %s", (PARTNER,)).fetchone()
    if row is None:
        raise SystemExit(f"no partner named {PARTNER!r} in the database")
    return int(row[0]), str(row[1])


def _single(args: argparse.Namespace, base_url: str, key: str) -> Single:
    print(f"single: {args.concurrency} in flight, {args.warmup:.0f} s warm-up, {args.duration:.0f} s measured…")
    spy = harness.Spy(args.py_spy, SERVER_PIDS[0], args.duration, gil_only=args.spy_gil) if args.py_spy else None
    # The CPU split needs one server process to name (not --workers N, not --target).
    server_pid = SERVER_PIDS[0] if len(SERVER_PIDS) == 1 else None
    single = asyncio.run(
        drive_single(
            base_url,
            key,
            args.concurrency,
            args.warmup,
            args.duration,
            spy,
            server_pid=server_pid,
            keyed=args.idempotency_keys,
        )
    )
    if spy is not None:
        spy.wait()
    return single


def _bulk_and_stream(args: argparse.Namespace, base_url: str, key: str) -> tuple[Bulk, Stream]:
    print(f"bulk: {args.bulk_requests} × {args.bulk_size} participants, {args.bulk_concurrency} in flight…")
    bulk = asyncio.run(drive_bulk(base_url, key, args.bulk_requests, args.bulk_size, args.bulk_concurrency))
    print(f"stream: one NDJSON request of {args.stream_lines} participants…")
    stream = asyncio.run(drive_stream(base_url, key, args.stream_lines))
    return bulk, stream


def run_peer(args: argparse.Namespace, env: dict[str, str], database_url: str, key: str, logs: Path) -> Single:
    """The same single load against ``partner_peer_app.py`` (new phones: ``+7913…``)."""
    pepper = Settings.from_env(env).key_ring().key("partner-keys")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        str(Path(__file__).with_name("partner_peer_app.py")),
        "--port",
        str(port),
        "--database-url",
        database_url.replace("postgresql+psycopg://", "postgresql://"),
        "--pepper-hex",
        pepper.hex(),
        "--pool-size",
        str(args.pool_size or 16),
    ]
    print(f"peer: {args.concurrency} in flight, {args.warmup:.0f} s warm-up, {args.duration:.0f} s measured…")
    with harness.running(command, harness.clean_env({}), logs / "peer.log", base_url + "/health/live") as pid:
        return asyncio.run(
            drive_single(base_url, key, args.concurrency, args.warmup, args.duration, server_pid=pid, prefix="913")
        )


def _raw(args: argparse.Namespace, database_url: str) -> tuple[Raw, Raw]:
    partner_id, digest = _partner_of(database_url)
    defines = {
        "digest": digest,
        "scope": f"partner:{partner_id}",
        "partner_id": str(partner_id),
        "source": f"partner:{PARTNER}",
    }
    libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
    print(f"pgbench: the same SQL, {args.concurrency} clients, {args.pgbench_duration} s…")
    same = pgbench(args.pgbench, libpq, SAME_SQL, args.concurrency, args.pgbench_duration, defines)
    print(f"pgbench: the minimal SQL, {args.concurrency} clients, {args.pgbench_duration} s…")
    minimal = pgbench(args.pgbench, libpq, MINIMAL_SQL, args.concurrency, args.pgbench_duration, defines)
    return same, minimal


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    single: Single,
    bulk: Bulk,
    same: Raw,
    minimal: Raw,
    stream: Stream,
    set_based: Bulk,
    peer: Single | None = None,
) -> str:
    ratio = single.rate / same.tps if same.tps else 0.0
    rows = [
        (
            "single POST /api/register-client, requests/s" + (" (each with a key)" if args.idempotency_keys else ""),
            f"{single.rate:,.0f}",
        ),
        ("single latency p50 / p99, ms", f"{single.p50_ms:.1f} / {single.p99_ms:.1f}"),
        ("single CPU per request, ms", harness.cpu_line(single.cpu_ms, "request") if single.cpu_ms else "-"),
        ("single non-200 answers", str(sum(single.errors.values())) + (f" {single.errors}" if single.errors else "")),
        ("bulk POST /api/register-clients, participants/s", f"{bulk.rate:,.0f}"),
        ("bulk participants refused", str(bulk.errors)),
        ("bulk CPU per 1,000 participants, ms", harness.cpu_line(bulk.cpu_ms, "1,000") if bulk.cpu_ms else "-"),
        ("raw SQL, same statements (pgbench), TPS", f"{same.tps:,.0f}"),
        ("raw SQL, minimal one transaction (pgbench), TPS", f"{minimal.tps:,.0f}"),
        ("ratio single / raw same SQL", f"{ratio:.0%}"),
        ("ratio single / raw minimal SQL (target ≥ 50 %)", f"{(single.rate / minimal.tps if minimal.tps else 0):.0%}"),
        ("ratio bulk / raw same SQL", f"{(bulk.rate / same.tps if same.tps else 0):.0%}"),
        *_peer_rows(single, minimal, peer),
        ("NDJSON stream, participants/s", f"{stream.rate:,.0f}"),
        ("NDJSON stream participants refused", str(stream.errors)),
        ("NDJSON stream CPU per 1,000 lines, ms", harness.cpu_line(stream.cpu_ms, "1,000") if stream.cpu_ms else "-"),
        ("server peak RSS before / after the stream, MiB", _before_after(stream)),
        ("server RSS every 10,000 lines of the stream, MiB", _samples(stream)),
        ("raw set-based SQL (psycopg), participants/s", f"{set_based.rate:,.0f}"),
        (
            "raw set-based SQL CPU per 1,000, ms",
            harness.cpu_line(set_based.cpu_ms, "1,000").replace("server loop", "psycopg client")
            if set_based.cpu_ms
            else "-",
        ),
        (
            "ratio bulk / raw set-based SQL (target ≥ 50 %)",
            f"{(bulk.rate / set_based.rate if set_based.rate else 0):.0%}",
        ),
        ("ratio stream / raw set-based SQL", f"{(stream.rate / set_based.rate if set_based.rate else 0):.0%}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"machine: {facts['cpus']} CPUs, {facts['memory']}, Python {facts['python']}, "
        f"PostgreSQL {facts['postgresql']}, uvloop {facts['uvloop']}, httptools {facts['httptools']}",
        f"load average before the run (1, 5, 15 min): {facts['load_average_at_start']}; "
        f"after: {facts.get('load_average_at_end', '?')}",
        f"server: barbershop serve --workers {args.workers}, pool {_or_default(args.pool_size)}"
        f" + overflow {_or_default(args.max_overflow)}; "
        f"load: {args.concurrency} in flight, {args.duration:.0f} s",
        "",
        f"| {'measure'.ljust(width)} | value |",
        f"|{'-' * (width + 2)}|-------|",
        *(f"| {name.ljust(width)} | {value} |" for name, value in rows),
    ]
    return "\n".join(lines)


def _peer_rows(single: Single, minimal: Raw, peer: Single | None) -> list[tuple[str, str]]:
    if peer is None:
        return []
    return [
        ("limit: peer (Litestar + psycopg, key lookup + one CTE), requests/s", f"{peer.rate:,.0f}"),
        ("peer latency p50 / p99, ms", f"{peer.p50_ms:.1f} / {peer.p99_ms:.1f}"),
        ("peer CPU per request, ms", harness.cpu_line(peer.cpu_ms, "request") if peer.cpu_ms else "-"),
        ("peer non-200 answers", str(sum(peer.errors.values())) + (f" {peer.errors}" if peer.errors else "")),
        ("ratio single / peer", f"{(single.rate / peer.rate if peer.rate else 0):.0%}"),
        ("ratio peer / raw minimal SQL", f"{(peer.rate / minimal.tps if minimal.tps else 0):.0%}"),
    ]


def _or_default(value: int | None) -> str:
    return "default" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    with contextlib.ExitStack() as stack:
        if args.target:
            database_url, base_url, key = args.database_url, args.target, args.api_key
            facts = machine(database_url)
            single = _single(args, base_url, key)
            bulk, stream = _bulk_and_stream(args, base_url, key)
            peer = None
        else:
            database_url = stack.enter_context(_bench_database(args.admin_url))
            facts = machine(database_url)
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="barbershop-bench-")))
            env = _server_env(database_url, args, data_dir / "data")
            print("migrating a fresh database…")
            _cli(env, "db", "upgrade")
            key_line = re.search(r"bsk_[\w-]+", _cli(env, "partner", "create", "--name", PARTNER))
            if key_line is None:
                raise SystemExit("partner create printed no key")
            key = key_line.group(0)
            with running_server(env, args.workers, data_dir) as base_url:
                single = _single(args, base_url, key)
                # Right after the single window, on the same tables, while the server idles:
                # bulk and stream leave the database busy (autovacuum) for a while after them.
                peer = None if args.no_peer else run_peer(args, env, database_url, key, data_dir)
                bulk, stream = _bulk_and_stream(args, base_url, key)
        same, minimal = _raw(args, database_url)
        print(f"raw set-based SQL through psycopg: {args.bulk_requests} batches of {args.bulk_size}…")
        set_based = raw_set_based(database_url, _partner_of(database_url)[0], args.bulk_requests, args.bulk_size)
    facts["load_average_at_end"] = _load_average()
    table = report(args, facts, single, bulk, same, minimal, stream, set_based, peer)
    print()
    print(table)
    if args.json:
        figures: dict[str, Any] = {
            "machine": facts,
            "arguments": {k: v for k, v in vars(args).items() if k not in {"api_key", "json"}},
            "single": asdict(single) | {"rate": single.rate},
            "bulk": asdict(bulk) | {"rate": bulk.rate},
            "raw_same_sql": asdict(same),
            "raw_minimal_sql": asdict(minimal),
            "stream": asdict(stream) | {"rate": stream.rate},
            "raw_set_based_sql": asdict(set_based) | {"rate": set_based.rate},
            "peer": None if peer is None else asdict(peer) | {"rate": peer.rate},
            "ratios": {
                "single_over_same_sql": single.rate / same.tps if same.tps else None,
                "single_over_minimal_sql": single.rate / minimal.tps if minimal.tps else None,
                "bulk_over_same_sql": bulk.rate / same.tps if same.tps else None,
                "bulk_over_set_based_sql": bulk.rate / set_based.rate if set_based.rate else None,
                "stream_over_set_based_sql": stream.rate / set_based.rate if set_based.rate else None,
                "single_over_peer": single.rate / peer.rate if peer and peer.rate else None,
                "peer_over_minimal_sql": peer.rate / minimal.tps if peer and minimal.tps else None,
            },
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return 0


@contextlib.contextmanager
def _bench_database(admin_url: str) -> Iterator[str]:
    name = f"barbershop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _database_url_of(admin_url, name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    raise SystemExit(main())
