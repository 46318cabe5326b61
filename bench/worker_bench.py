"""Throughput of ONE ``barbershop worker`` draining a backlog of welcome SMS, against two limits.

What it does, in order (see ``bench/README.md``):

1. creates a fresh PostgreSQL database (``--admin-url``) and migrates it
   (``barbershop db upgrade``); it is dropped at the end, whatever happens, and so is the
   run's own Redis stream (``--broker-url``);
2. starts the fake SMS.ru (``bench/fake_sms.py``) on a free loopback port and measures
   its **raw rate**: the worker's own provider client (aiohttp) posting SMS.ru forms with
   ``--worker-concurrency`` requests in flight for ``--raw-seconds`` → requests/s;
3. the **backlog**: ``--backlog`` clients registered through the core's own
   ``register_client`` (the adapters the worker uses: same rows, same sealed temporary
   passwords; only the argon2id hash is a precomputed one, the worker never reads it),
   channel ``sms``, each welcome notification handed to the Redis stream by the app's own
   queue adapter; and an untouched copy of each notification for step 6;
4. starts ONE ``barbershop worker --concurrency N`` and waits until every notification is
   final → sends/s from the first to the last send the provider got, duplicates (sends
   per recipient beyond one, i.e. per notification: must be 0), the final statuses (all
   must be ``sent``);
5. the **raw SQL** limit: the least SQL a send needs — claim (one UPDATE … RETURNING
   with the phone, name and template) and record (one CTE: status, attempt, history,
   audit) — through psycopg's async pool, ``--worker-concurrency`` at once, over the copies
   → notifications/s;
6. prints the table (figures, limits, ratios, the machine, the load average before and
   after); ``--json FILE`` also writes the figures.

It only ever talks to 127.0.0.1. It is not a test: nothing in CI runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import attrs
import harness
import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from barbershop_adapters.channels.provider_client import ProviderClient, ProviderRequest
from barbershop_core.context import Context
from barbershop_core.model import Actor
from barbershop_core.use_cases.registration import RegisterClient, RegistrationDeps, register_client
from barbershop_entrypoints.bootstrap import build_container
from barbershop_entrypoints.settings import Settings

FINAL: Final = ("sent", "delivered", "failed", "held")
PRECOMPUTED_HASH: Final = (
    "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaGJlbmNo$0D6Qk6yZ3XJ9H1ZC8ZqfH0pWvJ9yq8n8b3Zr9Y5m3kA"
)
"""A well-formed argon2id hash; the worker never verifies it, so every person may share it."""

COPY_NOTIFICATIONS: Final = """
WITH copy AS (
    INSERT INTO client_notifications (client_id, channel, template_code, kind, status, created_at,
                                      next_attempt_at, secret, secret_expires_at)
    SELECT client_id, channel, template_code, kind, status, created_at, next_attempt_at, secret, secret_expires_at
    FROM client_notifications WHERE id = ANY(%(ids)s) ORDER BY id
    RETURNING id, created_at
), history AS (
    INSERT INTO notification_status_changes (notification_id, position, status, at, reason)
    SELECT id, 0, 'scheduled', created_at, NULL FROM copy
)
SELECT id FROM copy ORDER BY id
"""

CLAIM: Final = """
UPDATE client_notifications AS n
SET lease_until = now() + interval '120 seconds'
FROM clients AS c, persons AS p, channels AS ch, notification_templates AS t
WHERE n.id = %(id)s AND n.status = 'scheduled' AND n.next_attempt_at <= now()
  AND (n.lease_until IS NULL OR n.lease_until <= now())
  AND c.id = n.client_id AND p.id = c.person_id
  AND ch.code = n.channel AND ch.is_active
  AND t.code = n.template_code AND t.channel = n.channel AND t.is_active
RETURNING p.phone_number, p.first_name, p.login, t.body, n.secret, n.secret_expires_at
"""

RECORD_SENT: Final = """
WITH sent AS (
    UPDATE client_notifications
    SET status = 'sent', provider_message_id = %(receipt)s, last_error = NULL, next_attempt_at = NULL,
        lease_until = NULL, secret = NULL, secret_expires_at = NULL
    WHERE id = %(id)s AND status = 'scheduled'
    RETURNING id, client_id, channel
), history AS (
    INSERT INTO notification_status_changes (notification_id, position, status, at, reason)
    SELECT id, 1, 'sent', now(), NULL FROM sent
), attempt AS (
    INSERT INTO notification_attempts (notification_id, number, channel, at, outcome, provider_message_id, error)
    SELECT id, 1, channel, now(), 'sent', %(receipt)s, NULL FROM sent
)
INSERT INTO audit_events (action, actor, occurred_at, request_id, person_id, client_id, notification_id,
                          masked_phone, details)
