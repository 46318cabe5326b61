"""The worker's send (step 8, A4): claim an attempt, hand it to the channel, record the outcome.

Also the one place that records what a notification's status became (:func:`finish`):
the provider reports (:mod:`~barbershop_core.use_cases.delivery_reports`) and the sweep's
expiry of passwords (:mod:`~barbershop_core.use_cases.notification_queries`) finish through it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Final, NamedTuple

import attrs

from barbershop_core.context import Context
from barbershop_core.group_commit import GroupCommit, In, Out
from barbershop_core.model import (
    Actor,
    AttemptOutcome,
    AuditAction,
    Client,
    ClientNotification,
    NotificationStatus,
    NotificationTemplate,
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
    found_client,
    has_marketing_consent,
    log,
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


DEFAULT_BATCH: Final = 50
"""The most sends whose claims (or records) share one transaction."""
DEFAULT_LINGER_SECONDS: Final = 0.05
"""How long, on a busy worker, a claim or record waits for others to join its transaction
(see :class:`~barbershop_core.group_commit.GroupCommit`): 50 ms against seconds of a
provider's own latency, for batches of dozens instead of a few."""
DEFAULT_QUIET_SECONDS: Final = 0.02
"""While lingering, the longest gap between two sends that still keeps the batch open (a
send alone costs its claim and record 4–7 times the CPU of one in a batch of 20,
``bench/hot_path_cost.py``)."""


@attrs.frozen
class Batching:
    """How long a busy sender's claims and records wait for others to share their
    transactions (see :class:`~barbershop_core.group_commit.GroupCommit`)."""

    max_batch: int = DEFAULT_BATCH
    linger_seconds: float = DEFAULT_LINGER_SECONDS
    quiet_seconds: float = DEFAULT_QUIET_SECONDS
    busy_seconds: float | None = None
    """A claim or record arriving this long after the last one ended runs at once; None:
    ``linger_seconds``."""


SENDS_OF_REGISTRATIONS: Final = Batching(linger_seconds=0.2, quiet_seconds=0.06, busy_seconds=0.06)
"""For a server that sends its welcome messages itself (the embedded default): one send per
registration, ~15 ms apart when its CPUs are busy, on the CPUs that also hash the
passwords. A quiet spell of a few times that gap, up to 200 ms, lets their claims and
records share transactions in batches of about a dozen instead of two or three: ~1 ms less
CPU per registration (``docs/performance.md``). Under load a message leaves at most ~200 ms
(and one claim's transaction) later; a send more than 60 ms after the last one goes at once;
the manager's answer never waits for either. The in-process sweep's sends (many at once,
every 15 s) wait out one quiet spell more. Not the worker's: where every one of its tasks
already waits on a claim or a record, each batch would wait out the longer quiet spell."""


def _group_commit(
    run: Callable[[list[In]], Awaitable[Sequence[Out]]], batching: Batching, *, skip_cancelled: bool = False
) -> GroupCommit[In, Out]:
    return GroupCommit(
        run,
        max_batch=batching.max_batch,
        linger_seconds=batching.linger_seconds,
        quiet_seconds=batching.quiet_seconds,
        busy_seconds=batching.busy_seconds,
        skip_cancelled=skip_cancelled,
    )


class _Recipient(NamedTuple):
    """The client and person the claim read: the record audits the attempt under them
    (the phone the message went to) without reading them again."""

    client: Client
    person: Person


@attrs.frozen
class _Claimed:
    message: OutgoingMessage
    channel: NotificationChannel
    recipient: _Recipient


@attrs.frozen
class _Outcome:
    """What the provider answered to a claimed attempt."""

    claimed: _Claimed
    provider_message_id: str | None = None
    failure: DeliveryFailed | None = None


async def attempt_delivery(command: AttemptDelivery, deps: DeliveryDeps) -> AttemptResult:
    """Step 8: one send attempt, safe to run from many workers at once (see :class:`Deliveries`)."""
    return await Deliveries(deps).attempt(command.notification_id)


