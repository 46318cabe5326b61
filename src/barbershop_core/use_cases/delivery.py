"""The worker's send (step 8, A4): claim an attempt, hand it to the channel, record the outcome.

Also the one place that records what a notification's status became (:func:`finish`):
the provider reports (:mod:`~barbershop_core.use_cases.delivery_reports`) and the sweep's
expiry of passwords (:mod:`~barbershop_core.use_cases.notification_queries`) finish through it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Final, NamedTuple

import attrs

from barbershop_core.context import Context
from barbershop_core.model import (
    Actor,
    AuditAction,
    Client,
    ClientNotification,
    NotificationStatus,
    Person,
    TemplateKind,
)
from barbershop_core.policies import RetryPolicy
from barbershop_core.ports import (
    ChannelDirectory,
    Clock,
    DeliveryFailed,
    NotificationChannel,
    OutgoingMessage,
    SecretBox,
    SecretUnreadable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from barbershop_core.templates import render
from barbershop_core.use_cases._shared import (
    Trail,
    active_channel_codes,
    has_marketing_consent,
    log,
    require_client,
)
from barbershop_core.use_cases.claim_rules import ClaimAction, ClaimDecision, ClaimFacts, decide_claim
from barbershop_core.use_cases.clients import current_consents

DEFAULT_SIGN_IN_URL: Final = "http://127.0.0.1:8000/client/login"
"""The embedded default's sign-in page (``barbershop serve`` on its default port)."""


class AttemptResult(enum.StrEnum):
    SENT = "sent"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    HELD = "held"
    SKIPPED = "skipped"
    """Not due, already leased by another worker, or already finished."""


@attrs.frozen
class AttemptDelivery:
    notification_id: int


@attrs.frozen
class DeliveryDeps:
    uow_factory: UnitOfWorkFactory
    channels: ChannelDirectory
    secret_box: SecretBox
    clock: Clock
    retry: RetryPolicy = RetryPolicy()
    fallback_chain: tuple[str, ...] = ()
    """A notification that fails for good awaits the fallback step instead of an alert."""
    sign_in_url: str = DEFAULT_SIGN_IN_URL
    """Where the client signs in: the ``{sign_in_url}`` of a message's template."""


WORKER = Context(Actor.system("worker"))

_OUTCOMES: Final = {
    ClaimAction.HOLD: AttemptResult.HELD,
    ClaimAction.FAIL: AttemptResult.FAILED,
    ClaimAction.FAIL_ATTEMPT: AttemptResult.FAILED,
}


class _Recipient(NamedTuple):
    """The client and person the claim read: the record audits the attempt under them
    (the phone the message went to) without reading them again."""

    client: Client
    person: Person


@attrs.frozen
class _Prepared:
    message: OutgoingMessage
    channel: NotificationChannel
    recipient: _Recipient


async def attempt_delivery(command: AttemptDelivery, deps: DeliveryDeps) -> AttemptResult:
    """Step 8: one send attempt, safe to run from many workers at once.

    The attempt is claimed with a lease in one transaction, the provider is called with
    no transaction open, and the outcome is recorded in another. A worker that dies in
    between leaves the lease to run out; the notification id doubles as the provider's
    idempotency key so that the retry does not reach the client twice.
    """
    notification_id = command.notification_id
    prepared = await _claim(notification_id, deps)
    if isinstance(prepared, AttemptResult):
        return prepared
    try:
        receipt = await prepared.channel.send(prepared.message)
    except DeliveryFailed as failure:
        return await _record_failure(notification_id, prepared.recipient, failure, deps)
    return await _record_sent(notification_id, prepared.recipient, receipt.provider_message_id, deps)


async def _claim(notification_id: int, deps: DeliveryDeps) -> _Prepared | AttemptResult:
    """Read the facts the claim's rules need (:mod:`~barbershop_core.use_cases.claim_rules`),
    ask them, and carry their decision out: claim the attempt, or hold or fail the notification.

    A notification that is missing or not due (a repeated queue message, another worker's
    lease) is skipped before anything else is read; consents are read for a marketing
    message only. The send path reads what it read before the rules became one function."""
    async with deps.uow_factory() as uow:
        notification = await uow.notifications.get_for_update(notification_id)
        now = deps.clock.now()
        if notification is None or not notification.is_due(now):
            return AttemptResult.SKIPPED
        client, person = await require_client(uow, notification.client_id)
        consent = None
        if notification.kind is TemplateKind.MARKETING:
            consent = has_marketing_consent(current_consents(await uow.consents.list_for_client(client.id)))
        channel, template = await uow.reference.get_route(notification.channel, notification.template_code)
        adapter = deps.channels.get(notification.channel)
        password, unreadable = _open_secret(notification, deps.secret_box)
        decision = decide_claim(
            ClaimFacts(
                notification=notification,
                now=now,
                channel=channel,
                template=template,
                channel_configured=adapter is not None,
                deduplicates=adapter is not None and adapter.deduplicates,
                client_accounts=client.channel_accounts,
                marketing_consent=consent,
                password=password,
                secret_unreadable=unreadable,
            )
        )
        if decision.action is not ClaimAction.SEND:
            _apply(notification, decision, now)
            chain = deps.fallback_chain if decision.fallback else ()
            return await finish(uow, notification, person, client, now, _OUTCOMES[decision.action], fallback=chain)
        # The rules send nothing without a channel, its template and an adapter.
        assert channel is not None
        assert template is not None
        assert adapter is not None
        notification.claim(now, now + deps.retry.lease)
        await uow.notifications.save(notification)
        await uow.commit()
    values = {
        "first_name": str(person.first_name),
        "login": str(person.login),
        "expires_at": _format_expiry(notification),
        "sign_in_url": deps.sign_in_url,
    }
    if password is not None:
        values["password"] = password
    message = OutgoingMessage(
        notification_id=notification.id,
        channel=notification.channel,
        template_code=notification.template_code,
        phone=person.phone,
        account=client.channel_accounts.get(channel.code),
        text=render(template.body, values),
        password=password,
    )
    return _Prepared(message, adapter, _Recipient(client, person))


