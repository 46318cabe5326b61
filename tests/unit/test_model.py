"""Entities and policies on their own: the notification status machine, backoff, actors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from barbershop_core.errors import InvalidTransition
from barbershop_core.model import (
    Actor,
    AttemptOutcome,
    ClientNotification,
    NotificationStatus,
    Partner,
    StatusChange,
    TemplateKind,
    can_transition,
    partner_source,
)
from barbershop_core.policies import RetryPolicy

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
S = NotificationStatus


def notification(*, held: bool = False, secret: bytes | None = b"sealed") -> ClientNotification:
    return ClientNotification.new(
        client_id=1,
        channel="sms",
        template_code="REG_WELCOME",
        kind=TemplateKind.SERVICE,
        now=T0,
        held=held,
        hold_reason="Отложено менеджером" if held else None,
        secret=secret,
        secret_expires_at=T0 + timedelta(hours=72) if secret else None,
    )


# --- RetryPolicy ----------------------------------------------------------------------------


def test_without_jitter_retries_wait_30_seconds_then_four_times_longer_each_time() -> None:
    policy = RetryPolicy(random_source=lambda: 0.5)

    waits = [policy.retry_at(attempts, T0) for attempts in (1, 2, 3, 4)]

    assert waits == [T0 + timedelta(seconds=30), T0 + timedelta(seconds=120), T0 + timedelta(seconds=480), None]


@pytest.mark.parametrize(("random", "seconds"), [(0.0, 27.0), (1.0, 33.0)])
def test_jitter_stretches_or_shrinks_a_delay_by_at_most_its_fraction(random: float, seconds: float) -> None:
    policy = RetryPolicy(random_source=lambda: random)

    assert policy.retry_at(1, T0) == T0 + timedelta(seconds=seconds)


def test_the_number_of_retries_is_configurable() -> None:
    policy = RetryPolicy(max_retries=1, random_source=lambda: 0.5)

    assert policy.retry_at(1, T0) == T0 + timedelta(seconds=30)
    assert policy.retry_at(2, T0) is None


# --- the status machine ---------------------------------------------------------------------


def test_a_new_notification_is_scheduled_and_due_at_once() -> None:
    n = notification()

    assert (n.status, n.next_attempt_at, n.history) == (S.SCHEDULED, T0, [StatusChange(S.SCHEDULED, T0)])
    assert n.is_due(T0) is True
    assert n.is_due(T0 - timedelta(seconds=1)) is False
    assert n.is_final is False
    assert n.needs_attention is False


def test_a_held_notification_is_not_due_and_needs_attention() -> None:
    n = notification(held=True)

    assert (n.status, n.next_attempt_at) == (S.HELD, None)
    assert n.history == [StatusChange(S.HELD, T0, "Отложено менеджером")]
    assert n.is_due(T0 + timedelta(days=1)) is False
    assert n.needs_attention is True


def test_a_claimed_notification_is_not_due_until_its_lease_ends() -> None:
    n = notification()

    n.claim(T0, T0 + timedelta(minutes=2))

    assert n.is_due(T0 + timedelta(minutes=1)) is False
    assert n.is_due(T0 + timedelta(minutes=2)) is True
    with pytest.raises(InvalidTransition):
        n.claim(T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))


@pytest.mark.parametrize(
    ("current", "allowed"),
    [
        (S.SCHEDULED, {S.SENT, S.FAILED, S.HELD, S.DELIVERED}),
        (S.HELD, {S.SCHEDULED, S.FAILED}),
        (S.SENT, {S.DELIVERED, S.FAILED}),
        (S.DELIVERED, set()),
        (S.FAILED, set()),
    ],
)
def test_the_allowed_transitions(current: NotificationStatus, allowed: set[NotificationStatus]) -> None:
    assert {target for target in S if can_transition(current, target)} == allowed


def test_releasing_a_notification_that_is_not_held_is_refused() -> None:
    n = notification()

    with pytest.raises(InvalidTransition) as error:
        n.release(T0, "telegram")

    assert error.value.message == "Отправить заново можно только отложенное уведомление"
    assert (n.status, n.channel) == (S.SCHEDULED, "sms")


def test_releasing_a_held_notification_schedules_it_through_the_new_channel_at_once() -> None:
    n = notification(held=True)
    later = T0 + timedelta(hours=1)

    n.release(later, "telegram")

    assert (n.status, n.channel, n.next_attempt_at) == (S.SCHEDULED, "telegram", later)
    assert n.history[-1] == StatusChange(S.SCHEDULED, later, "Канал: telegram")


def test_a_move_out_of_a_final_state_is_refused_with_both_states_named() -> None:
    n = notification()
    n.fail(T0, "Срок действия временного пароля истёк")

    with pytest.raises(InvalidTransition) as error:
        n.hold(T0, "Канал недоступен")

    assert error.value.message == "Нельзя перевести уведомление из «failed» в «held»"
    assert error.value.code == "invalid_transition"
    assert n.status is S.FAILED


def test_sending_records_the_attempt_and_wipes_the_secret() -> None:
    n = notification()
    n.claim(T0, T0 + timedelta(minutes=2))

    n.record_sent(T0 + timedelta(seconds=1), "p-1")

    assert (n.status, n.provider_message_id, n.secret, n.secret_expires_at, n.lease_until) == (
        S.SENT,
        "p-1",
        None,
        None,
        None,
    )
    assert [(a.number, a.outcome) for a in n.attempts] == [(1, AttemptOutcome.SENT)]


def test_a_retryable_failure_without_a_retry_time_gives_up() -> None:
    n = notification()

    n.record_retryable_failure(T0, "timeout", None)

    assert (n.status, n.last_error, n.secret) == (S.FAILED, "timeout", None)
    assert n.history[-1].reason == "Попытки отправки исчерпаны"


def test_the_provider_may_only_report_delivered_or_failed() -> None:
    n = notification()

    with pytest.raises(InvalidTransition):
        n.apply_delivery_report(T0, S.SENT, None)


def test_a_secret_expires_at_its_expiry_time() -> None:
    n = notification()
    expiry = T0 + timedelta(hours=72)

    assert n.secret_expired(expiry - timedelta(microseconds=1)) is False
    assert n.secret_expired(expiry) is True
    assert notification(secret=None).secret_expired(expiry) is False


# --- small things ---------------------------------------------------------------------------


def test_actors_print_as_kind_and_id() -> None:
    assert [str(a) for a in (Actor.manager(7), Actor.partner(3), Actor.system("worker"), Actor.provider("sms"))] == [
        "manager:7",
        "partner:3",
        "system:worker",
        "provider:sms",
    ]
    assert partner_source("retail-1") == "partner:retail-1"


def test_a_partner_is_active_until_revoked() -> None:
    partner = Partner(name="retail-1", key_digest="d", created_at=T0)
    assert partner.is_active is True

    partner.revoked_at = T0

    assert partner.is_active is False