class Deliveries:
    """Step 8 for a worker: send attempts of concurrent tasks, sharing their transactions.

    Each attempt is claimed with a lease in one transaction, the provider is called with
    no transaction open, and the outcome is recorded in another. A worker that dies in
    between leaves the lease to run out; the notification id doubles as the provider's
    idempotency key so that the retry does not reach the client twice.

    The attempts that are claimed (or recorded) at the same moment share one transaction
    (:class:`~barbershop_core.group_commit.GroupCommit`): a busy worker claims and records
    its sends in batches — a handful of statements per batch instead of per send — while
    each send still goes out and is recorded on its own time.
    """

    def __init__(self, deps: DeliveryDeps, batching: Batching = Batching()) -> None:
        self._deps = deps
        # A claim whose caller is gone (a worker stopping) is not taken: nobody would send it.
        self._claims = _group_commit(self._claim, batching, skip_cancelled=True)
        # A record always runs: its message went out.
        self._records = _group_commit(self._record, batching)

    async def attempt(self, notification_id: int) -> AttemptResult:
        claimed = await self._claims.submit(notification_id)
        if isinstance(claimed, AttemptResult):
            return claimed
        try:
            receipt = await claimed.channel.send(claimed.message)
        except DeliveryFailed as failure:
            return await self._records.submit(_Outcome(claimed, failure=failure))
        return await self._records.submit(_Outcome(claimed, provider_message_id=receipt.provider_message_id))

    async def _claim(self, notification_ids: list[int]) -> list[_Claimed | AttemptResult]:
        """Read the facts the claim's rules need (:mod:`~barbershop_core.use_cases.claim_rules`),
        ask them, and carry their decision out: claim the attempt, or hold or fail the notification.

        A notification that is missing or not due (a repeated queue message, another worker's
        lease, the same id twice in the batch) is skipped; consents are read for a marketing
        message only."""
        deps = self._deps
        decided: dict[int, _Claimed | AttemptResult] = {}
        async with deps.uow_factory() as uow:
            locked = await uow.notifications.get_many_to_send(notification_ids)
            now = deps.clock.now()  # after the locks: a wait for them does not shorten the lease
            settled = _Settled(uow, now)
            for to_send in locked:
                notification, channel, template = to_send.notification, to_send.channel, to_send.template
                if not notification.is_due(now):
                    continue
                client, person = found_client(to_send.recipient, notification.client_id)
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
                        marketing_consent=await _marketing_consent(uow, notification, client),
                        password=password,
                        secret_unreadable=unreadable,
                    )
                )
                if decision.action is not ClaimAction.SEND:
                    _apply(notification, decision, now)
                    chain = deps.fallback_chain if decision.fallback else ()
                    outcome = _OUTCOMES[decision.action]
                    decided[notification.id] = settled.add(notification, person, client, outcome, fallback=chain)
                    continue
                # The rules send nothing without a channel, its template and an adapter.
                assert channel is not None
                assert template is not None
                assert adapter is not None
                notification.claim(now, now + deps.retry.lease)
                settled.keep(notification)
                message = _message(notification, person, client, channel.code, template, password, deps)
                decided[notification.id] = _Claimed(message, adapter, _Recipient(client, person))
            await settled.commit()
        # A second occurrence of an id finds it taken by the first.
        return [decided.pop(notification_id, AttemptResult.SKIPPED) for notification_id in notification_ids]

    async def _record(self, outcomes: list[_Outcome]) -> list[AttemptResult]:
        """Record what the providers answered, each under the client and person its claim read."""
        deps = self._deps
        async with deps.uow_factory() as uow:
            ids = [outcome.claimed.message.notification_id for outcome in outcomes]
            locked = {n.id: n for n in await uow.notifications.get_many_for_update(ids)}
            now = deps.clock.now()
            settled = _Settled(uow, now)
            results = [
                _record_one(locked[outcome.claimed.message.notification_id], outcome, settled, deps)
                for outcome in outcomes
            ]
            await settled.commit()
        return results


def _record_one(
    notification: ClientNotification, outcome: _Outcome, settled: _Settled, deps: DeliveryDeps
) -> AttemptResult:
    client, person = outcome.claimed.recipient
    now = settled.now
    if _recorded_already(notification, outcome):
        return AttemptResult.SENT if outcome.failure is None else AttemptResult.RETRY_SCHEDULED
    if outcome.failure is None:
        assert outcome.provider_message_id is not None  # a receipt always names the provider's message
        finished_meanwhile = notification.is_final
        notification.record_sent(now, outcome.provider_message_id)
        if finished_meanwhile:
            # Its final status was audited (and alerted) when it happened; keep the attempt only.
            settled.keep(notification)
            return AttemptResult.SENT
        return settled.add(notification, person, client, AttemptResult.SENT)
    failure = outcome.failure
    if notification.is_final:
        # A provider's delivery report overtook our own record of the attempt.
        log.warning("notification %s finished while its attempt failed: %s", notification.id, failure.reason)
        return AttemptResult.SKIPPED
    if not failure.retryable:
        notification.record_permanent_failure(now, failure.reason)
        return settled.add(notification, person, client, AttemptResult.FAILED, fallback=deps.fallback_chain)
    retry_at = deps.retry.retry_at(notification.attempt_count + 1, now)
    notification.record_retryable_failure(now, failure.reason, retry_at)
    settled.uow.record(
        Trail(WORKER, now, person, client).event(
            AuditAction.NOTIFICATION_ATTEMPT_FAILED,
            notification_id=notification.id,
            attempt=str(notification.attempt_count),
            error=failure.reason,
        )
    )
    result = AttemptResult.FAILED if retry_at is None else AttemptResult.RETRY_SCHEDULED
    return settled.add(notification, person, client, result, fallback=deps.fallback_chain)