def _open_secret(notification: ClientNotification, secret_box: SecretBox) -> tuple[str | None, bool]:
    """The notification's temporary password, and whether a sealed one failed to open."""
    if notification.secret is None:
        return None, False
    try:
        return secret_box.open(notification.secret), False
    except SecretUnreadable:
        return None, True


def _apply(notification: ClientNotification, decision: ClaimDecision, now: datetime) -> None:
    """Carry out a decision against sending."""
    assert decision.reason is not None  # every rule gives its reason
    if decision.action is ClaimAction.HOLD:
        notification.hold(now, decision.reason)
    elif decision.action is ClaimAction.FAIL:
        notification.fail(now, decision.reason)
    else:
        notification.record_permanent_failure(now, decision.reason)


def _format_expiry(notification: ClientNotification) -> str:
    expires = notification.secret_expires_at
    return expires.strftime("%d.%m.%Y %H:%M UTC") if expires else ""


async def _locked(uow: UnitOfWork, notification_id: int) -> ClientNotification:
    """The notification of an attempt, locked again to record its outcome."""
    notification = await uow.notifications.get_for_update(notification_id)
    assert notification is not None  # notifications are never deleted
    return notification


async def _record_sent(
    notification_id: int, recipient: _Recipient, provider_message_id: str, deps: DeliveryDeps
) -> AttemptResult:
    client, person = recipient
    async with deps.uow_factory() as uow:
        notification = await _locked(uow, notification_id)
        now = deps.clock.now()
        finished_meanwhile = notification.is_final
        notification.record_sent(now, provider_message_id)
        if finished_meanwhile:
            # Its final status was audited (and alerted) when it happened; keep the attempt only.
            await uow.notifications.save(notification)
            await uow.commit()
            return AttemptResult.SENT
        return await finish(uow, notification, person, client, now, AttemptResult.SENT)


async def _record_failure(
    notification_id: int, recipient: _Recipient, failure: DeliveryFailed, deps: DeliveryDeps
) -> AttemptResult:
    client, person = recipient
    async with deps.uow_factory() as uow:
        notification = await _locked(uow, notification_id)
        now = deps.clock.now()
        if notification.is_final:
            # A provider's delivery report overtook our own record of the attempt.
            log.warning("notification %s finished while its attempt failed: %s", notification.id, failure.reason)
            return AttemptResult.SKIPPED
        if not failure.retryable:
            notification.record_permanent_failure(now, failure.reason)
            return await finish(
                uow, notification, person, client, now, AttemptResult.FAILED, fallback=deps.fallback_chain
            )
        retry_at = deps.retry.retry_at(notification.attempt_count + 1, now)
        notification.record_retryable_failure(now, failure.reason, retry_at)
        uow.record(
            Trail(WORKER, now, person, client).event(
                AuditAction.NOTIFICATION_ATTEMPT_FAILED,
                notification_id=notification.id,
                attempt=str(notification.attempt_count),
                error=failure.reason,
            )
        )
        outcome = AttemptResult.FAILED if retry_at is None else AttemptResult.RETRY_SCHEDULED
        return await finish(uow, notification, person, client, now, outcome, fallback=deps.fallback_chain)


_STATUS_ACTIONS = {
    NotificationStatus.SENT: AuditAction.NOTIFICATION_SENT,
    NotificationStatus.DELIVERED: AuditAction.NOTIFICATION_DELIVERED,
    NotificationStatus.FAILED: AuditAction.NOTIFICATION_FAILED,
    NotificationStatus.HELD: AuditAction.NOTIFICATION_HELD,
    NotificationStatus.SCHEDULED: AuditAction.NOTIFICATION_SCHEDULED,
}


async def finish(
    uow: UnitOfWork,
    notification: ClientNotification,
    person: Person,
    client: Client,
    now: datetime,
    outcome: AttemptResult,
    context: Context = WORKER,
    *,
    fallback: Sequence[str] = (),
) -> AttemptResult:
    """Save, audit the status the notification is in, alert a manager when it needs one.

    With a fallback chain (``fallback``), a notification that failed for good awaits its
    fallback step instead: the caller runs the step after this commit (the sweep runs it
    when the caller could not), and only an exhausted chain alerts.
    """
    if fallback and notification.status is NotificationStatus.FAILED and notification.superseded_by is None:
        notification.await_fallback()
    await uow.notifications.save(notification)
    trail = Trail(context, now, person, client)
    if outcome is not AttemptResult.RETRY_SCHEDULED:
        uow.record(
            trail.event(
                _STATUS_ACTIONS[notification.status], notification_id=notification.id, channel=notification.channel
            )
        )
    if notification.needs_attention:
        active = ",".join(await active_channel_codes(uow))
        uow.record(trail.event(AuditAction.MANAGER_ALERTED, notification_id=notification.id, active_channels=active))
    await uow.commit()
    log.info("notification %s: %s", notification.id, outcome)
    return outcome