SELECT 'notification_sent', 'system:worker', now(), NULL, c.person_id, sent.client_id, sent.id, %(masked)s,
       jsonb_build_object('channel', sent.channel)
FROM sent JOIN clients AS c ON c.id = sent.client_id
"""


@dataclass
class Rate:
    """A number of operations over a number of seconds."""

    count: int = 0
    seconds: float = 0.0
    failures: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass
class WorkerRun:
    notifications: int = 0
    received: int = 0
    first_to_last_seconds: float = 0.0
    wall_seconds: float = 0.0
    """From the worker's start to the last notification final in the database."""
    duplicates: int = 0
    never_received: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False

    @property
    def rate(self) -> float:
        sends = self.received - 1
        return sends / self.first_to_last_seconds if self.first_to_last_seconds and sends > 0 else 0.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/15", help="Redis; a stream of the run's own")
    parser.add_argument("--backlog", type=int, default=2000, help="due notifications queued before the worker starts")
    parser.add_argument("--worker-concurrency", type=int, default=100, help="barbershop worker --concurrency")
    parser.add_argument("--pool-size", type=int, default=10, help="BARBERSHOP_DB_POOL_SIZE")
    parser.add_argument("--seed-concurrency", type=int, default=8, help="registrations in flight while seeding")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="the fake provider's raw rate run")
    parser.add_argument("--py-spy", action="append", type=Path, default=[], help="record the worker (.svg/.txt)")
    parser.add_argument("--spy-seconds", type=float, default=5.0, help="how long --py-spy records from the start")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on the worker after this long")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    harness.require_loopback(args.admin_url, args.broker_url)
    return args


# --- the fake provider and its raw rate ---------------------------------------------------------


def _form(recipient: str) -> dict[str, str]:
    return {"api_id": "bench", "to": recipient, "msg": "Здравствуйте! Ваш логин и временный пароль.", "json": "1"}


async def provider_raw_rate(base_url: str, concurrency: int, seconds: float) -> Rate:
    """SMS.ru forms posted through the worker's own HTTP client (aiohttp), ``concurrency`` at once."""
    numbers = (f"7999{number:07d}" for number in itertools.count())
    result = Rate()
    async with ProviderClient() as client:
        started = time.perf_counter()
        until = started + seconds

        async def sender() -> None:
            while time.perf_counter() < until:
                request = ProviderRequest(f"{base_url}/sms/send", form=_form(next(numbers)))
                answer = await client.post(request, timeout_seconds=10.0)
                body = answer.body if isinstance(answer.body, dict) else {}
                if answer.status_code == 200 and body.get("status") == "OK":
                    result.count += 1
                else:
                    result.failures += 1

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
        reset = await client.post(ProviderRequest(f"{base_url}/_reset"), timeout_seconds=10.0)
        if reset.status_code != 200:
            raise SystemExit(f"the fake provider did not reset: HTTP {reset.status_code}")
    return result


# --- the backlog ----------------------------------------------------------------------------------


class PrecomputedHasher:
    """``PasswordHasher`` that skips argon2id: the backlog's persons never log in."""

    async def hash(self, password: str) -> str:
        return PRECOMPUTED_HASH

    async def verify(self, password_hash: str, password: str) -> bool:
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        return False


def phones() -> Iterator[str]:
    return (f"+7914{number:07d}" for number in itertools.count())


async def seed_backlog(env: dict[str, str], count: int, concurrency: int) -> list[int]:
    """Register ``count`` clients through the core, their welcome SMS handed to the Redis stream."""
    container = build_container(Settings.from_env(env))
    await container.broker.startup()
    try:
        # The app's own bundle (its queue hand-off included), with argon2id skipped.
        deps: RegistrationDeps = attrs.evolve(container.registration(), hasher=PrecomputedHasher())
        context = Context(Actor.manager(1), request_id="bench")
        numbers = iter(list(itertools.islice(phones(), count)))
        ids: list[int] = []

        async def registrar() -> None:
            for phone in numbers:
                result = await register_client(RegisterClient(phone, "Иван", context, channel="sms"), deps)
                assert result.notification_id is not None  # noqa: S101 -- a new client always gets one
                ids.append(result.notification_id)

        await asyncio.gather(*(registrar() for _ in range(concurrency)))
        return sorted(ids)
    finally:
        await container.aclose()


def stream_length(redis_url: str, stream: str) -> int:
    from redis import Redis  # noqa: PLC0415 -- only needed here

    with Redis.from_url(redis_url) as redis:
        return int(redis.xlen(stream))


