"""``barbershop``: the one command line of the product.

serve · worker · scheduler · db upgrade · manager create / deactivate · audit purge · partner create / revoke ·
sync-reference. Every command reads the same settings (``BARBERSHOP_*``).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from barbershop_core.errors import DomainError
from barbershop_core.ports import StorageUnavailable
from barbershop_core.use_cases.accounts import (
    CountManagers,
    CreateManager,
    CreatePartner,
    DeactivateManager,
    RevokePartner,
    count_managers,
    create_manager,
    create_partner,
    deactivate_manager,
    revoke_partner,
)
from barbershop_core.use_cases.audit_trail import PurgeAuditTrail, purge_audit_trail
from barbershop_entrypoints.bootstrap import CALLBACK_KEY_PURPOSE, Container, build_container, channel_callback_secret
from barbershop_entrypoints.channels import require_default_channel
from barbershop_entrypoints.logging_setup import configure_logging, logging_config
from barbershop_entrypoints.metrics import MULTIPROC_DIR_VARIABLE
from barbershop_entrypoints.settings import Settings, SettingsError

log = logging.getLogger("barbershop.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()  # a bad value stops here, named, before anything starts
        configure_logging()
        result: int = args.run(args, settings)
    except SettingsError as exc:
        print(f"barbershop: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"barbershop: {exc.message} [{exc.code}]", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        print(f"barbershop: база данных недоступна — {_storage_reason(exc)}", file=sys.stderr)
        print("Проверьте BARBERSHOP_DATABASE_URL и что сервер базы данных запущен.", file=sys.stderr)
        return 1
    return result


def _storage_reason(error: StorageUnavailable) -> str:
    """What the driver said about the connection (host, port, database, user: never a row
    or a password), else the core's own description."""
    orig = getattr(error.__cause__, "orig", None)
    said = str(orig).strip() if orig is not None else ""
    return said.splitlines()[0] if said else str(error)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="barbershop", description="Регистрация клиентов барбершопа")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API and the manager's page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes (needs PostgreSQL + Redis above 1)")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run a Taskiq worker that sends notifications")
    worker.add_argument("--concurrency", type=int, default=100, help="notifications sent at once")
    worker.add_argument(
        "--metrics-port", type=int, default=None, help="serve /metrics on this port (needs BARBERSHOP_METRICS_TOKEN)"
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics port")
    worker.set_defaults(run=_worker)

    scheduler = commands.add_parser(
        "scheduler",
        help="queue due notifications (retries, abandoned attempts), sync reference data (run one)",
        description=SCHEDULER_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scheduler.set_defaults(run=_scheduler)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=_db_upgrade)

    manager = commands.add_parser("manager", help="manager accounts").add_subparsers(
        dest="manager_command", required=True
    )
    manager_create = manager.add_parser("create", help="create a manager (password from stdin, or generated)")
    manager_create.add_argument("--login", required=True)
    manager_create.add_argument("--name", default=None, help="display name")
    manager_create.set_defaults(run=_manager_create)
    manager_deactivate = manager.add_parser(
        "deactivate", help="block a manager's login and end every session of theirs at once"
    )
    manager_deactivate.add_argument("--login", required=True)
    manager_deactivate.set_defaults(run=_manager_deactivate)

    partner = commands.add_parser("partner", help="partner API keys").add_subparsers(
        dest="partner_command", required=True
    )
    partner_create = partner.add_parser("create", help="create a partner and print its API key once")
    partner_create.add_argument("--name", required=True)
    partner_create.set_defaults(run=_partner_create)
    partner_revoke = partner.add_parser("revoke", help="revoke a partner's key")
    partner_revoke.add_argument("--name", required=True)
    partner_revoke.set_defaults(run=_partner_revoke)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    audit_purge = audit.add_parser(
        "purge", help="delete audit events older than BARBERSHOP_AUDIT_RETENTION_DAYS (run it daily, e.g. from cron)"
    )
    audit_purge.set_defaults(run=_audit_purge)

    callback = commands.add_parser(
        "callback-secret", help="print the key a provider signs delivery callbacks with (hex)"
    )
    callback.add_argument("--channel", required=True)
    callback.set_defaults(run=_callback_secret)

    sync = commands.add_parser("sync-reference", help="sync channels and templates from BARBERSHOP_REFERENCE_SOURCE")
    sync.set_defaults(run=_sync_reference)
    return parser


def _with_container(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    async def run() -> int:
        container = build_container(settings)
        try:
            return await work(container)
        finally:
            await container.aclose()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(run())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (``uvicorn[standard]`` brings it): the worker's loop
    overhead per send halves; asyncio's own loop otherwise."""
    try:
        import uvloop  # noqa: PLC0415 -- optional: absent on platforms without a wheel
    except ImportError:  # pragma: no cover - installed with the package's dependencies
        return None
    return uvloop.new_event_loop


def _migrate(settings: Settings) -> None:
    from barbershop_adapters.sqlalchemy.migrate import upgrade  # noqa: PLC0415 -- alembic is only needed here

    if settings.embedded:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    print("База данных обновлена.")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 -- the server is only needed by this command

    if args.workers > 1 and (settings.embedded or not settings.queue.broker_url):
        print("barbershop: several API processes need PostgreSQL and Redis", file=sys.stderr)
        return 2
    if settings.embedded:
        _migrate(settings)
    if args.workers > 1:
        made = _share_metrics_between_processes()
        if made is not None:
            atexit.register(shutil.rmtree, made, ignore_errors=True)

    async def hint(container: Container) -> int:
        require_default_channel(settings, container.channels)
        if await count_managers(CountManagers(), container.managers()) == 0:
            print("Менеджеров ещё нет. Создайте первого: barbershop manager create --login admin")
        return 0

    _with_container(settings, hint)
    print(f"barbershop: http://{args.host}:{args.port}/  (OpenAPI: /schema)")
    uvicorn.run(
        "barbershop_entrypoints.http.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logging_config(),  # applied again in every worker process uvicorn spawns
        server_header=False,
    )
    return 0


def _share_metrics_between_processes() -> str | None:
    """``/metrics`` of any ``serve`` process sums them all: prometheus_client's multi-process
    mode, switched on by ``PROMETHEUS_MULTIPROC_DIR`` in the environment uvicorn's processes
    inherit (they are spawned, so they import prometheus_client afresh). A directory the
    operator names is emptied of the last run's files; otherwise a fresh one is made (and
    returned, to be removed when ``serve`` ends)."""
    directory = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if directory:
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
        return None
    made = tempfile.mkdtemp(prefix="barbershop-metrics-")
    os.environ[MULTIPROC_DIR_VARIABLE] = made
    return made


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from barbershop_entrypoints.worker import run_worker, serve_metrics  # noqa: PLC0415 -- keeps the CLI's start fast

    async def run(container: Container) -> int:
        require_default_channel(settings, container.channels)
        if args.metrics_port is not None:
            serve_metrics(args.metrics_host, args.metrics_port, settings.web.metrics_token)
        return await run_worker(container, concurrency=args.concurrency)

    return _with_container(settings, run)


SCHEDULER_DESCRIPTION = """\
Every BARBERSHOP_SWEEP_INTERVAL_SECONDS: queue the notifications the database says are due
(committed while Redis was down, retries whose backoff time came, attempts abandoned by a
dead worker once their lease ran out), wipe expired temporary passwords; every 15 minutes:
sync channels and templates from BARBERSHOP_REFERENCE_SOURCE.

Run it as a single instance: one is enough, and a second only doubles the queue traffic.
Two running at once are still safe: a sweep only queues notification ids, and a worker's
leased claim skips any id that is not due, already leased or finished, so a notification
queued twice is sent once; the reference sync is idempotent (it writes what the source
says). Without BARBERSHOP_BROKER_URL it sends the due notifications itself, in-process.
"""


def _scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from barbershop_entrypoints.sweeper import run_forever  # noqa: PLC0415 -- keeps the CLI's start fast

    async def run(container: Container) -> int:
        await container.broker.startup()
        sweeping = asyncio.create_task(run_forever(container, sync_reference=True), name="barbershop-scheduler")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, sweeping.cancel)
        log.info("scheduler started: sweep every %ss", settings.queue.sweep_interval.total_seconds())
        with contextlib.suppress(asyncio.CancelledError):
            await sweeping
        log.info("scheduler stopped")
        return 0

    return _with_container(settings, run)


def _read_password() -> str | None:
    """A piped password is read from stdin; at a terminal the password is generated."""
    if sys.stdin.isatty():
        return None
    line = sys.stdin.readline().rstrip("\n")
    return line or None


def _manager_create(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()

    async def run(container: Container) -> int:
        created = await create_manager(CreateManager(args.login, password, args.name), container.managers())
        print(f"Менеджер «{created.manager.login}» создан (id {created.manager.id}).")
        if created.generated_password:
            print(f"Временный пароль (показан один раз, смените при первом входе): {created.generated_password}")
        return 0

    return _with_container(settings, run)


def _manager_deactivate(args: argparse.Namespace, settings: Settings) -> int:
    async def run(container: Container) -> int:
        manager = await deactivate_manager(DeactivateManager(args.login), container.managers())
        print(f"Менеджер «{manager.login}» отключён; все его сеансы завершены.")
        return 0

    return _with_container(settings, run)


def _audit_purge(args: argparse.Namespace, settings: Settings) -> int:
    async def run(container: Container) -> int:
        deleted = await purge_audit_trail(PurgeAuditTrail(settings.audit.retention), container.audit())
        print(f"Удалено записей журнала старше {settings.audit.retention.days} дней: {deleted}.")
        return 0

    return _with_container(settings, run)


def _partner_create(args: argparse.Namespace, settings: Settings) -> int:
    async def run(container: Container) -> int:
        created = await create_partner(CreatePartner(args.name), container.partners())
        print(f"Партнёр «{created.partner.name}» создан (id {created.partner.id}).")
        print(f"API-ключ (показан один раз): {created.api_key}")
        return 0

    return _with_container(settings, run)


def _partner_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def run(container: Container) -> int:
        partner = await revoke_partner(RevokePartner(args.name), container.partners())
        print(f"Ключ партнёра «{partner.name}» отозван.")
        return 0

    return _with_container(settings, run)


def _callback_secret(args: argparse.Namespace, settings: Settings) -> int:
    callback_key = settings.key_ring().key(CALLBACK_KEY_PURPOSE)
    print(channel_callback_secret(callback_key, args.channel).hex())
    return 0


def _sync_reference(args: argparse.Namespace, settings: Settings) -> int:
    from barbershop_entrypoints.sweeper import sync_reference_once  # noqa: PLC0415 -- keeps the CLI's start fast

    async def run(container: Container) -> int:
        if not await sync_reference_once(container) and settings.reference_source is None:
            print("barbershop: BARBERSHOP_REFERENCE_SOURCE is not set", file=sys.stderr)
            return 2
        print("Справочники синхронизированы.")
        return 0

    return _with_container(settings, run)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