def _recorded_already(notification: ClientNotification, outcome: _Outcome) -> bool:
    """This attempt's outcome is stored already: a record run again after its transaction
    failed to answer (see :class:`~barbershop_core.group_commit.GroupCommit`) must not add
    the attempt twice. A record clears the lease its claim took and appends the attempt; a
    failure stored for good made the notification final, which the record handles anyway."""
    last = notification.attempts[-1] if notification.attempts else None
    if notification.lease_until is not None or last is None:
        return False
    if outcome.failure is None:
        return last.provider_message_id == outcome.provider_message_id
    return not notification.is_final and last.outcome is not AttemptOutcome.SENT


async def _marketing_consent(uow: UnitOfWork, notification: ClientNotification, client: Client) -> bool | None:
    if notification.kind is not TemplateKind.MARKETING:
        return None
    return has_marketing_consent(current_consents(await uow.consents.list_for_client(client.id)))


def _message(
    notification: ClientNotification,
    person: Person,
    client: Client,
    channel: str,
    template: NotificationTemplate,
    password: str | None,
    deps: DeliveryDeps,
) -> OutgoingMessage:
    values = {
        "first_name": str(person.first_name),
        "login": str(person.login),
        "expires_at": _format_expiry(notification),
        "sign_in_url": deps.sign_in_url,
    }
    if password is not None:
        values["password"] = password
    return OutgoingMessage(
        notification_id=notification.id,
        channel=notification.channel,
        template_code=notification.template_code,
        phone=person.phone,
        account=client.channel_accounts.get(channel),
        text=render(template.body, values),
        password=password,
    )


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
    settled = _Settled(uow, now, context)
    settled.add(notification, person, client, outcome, fallback=fallback)
    await settled.commit()
    return outcome


class _Settled:
    """Notifications whose status a unit of work settled: saved together, audited, the
    managers alerted where one needs to act, and committed (see :func:`finish`)."""

    def __init__(self, uow: UnitOfWork, now: datetime, context: Context = WORKER) -> None:
        self.uow = uow
        self.now = now
        self._context = context
        self._changed: list[ClientNotification] = []
        """Saved with the commit."""
        self._alerts: list[tuple[Trail, ClientNotification]] = []
        self._logged: list[tuple[int, AttemptResult]] = []

    def add(
        self,
        notification: ClientNotification,
        person: Person,
        client: Client,
        outcome: AttemptResult,
        *,
        fallback: Sequence[str] = (),
    ) -> AttemptResult:
        if fallback and notification.status is NotificationStatus.FAILED and notification.superseded_by is None:
            notification.await_fallback()
        self._changed.append(notification)
        trail = Trail(self._context, self.now, person, client)
        if outcome is not AttemptResult.RETRY_SCHEDULED:
            self.uow.record(
                trail.event(
                    _STATUS_ACTIONS[notification.status], notification_id=notification.id, channel=notification.channel
                )
            )
        if notification.needs_attention:
            self._alerts.append((trail, notification))
        self._logged.append((notification.id, outcome))
        return outcome

    def keep(self, notification: ClientNotification) -> None:
        """Save a notification whose change is audited elsewhere (a lease, an attempt only)."""
        self._changed.append(notification)

    async def commit(self) -> None:
        await self.uow.notifications.save_many(self._changed)
        if self._alerts:
            active = ",".join(await active_channel_codes(self.uow))
            for trail, notification in self._alerts:
                self.uow.record(
                    trail.event(AuditAction.MANAGER_ALERTED, notification_id=notification.id, active_channels=active)
                )
        await self.uow.commit()
        for notification_id, outcome in self._logged:
            log.info("notification %s: %s", notification_id, outcome)