def copy_notifications(database_url: str, ids: list[int]) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        return [int(row[0]) for row in connection.execute(COPY_NOTIFICATIONS, {"ids": ids}).fetchall()]


# --- the worker -------------------------------------------------------------------------------------


def statuses(database_url: str, ids: list[int]) -> dict[str, int]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT status, count(*) FROM client_notifications WHERE id = ANY(%s) GROUP BY status", (ids,)
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


def wait_until_final(database_url: str, ids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(count for status, count in statuses(database_url, ids).items() if status in FINAL) == len(ids):
            return True
        time.sleep(0.1)
    return False


def run_worker(args: argparse.Namespace, env: dict[str, str], logs: Path, database_url: str, ids: list[int]) -> float:
    """Seconds from starting the worker to every notification final (or the timeout)."""
    command = harness.barbershop("worker", "--concurrency", str(args.worker_concurrency))
    started = time.perf_counter()
    with harness.running(command, env, logs / "worker.log", None) as pid:
        spy = harness.Spy(args.py_spy, pid, args.spy_seconds)
        spy.start()
        done = wait_until_final(database_url, ids, args.timeout)
        spy.wait()
        elapsed = time.perf_counter() - started
    if not done:
        tail = (logs / "worker.log").read_text(errors="replace")[-3000:]
        print(f"the worker did not finish in {args.timeout:.0f} s; its log ends:\n{tail}", file=sys.stderr)
    return elapsed


def worker_figures(
    provider_url: str, database_url: str, ids: list[int], wall: float, phones_sent: set[str]
) -> WorkerRun:
    stats = httpx.get(f"{provider_url}/_stats", timeout=30).json()
    counts: dict[str, int] = stats["counts"]
    final = statuses(database_url, ids)
    return WorkerRun(
        notifications=len(ids),
        received=int(stats["received"]),
        first_to_last_seconds=float(stats["last"]) - float(stats["first"]),
        wall_seconds=wall,
        duplicates=sum(count - 1 for count in counts.values() if count > 1),
        never_received=len(phones_sent - set(counts)),
        statuses=final,
        timed_out=sum(count for status, count in final.items() if status in FINAL) != len(ids),
    )


# --- the raw SQL ------------------------------------------------------------------------------------

RAW_SQL_CONNECTIONS = 40


async def raw_sql_rate(database_url: str, ids: list[int], concurrency: int) -> Rate:
    """Claim + record of each notification in ``ids``: two statements, ``concurrency`` at once
    (on at most ``RAW_SQL_CONNECTIONS`` connections: PostgreSQL's default allows 100 in all)."""
    result = Rate()
    queue = iter(ids)
    concurrency = min(concurrency, RAW_SQL_CONNECTIONS)
    async with AsyncConnectionPool(
        database_url, min_size=concurrency, max_size=concurrency, open=False, kwargs={"autocommit": True}
    ) as pool:
        await pool.wait()

        async def sender() -> None:
            async with pool.connection() as connection:
                for notification_id in queue:
                    claimed = await (await connection.execute(CLAIM, {"id": notification_id})).fetchone()
                    if claimed is None:
                        result.failures += 1
                        continue
                    phone = str(claimed[0])
                    masked = f"{phone[:5]}{'*' * max(len(phone) - 7, 0)}{phone[-2:]}"
                    receipt = f"raw-{notification_id}"
                    await connection.execute(RECORD_SENT, {"id": notification_id, "receipt": receipt, "masked": masked})
                    result.count += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


# --- the report -------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    facts: dict[str, str],
    figures: tuple[WorkerRun, Rate, Rate, float],
    load_average: tuple[str, str],
) -> str:
    worker, provider, raw, seed_seconds = figures
    sent_all = worker.statuses.get("sent", 0) == worker.notifications
    rows = [
        (f"worker sends/s, first to last send ({worker.received} sends)", f"{worker.rate:,.1f}"),
        ("worker: start to all final, s (incl. start-up)", f"{worker.wall_seconds:.1f}"),
        ("duplicates (sends per notification beyond one; must be 0)", str(worker.duplicates)),
        ("notifications never received by the provider", str(worker.never_received)),
        ("final statuses (all must be sent)", f"{worker.statuses} — {'OK' if sent_all else 'NOT ALL SENT'}"),
        ("limit: fake provider raw rate (the worker's aiohttp client), requests/s", f"{provider.rate:,.0f}"),
        ("limit: raw SQL claim + record (psycopg), notifications/s", f"{raw.rate:,.0f}"),
        ("ratio worker / fake provider raw", harness.ratio(worker.rate, provider.rate)),
        ("ratio worker / raw SQL claim + record", harness.ratio(worker.rate, raw.rate)),
    ]
    return "\n".join(
        [
            *harness.machine_lines(facts, *load_average),
            f"worker: ONE barbershop worker --concurrency {args.worker_concurrency}, pool {args.pool_size}, "
            f"Redis stream; backlog {args.backlog} welcome SMS (seeded in {seed_seconds:.1f} s); "
            f"raw runs: {args.worker_concurrency} at once (the raw SQL on at most {RAW_SQL_CONNECTIONS} connections)",
            "",
            *harness.table(rows),
        ]
    )


