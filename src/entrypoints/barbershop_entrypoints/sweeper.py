"""Periodic housekeeping: re-queue due notifications, wipe expired secrets, sync reference data.

Run by ``barbershop scheduler``, and inside ``barbershop serve`` on the embedded default,
where there is no separate scheduler. The sweep is what makes the pipeline reliable: the
database, not Redis, says what is due — notifications committed while Redis was down,
retries whose backoff time came (A4), attempts whose worker died and whose lease ran out.

``barbershop scheduler`` is meant to run as a single instance per installation. Two at
once are still safe, only wasteful: a sweep merely queues notification ids, and a
worker's leased claim skips an id that is not due, already leased or finished, so an id
queued twice is sent once; the reference sync writes what the source says, so running
it twice changes nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from barbershop_adapters.sqlalchemy.attempt_counter import SqlAttemptCounter
from barbershop_core.ports import QueueUnavailable, StorageUnavailable
from barbershop_core.use_cases.fallback import ListPendingFallbacks, RunFallbackStep, fall_back, pending_fallback_ids
from barbershop_core.use_cases.notification_queries import (
    ExpireTemporarySecrets,
    ListDueNotifications,
    due_notification_ids,
    expire_temporary_secrets,
)
from barbershop_core.use_cases.provider_reports import ApplyKeptReports, apply_kept_reports
from barbershop_core.use_cases.reference_data import SyncReferenceData, sync_reference_data
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.reference_source import build_reference_source

log = logging.getLogger("barbershop.scheduler")

REFERENCE_SYNC_INTERVAL = timedelta(minutes=15)


async def sweep_once(container: Container) -> int:
    """Queue every notification that is due and not leased; returns how many were queued."""
    ids = await due_notification_ids(ListDueNotifications(), container.sweep())
    queued = 0
    for notification_id in ids:
        try:
            await container.queue.enqueue(notification_id)
        except QueueUnavailable:
            log.warning("queue unavailable; %s due notifications wait for the next sweep", len(ids) - queued)
            break
        queued += 1
    expired = await expire_temporary_secrets(ExpireTemporarySecrets(), container.sweep())
    if expired:
        log.info("wiped %s expired temporary passwords", expired)
    # Reports that came before their send was recorded, and fallback steps a dead process left.
    await apply_kept_reports(ApplyKeptReports(), container.reports())
    fallback = container.fallback()
    if fallback is not None:
        for notification_id in await pending_fallback_ids(ListPendingFallbacks(), container.notification_queries()):
            await fall_back(RunFallbackStep(notification_id), fallback)
    async with container.uow_factory() as uow:
        await uow.idempotency.purge_expired(container.clock.now())
        await uow.commit()
    # Redis expires its counters itself; the database's (also those counted while Redis was down) are dropped here.
    await SqlAttemptCounter(container.engine).purge(int(container.clock.now().timestamp()))
    return queued


async def sync_reference_once(container: Container) -> bool:
    source = build_reference_source(container.settings, container.http_client)
    if source is None:
        return False
    report = await sync_reference_data(SyncReferenceData(source), container.reference())
    return report.changed


async def run_forever(container: Container, *, sync_reference: bool) -> None:
    """Sweep every ``sweep_interval``; sync reference data every 15 minutes when asked to."""
    interval = container.settings.queue.sweep_interval.total_seconds()
    next_sync = 0.0
    loop = asyncio.get_running_loop()
    while True:
        try:
            await sweep_once(container)
        except StorageUnavailable:
            log.warning("database unavailable; the sweep tries again in %ss", interval)
        except Exception:
            log.exception("sweep failed; it tries again in %ss", interval)
        if sync_reference and loop.time() >= next_sync:
            # Set before trying: a broken source is tried again in 15 minutes, not every sweep.
            next_sync = loop.time() + REFERENCE_SYNC_INTERVAL.total_seconds()
            try:
                await sync_reference_once(container)
            except Exception:
                log.exception("reference data sync failed; the next try is in 15 minutes")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running_in_background(container: Container, *, sync_reference: bool) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_forever(container, sync_reference=sync_reference), name="barbershop-sweeper")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
