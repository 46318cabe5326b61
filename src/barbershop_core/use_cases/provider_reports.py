"""Providers' own delivery reports, matched by the provider message id stored at send time.

The adapters of :mod:`barbershop_adapters.channels.reports` read each provider's format into
:class:`ProviderStatus`; this module applies them by the same rules as the generic
callback (:func:`~barbershop_core.use_cases.delivery_reports.apply_delivery_report`):
idempotent, never backwards. A report that names a message id no notification carries
yet is kept (the provider may have answered faster than we recorded the send) and
applied by the sweep once the send is recorded (:func:`apply_kept_reports`); one whose
id never turns up is purged after :data:`KEEP_UNMATCHED`. Either way the provider gets
its acknowledgement, so it stops retrying.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Final

import attrs

from barbershop_core.context import Context
from barbershop_core.model import Actor, NotificationStatus, ProviderReport
from barbershop_core.use_cases._shared import log
from barbershop_core.use_cases.delivery_reports import ReportDeps, record_report, then_fall_back

KEEP_UNMATCHED: Final = timedelta(days=7)


@attrs.frozen
class ProviderStatus:
    """One status a provider reported for one of its message ids."""

    channel: str
    provider_message_id: str
    status: NotificationStatus | None
    """``delivered`` or ``failed``; None for a report of progress (accepted, sent on), which
    changes nothing here."""
    error: str | None = None
    """For ``failed``: why, in the manager's words."""
    said: str = ""
    """What the provider said, as it said it (``SMS.ru 103``): kept in the history."""


class ReportOutcome(enum.StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    """Repeated, older than the status, or progress only."""
    KEPT = "kept"
    """No notification carries the id (yet): kept for the send to be recorded."""


async def apply_provider_report(report: ProviderStatus, deps: ReportDeps) -> ReportOutcome:
    """Apply one report; then, if it failed the notification for good, the fallback step."""
    context = Context(Actor.provider(report.channel))
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_by_provider_message_id(report.channel, report.provider_message_id)
        if notification is None:
            if report.status is None:
                log.info("progress report for unknown %s message id ignored", report.channel)
                return ReportOutcome.UNCHANGED
            kept = await uow.provider_reports.keep(
                ProviderReport(
                    channel=report.channel,
                    provider_message_id=report.provider_message_id,
                    status=report.status,
                    received_at=deps.clock.now(),
                    error=report.error,
                )
            )
            await uow.commit()
            log.warning(
                "delivery report for unknown %s message id %s kept (%s) until its send is recorded",
                report.channel,
                report.provider_message_id,
                "new" if kept else "repeated",
            )
            return ReportOutcome.KEPT
        if report.status is None:
            return ReportOutcome.UNCHANGED
        changed = await record_report(
            uow,
            notification,
            report.status,
            report.error,
            now=deps.clock.now(),
            context=context,
            chain=deps.chain,
            reason=_reason(report),
        )
    await then_fall_back(notification, deps)
    return ReportOutcome.APPLIED if changed else ReportOutcome.UNCHANGED


@attrs.frozen
class ApplyKeptReports:
    limit: int = 100


async def apply_kept_reports(command: ApplyKeptReports, deps: ReportDeps) -> int:
    """For the sweep: apply kept reports whose send is recorded now; purge stale ones."""
    async with deps.uow_factory() as uow:
        matched = await uow.provider_reports.list_matched(command.limit)
        purged = await uow.provider_reports.purge_before(deps.clock.now() - KEEP_UNMATCHED)
        await uow.commit()
    if purged:
        log.info("purged %s delivery reports whose message id never turned up", purged)
    applied = 0
    for kept in matched:
        async with deps.uow_factory() as uow:
            notification = await uow.notifications.get_by_provider_message_id(kept.channel, kept.provider_message_id)
            await uow.provider_reports.delete(kept.id)
            if notification is None:
                await uow.commit()
                continue
            report = ProviderStatus(
                kept.channel,
                kept.provider_message_id,
                kept.status,
                kept.error,
                "отчёт пришёл раньше записи об отправке",
            )
            applied += await record_report(
                uow,
                notification,
                kept.status,
                kept.error,
                now=deps.clock.now(),
                context=Context(Actor.provider(kept.channel)),
                chain=deps.chain,
                reason=_reason(report),
            )
            await uow.commit()
        await then_fall_back(notification, deps)
    return applied


def _reason(report: ProviderStatus) -> str:
    words = {NotificationStatus.DELIVERED: "доставлено", NotificationStatus.FAILED: "не доставлено"}
    status = words.get(report.status, "") if report.status else ""
    said = f" ({report.said})" if report.said else ""
    error = f": {report.error}" if report.error and report.status is NotificationStatus.FAILED else ""
    return f"Отчёт провайдера: {status}{said}{error}"