def worker_env(
    args: argparse.Namespace, database_url: str, data_dir: Path, stream: str, sms_url: str
) -> dict[str, str]:
    return harness.clean_env(
        {
            "BARBERSHOP_DATABASE_URL": harness.sqlalchemy_url(database_url),
            "BARBERSHOP_SECRET_KEY": harness.SECRET_KEY,
            "BARBERSHOP_DATA_DIR": str(data_dir),
            "BARBERSHOP_DB_POOL_SIZE": str(args.pool_size),
            "BARBERSHOP_BROKER_URL": args.broker_url,
            "BARBERSHOP_BROKER_STREAM": stream,
            "BARBERSHOP_SMSRU_API_ID": "bench",
            "BARBERSHOP_SMSRU_BASE_URL": sms_url,
            "BARBERSHOP_DEFAULT_CHANNEL": "sms",
            "BARBERSHOP_LOCAL_CHANNEL_ECHO": "false",
        }
    )


def measure(
    args: argparse.Namespace, database_url: str, logs: Path, stream: str
) -> tuple[WorkerRun, Rate, Rate, float]:
    port = harness.free_port()
    sms_url = f"http://127.0.0.1:{port}"
    fake = [sys.executable, str(Path(__file__).with_name("fake_sms.py")), "--port", str(port)]
    env = worker_env(args, database_url, logs / "data", stream, sms_url)
    print("migrating a fresh database…")
    harness.cli(env, "db", "upgrade")
    with harness.running(fake, harness.clean_env({}), logs / "fake_sms.log", f"{sms_url}/health"):
        print(f"fake provider raw rate: {args.worker_concurrency} at once, {args.raw_seconds:.0f} s…")
        provider = asyncio.run(provider_raw_rate(sms_url, args.worker_concurrency, args.raw_seconds))
        print(f"seeding {args.backlog} registrations through the core…")
        started = time.perf_counter()
        ids = asyncio.run(seed_backlog(env, args.backlog, args.seed_concurrency))
        seed_seconds = time.perf_counter() - started
        queued = stream_length(args.broker_url, stream)
        if queued != len(ids):
            raise SystemExit(f"{len(ids)} notifications but {queued} messages in the stream")
        copies = copy_notifications(database_url, ids)
        print(f"ONE worker, --concurrency {args.worker_concurrency}, draining {len(ids)}…")
        wall = run_worker(args, env, logs, database_url, ids)
        sent_to = {phone.removeprefix("+") for phone in itertools.islice(phones(), args.backlog)}
        worker = worker_figures(sms_url, database_url, ids, wall, sent_to)
    print(f"raw SQL claim + record: {args.worker_concurrency} at once over {len(copies)} copies…")
    raw = asyncio.run(raw_sql_rate(database_url, copies, args.worker_concurrency))
    return worker, provider, raw, seed_seconds


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    facts = harness.machine()
    load_before = harness.load_average()
    stream = f"bench:worker:{uuid.uuid4().hex}"
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(harness.fresh_database(args.admin_url))
        stack.callback(harness.delete_stream, args.broker_url, stream)
        facts["postgresql"] = harness.postgres_version(database_url)
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="barbershop-worker-")))
        figures = measure(args, database_url, logs, stream)
    load_after = harness.load_average()
    print()
    print(report(args, facts, figures, (load_before, load_after)))
    if args.json:
        worker, provider, raw, seed_seconds = figures
        document: dict[str, Any] = {
            "machine": facts,
            "load_average": {"before": load_before, "after": load_after},
            "arguments": {key: str(value) for key, value in vars(args).items() if key != "json"},
            "seed_seconds": seed_seconds,
            "worker": asdict(worker) | {"rate": worker.rate},
            "fake_provider_raw": asdict(provider) | {"rate": provider.rate},
            "raw_sql_claim_record": asdict(raw) | {"rate": raw.rate},
        }
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    worker = figures[0]
    return 0 if worker.duplicates == 0 and worker.statuses.get("sent", 0) == worker.notifications else 1


if __name__ == "__main__":
    raise SystemExit(main())
