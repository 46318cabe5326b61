"""Delivery reports: the generic signed callback, and the one rule every report is applied by.

A report is idempotent and never moves a status backwards (:func:`record_report`); a
``failed`` one with a fallback chain leaves the notification awaiting its fallback step,
which runs after the commit. Providers' own formats are read and matched in
:mod:`~barbershop_core.use_cases.provider_reports`, which applies them through the same rule.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import NotFound, ValidationError
from barbershop_core.model import ClientNotification, NotificationStatus
from barbershop_core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from barbershop_core.use_cases._shared import require_client
from barbershop_core.use_cases.delivery import AttemptResult, finish
from barbershop_core.use_cases.fallback import FallbackDeps, RunFallbackStep, fall_back


@attrs.frozen
class DeliveryReport:
    notification_id: int
    status: str
    context: Context
    provider_message_id: str | None = None
    error: str | None = None


@attrs.frozen
class ReportOutcome:
    notification: ClientNotification
    changed: bool


@attrs.frozen
class ReportDeps:
    uow_factory: UnitOfWorkFactory
    clock: Clock
    fallback: FallbackDeps | None = None
    """The installation's fallback chain; None: a failed report alerts a manager at once."""

    @property
    def chain(self) -> tuple[str, ...]:
        return self.fallback.chain if self.fallback is not None else ()


async def apply_delivery_report(report: DeliveryReport, deps: ReportDeps) -> ReportOutcome:
    """A provider's status report through the generic callback: idempotent, and never moves a
    status backwards; then, if it failed the notification for good, the fallback step."""
    try:
        status = NotificationStatus(report.status)
    except ValueError:
        status = None
    if status not in (NotificationStatus.DELIVERED, NotificationStatus.FAILED):
        raise ValidationError("Статус доставки: delivered или failed", field="status")
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(report.notification_id)
        if notification is None:
            raise NotFound(f"Уведомление {report.notification_id} не найдено")
        if (
            report.provider_message_id
            and notification.provider_message_id
            and report.provider_message_id != notification.provider_message_id
        ):
            raise ValidationError("Отчёт относится к другому сообщению", field="provider_message_id")
        changed = await record_report(
            uow, notification, status, report.error, now=deps.clock.now(), context=report.context, chain=deps.chain
        )
    await then_fall_back(notification, deps)
    return ReportOutcome(notification, changed)


async def record_report(
    uow: UnitOfWork,
    notification: ClientNotification,
    status: NotificationStatus,
    error: str | None,
    *,
    now: datetime,
    context: Context,
    chain: tuple[str, ...],
    reason: str | None = None,
) -> bool:
    """Apply one final report to a locked notification and commit; False when it changed nothing."""
    changed = notification.apply_delivery_report(now, status, error, reason)
    if changed:
        client, person = await require_client(uow, notification.client_id)
        await finish(uow, notification, person, client, now, AttemptResult.SKIPPED, context, fallback=chain)
    return changed


async def then_fall_back(notification: ClientNotification, deps: ReportDeps) -> None:
    """After a report's commit: the fallback step of the notification it failed for good."""
    if notification.fallback_pending and deps.fallback is not None:
        await fall_back(RunFallbackStep(notification.id), deps.fallback)
