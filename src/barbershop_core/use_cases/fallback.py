"""The fallback chain: a notification that failed for good goes out on the next channel.

An installation names its chain (``RegistrationPolicy.fallback_channels``, say
``telegram, whatsapp, sms``). When a notification fails for good — a permanent error,
retries exhausted, a provider's ``failed`` report — the transaction that records it leaves
it *awaiting its fallback step* (:attr:`ClientNotification.fallback_pending`) instead of
alerting a manager. The step runs after that commit (:func:`fall_back`; the caller runs
it at once, and the sweep runs whatever a dead process left):

* the next channel is the first one after the failed one in the chain (the whole chain
  when the failed one is not in it) that no notification of this message's line has tried
  yet, that has an adapter, is active, has the template, reaches the client (a linked
  account where the channel needs one) and, for a marketing message, has its consent;
* it gets a new notification that replaces the failed one (``resend_of``), with a new
  temporary password when the message shows one — the old password stops working, since
  the person's password hash is replaced;
* when no channel is left, the manager is alerted, once.

A notification abandoned by a dead worker on a channel that cannot deduplicate never
awaits a fallback: the message may have reached the client, so a person decides.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from barbershop_core.context import Context
from barbershop_core.errors import ChannelUnavailable, ConsentRequired, InvalidTransition, TemplateMissing
from barbershop_core.model import Actor, AuditAction, ClientNotification
from barbershop_core.ports import ChannelDirectory, UnitOfWorkFactory
from barbershop_core.use_cases._shared import (
    Trail,
    active_channel_codes,
    has_marketing_consent,
    log,
    require_client,
    resolve_delivery,
)
from barbershop_core.use_cases.clients import current_consents
from barbershop_core.use_cases.delivery import AttemptDelivery, AttemptResult, Batching, Deliveries, DeliveryDeps
from barbershop_core.use_cases.notification_commands import NotificationDeps, issue_notification
from barbershop_core.use_cases.notification_queries import NotificationQueryDeps

FALLBACK = Context(Actor.system("fallback"))

_UNREACHABLE = (ChannelUnavailable, TemplateMissing, ConsentRequired)


@attrs.frozen
class FallbackDeps:
    notifications: NotificationDeps
    """What a new notification takes: the store, credentials, the policy with the chain."""
    channels: ChannelDirectory
    """A channel without an adapter on this installation is skipped."""

    @property
    def chain(self) -> tuple[str, ...]:
        return self.notifications.policy.fallback_channels


@attrs.frozen
class WorkerDeps:
    """What the worker's task takes: the send, and the fallback step when there is a chain.

    One ``WorkerDeps`` serves all of a worker's tasks: their sends share transactions
    through its :attr:`sends`."""

    delivery: DeliveryDeps
    fallback: FallbackDeps | None = None
    batching: Batching = Batching()
    """The worker's by default; :data:`~barbershop_core.use_cases.delivery.SENDS_OF_REGISTRATIONS`
    for a server that sends itself."""
    sends: Deliveries = attrs.field(
        init=False,
        default=attrs.Factory(lambda deps: Deliveries(deps.delivery, deps.batching), takes_self=True),
        eq=False,
    )


async def deliver(command: AttemptDelivery, deps: WorkerDeps) -> AttemptResult:
    """One send attempt (``notifications.send``) and, when it failed for good, the fallback step."""
    outcome = await deps.sends.attempt(command.notification_id)
    if outcome is AttemptResult.FAILED and deps.fallback is not None:
        await fall_back(RunFallbackStep(command.notification_id), deps.fallback)
    return outcome


def next_channels(chain: Sequence[str], failed: str, tried: set[str]) -> list[str]:
    """The chain's channels after ``failed`` (all of them when it is not in the chain), untried."""
    start = chain.index(failed) + 1 if failed in chain else 0
    return [channel for channel in chain[start:] if channel not in tried]


