"""The claim's rules: whether a due notification may be sent now, and if not, what becomes of it.

One pure function (:func:`decide_claim`) over the facts the worker read
(:class:`ClaimFacts`); the worker (:func:`barbershop_core.use_cases.delivery.attempt_delivery`)
reads them, asks, and carries the decision out. The rules, in the order they are asked:

1. ``secret_expired``: the temporary password the message would show has expired — failed.
2. ``consent_withdrawn``: a marketing message whose client withdrew consent while it waited
   (A5 holds until the message leaves) — failed.
3. ``channel_unavailable``: the channel is unknown, inactive, or has no adapter here — held (A7).
4. ``attempt_abandoned``: the last claim's lease ran out without an outcome (the worker died,
   perhaps after the provider took the message) and the channel cannot deduplicate: sending
   again could reach the client twice — failed for a person to decide, never the fallback chain.
5. ``template_missing``: no active template of the message for the channel — held (A7).
6. ``no_account``: the channel addresses an account the client has not linked — failed for good.
7. ``secret_unreadable``: the sealed password does not open (the key changed?) — failed for good.
8. ``password_gone``: the template shows a password the notification no longer holds — failed
   for good.

"Failed for good" is a permanent failure of this attempt (it is on the record as one) that the
fallback chain may carry on; rules 1 and 2 fail the message without an attempt.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import attrs

from barbershop_core.errors import ConsentRequired
from barbershop_core.model import AddressKind, Channel, ClientNotification, NotificationTemplate, TemplateKind
from barbershop_core.templates import needs_password

EXPIRED: Final = "Срок действия временного пароля истёк"
ABANDONED: Final = "Прошлая попытка прервалась, сообщение могло уйти: проверьте у клиента или отправьте заново"


class ClaimRule(enum.StrEnum):
    """The rule that kept a notification from being sent (see the module's list)."""

    SECRET_EXPIRED = "secret_expired"  # noqa: S105 -- the name of a rule, not a password
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CHANNEL_UNAVAILABLE = "channel_unavailable"
    ATTEMPT_ABANDONED = "attempt_abandoned"
    TEMPLATE_MISSING = "template_missing"
    NO_ACCOUNT = "no_account"
    SECRET_UNREADABLE = "secret_unreadable"  # noqa: S105 -- the name of a rule, not a password
    PASSWORD_GONE = "password_gone"  # noqa: S105 -- the name of a rule, not a password


class ClaimAction(enum.StrEnum):
    SEND = "send"
    """Claim the attempt (with a lease) and hand the message to the channel."""
    HOLD = "hold"
    """Hold the notification until a manager releases it through a channel (A7)."""
    FAIL = "fail"
    """Fail the notification without an attempt."""
    FAIL_ATTEMPT = "fail_attempt"
    """Fail it with a permanent failure of this attempt on the record."""


@attrs.frozen
class ClaimFacts:
    """What the rules look at, read by the worker for a due notification."""

    notification: ClientNotification
    now: datetime
    channel: Channel | None
    """The notification's channel in the reference data; None when unknown."""
    template: NotificationTemplate | None
    """The notification's template for that channel; None when there is none."""
    channel_configured: bool
    """This installation has an adapter for the channel."""
    deduplicates: bool
    """The adapter reaches the client once when sent the same notification twice."""
    client_accounts: Mapping[str, str]
    """The client's linked accounts by channel code."""
    marketing_consent: bool | None
    """The client's current marketing consent; None when not read (a service message needs none)."""
    password: str | None
    """The opened temporary password; None when the notification holds none (or it did not open)."""
    secret_unreadable: bool = False
    """The notification holds a sealed password that did not open."""


@attrs.frozen
class ClaimDecision:
    action: ClaimAction
    rule: ClaimRule | None = None
    """The rule that decided against sending; None for :attr:`ClaimAction.SEND`."""
    reason: str | None = None
    """The notification's history entry (and error) in the manager's words."""
    fallback: bool = False
    """A failure the fallback chain may carry on to the next channel."""


SEND: Final = ClaimDecision(ClaimAction.SEND)


def decide_claim(facts: ClaimFacts) -> ClaimDecision:  # noqa: PLR0911 -- one answer per rule, in order
    """Apply the rules in order; the first that applies decides, else the notification is sent."""
    notification, channel, template = facts.notification, facts.channel, facts.template
    if notification.secret_expired(facts.now):
        return ClaimDecision(ClaimAction.FAIL, ClaimRule.SECRET_EXPIRED, EXPIRED)
    if notification.kind is TemplateKind.MARKETING and not facts.marketing_consent:
        return ClaimDecision(ClaimAction.FAIL, ClaimRule.CONSENT_WITHDRAWN, ConsentRequired.title)
    if channel is None or not channel.is_active or not facts.channel_configured:
        reason = f"Канал «{notification.channel}» недоступен"
        return ClaimDecision(ClaimAction.HOLD, ClaimRule.CHANNEL_UNAVAILABLE, reason)
    if notification.lease_until is not None and not facts.deduplicates:
        return ClaimDecision(ClaimAction.FAIL_ATTEMPT, ClaimRule.ATTEMPT_ABANDONED, ABANDONED)
    if template is None or not template.is_active:
        reason = f"Нет шаблона «{notification.template_code}» для канала «{notification.channel}»"
        return ClaimDecision(ClaimAction.HOLD, ClaimRule.TEMPLATE_MISSING, reason)
    if channel.address_kind is AddressKind.ACCOUNT and not facts.client_accounts.get(channel.code):
        reason = f"У клиента нет аккаунта для канала «{channel.title}»"
        return ClaimDecision(ClaimAction.FAIL_ATTEMPT, ClaimRule.NO_ACCOUNT, reason, fallback=True)
    if facts.secret_unreadable:
        reason = "Временный пароль не расшифровывается (сменился ключ?)"
        return ClaimDecision(ClaimAction.FAIL_ATTEMPT, ClaimRule.SECRET_UNREADABLE, reason, fallback=True)
    if facts.password is None and needs_password(template.body):
        reason = "Временный пароль для сообщения уже недоступен"
        return ClaimDecision(ClaimAction.FAIL_ATTEMPT, ClaimRule.PASSWORD_GONE, reason, fallback=True)
    return SEND
