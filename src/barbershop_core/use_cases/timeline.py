"""The client card's delivery timeline: every notification of the client, step by step."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from barbershop_core.model import ClientNotification
from barbershop_core.use_cases._shared import require_client
from barbershop_core.use_cases.clients import ClientDeps


@attrs.frozen
class GetClientTimeline:
    client_id: int


class StepKind(enum.StrEnum):
    CREATED = "created"
    """The notification was scheduled or held; for a fallback step or a resend, ``detail`` says which it replaced."""
    ATTEMPT = "attempt"
    """One send attempt and the provider's answer (its message id, or its error)."""
    STATUS = "status"
    """A status change: sent, a provider's report (delivered / failed), a hold, a release."""


@attrs.frozen
class TimelineStep:
    at: datetime
    notification_id: int
    channel: str
    kind: StepKind
    state: str
    """The status reached, or the attempt's outcome."""
    detail: str | None = None
    provider_message_id: str | None = None
    replaces: int | None = None


def notification_steps(notification: ClientNotification) -> list[TimelineStep]:
    steps: list[TimelineStep] = []
    first, *changes = notification.history
    steps.append(
        TimelineStep(
            first.at,
            notification.id,
            notification.attempts[0].channel if notification.attempts else notification.channel,
            StepKind.CREATED,
            first.status.value,
            first.reason,
            replaces=notification.resend_of,
        )
    )
    steps += [
        TimelineStep(
            attempt.at,
            notification.id,
            attempt.channel,
            StepKind.ATTEMPT,
            attempt.outcome.value,
            attempt.error,
            attempt.provider_message_id,
        )
        for attempt in notification.attempts
    ]
    steps += [
        TimelineStep(
            change.at, notification.id, notification.channel, StepKind.STATUS, change.status.value, change.reason
        )
        for change in changes
    ]
    # In time order; at one instant an attempt comes before the status it caused.
    order = {StepKind.CREATED: 0, StepKind.ATTEMPT: 1, StepKind.STATUS: 2}
    return sorted(steps, key=lambda step: (step.at, order[step.kind]))


async def client_timeline(command: GetClientTimeline, deps: ClientDeps) -> list[TimelineStep]:
    """Raises :class:`~barbershop_core.errors.NotFound` for an unknown client."""
    client_id, uow_factory = command.client_id, deps.uow_factory
    async with uow_factory() as uow:
        await require_client(uow, client_id)
        notifications = await uow.notifications.list_for_client(client_id)
    steps = [step for notification in notifications for step in notification_steps(notification)]
    return sorted(steps, key=lambda step: (step.at, step.notification_id))