def tried_channels(failed: ClientNotification, of_client: Sequence[ClientNotification]) -> set[str]:
    """Every channel this message's line (the failed one and those it replaced) went through."""
    by_id = {notification.id: notification for notification in of_client}
    tried: set[str] = set()
    seen: set[int] = set()
    current: ClientNotification | None = failed
    while current is not None and current.id not in seen:
        seen.add(current.id)
        tried.add(current.channel)
        tried.update(attempt.channel for attempt in current.attempts)
        current = by_id.get(current.resend_of) if current.resend_of is not None else None
    return tried


@attrs.frozen
class RunFallbackStep:
    notification_id: int
    """A notification awaiting its fallback step (:attr:`ClientNotification.fallback_pending`)."""


async def fall_back(command: RunFallbackStep, deps: FallbackDeps) -> ClientNotification | None:
    """The fallback step of a notification awaiting it: its replacement, or None (nothing to
    do, or the chain is exhausted and a manager was alerted)."""
    notification_id = command.notification_id
    policy = deps.notifications.policy
    async with deps.notifications.uow_factory() as uow:
        failed = await uow.notifications.get(notification_id)
        if failed is None or not failed.fallback_pending:
            return None
        if failed.superseded_by is not None:
            next_channel = None
        else:
            client, _ = await require_client(uow, failed.client_id)
            consents = current_consents(await uow.consents.list_for_client(client.id))
            tried = tried_channels(failed, await uow.notifications.list_for_client(client.id))
            next_channel = None
            for candidate in next_channels(policy.fallback_channels, failed.channel, tried):
                if deps.channels.get(candidate) is None:
                    continue
                try:
                    await resolve_delivery(
                        uow,
                        channel_code=candidate,
                        template_code=failed.template_code,
                        policy=policy,
                        postpone=False,
                        client_accounts=client.channel_accounts,
                        marketing_consent=has_marketing_consent(consents),
                    )
                except _UNREACHABLE:
                    continue
                next_channel = candidate
                break
    if next_channel is None:
        await _settle(notification_id, deps.notifications.uow_factory, deps, alert=failed.superseded_by is None)
        return None
    try:
        replacement = await issue_notification(
            deps.notifications,
            client_id=failed.client_id,
            context=FALLBACK,
            template_code=failed.template_code,
            channel=next_channel,
            postpone=False,
            replaces=failed.id,
            reason=f"Резервный канал: №{failed.id} не доставлено через «{failed.channel}»",
        )
    except InvalidTransition:
        # Replaced meanwhile (a manager's resend, or another runner of this step).
        await _settle(notification_id, deps.notifications.uow_factory, deps, alert=False)
        return None
    except _UNREACHABLE:
        # The channel went away between the choice and the write: nothing else is chosen now.
        await _settle(notification_id, deps.notifications.uow_factory, deps, alert=True)
        return None
    log.info("notification %s failed on %s; fallback %s on %s", failed.id, failed.channel, replacement.id, next_channel)
    return replacement


async def _settle(notification_id: int, uow_factory: UnitOfWorkFactory, deps: FallbackDeps, *, alert: bool) -> None:
    """End the wait for a fallback step; with ``alert``, the chain is exhausted: tell a manager (once)."""
    async with uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        if notification is None or not notification.fallback_pending:
            return  # another runner of the step settled it
        notification.fallback_pending = False
        await uow.notifications.save(notification)
        if alert and notification.needs_attention:
            client, person = await require_client(uow, notification.client_id)
            trail = Trail(FALLBACK, deps.notifications.clock.now(), person, client)
            active = ",".join(await active_channel_codes(uow))
            uow.record(
                trail.event(
                    AuditAction.MANAGER_ALERTED,
                    notification_id=notification.id,
                    active_channels=active,
                    reason="Резервные каналы исчерпаны",
                )
            )
            log.warning("notification %s: fallback chain exhausted, a manager is alerted", notification.id)
        await uow.commit()


@attrs.frozen
class ListPendingFallbacks:
    limit: int = 100


async def pending_fallback_ids(query: ListPendingFallbacks, deps: NotificationQueryDeps) -> list[int]:
    """For the sweep: notifications whose fallback step no process ran (it died, say)."""
    async with deps.uow_factory() as uow:
        return list(await uow.notifications.fallback_pending_ids(query.limit))
