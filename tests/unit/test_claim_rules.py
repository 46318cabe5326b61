"""The claim's rules as one pure function: one row per rule, named for it, plus their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from barbershop_core.errors import ConsentRequired
from barbershop_core.model import AddressKind, Channel, ClientNotification, NotificationTemplate, TemplateKind
from barbershop_core.use_cases.claim_rules import (
    ABANDONED,
    EXPIRED,
    SEND,
    ClaimAction,
    ClaimDecision,
    ClaimFacts,
    ClaimRule,
    decide_claim,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
SMS = Channel("sms", "SMS")
WELCOME = NotificationTemplate("REG_WELCOME", "sms", TemplateKind.SERVICE, "{first_name}, пароль: {password}")


def notification(**changes: Any) -> ClientNotification:
    """A service welcome through SMS, due now, holding a password valid for a day."""
    fresh = ClientNotification.new(
        client_id=1,
        channel="sms",
        template_code="REG_WELCOME",
        kind=TemplateKind.SERVICE,
        now=NOW,
        secret=b"sealed",
        secret_expires_at=NOW + timedelta(days=1),
    )
    return attrs.evolve(fresh, **changes)


def facts(**changes: Any) -> ClaimFacts:
    """Facts under which every rule lets the message go."""
    return attrs.evolve(
        ClaimFacts(
            notification=notification(),
            now=NOW,
            channel=SMS,
            template=WELCOME,
            channel_configured=True,
            deduplicates=False,
            client_accounts={},
            marketing_consent=None,
            password="Temp000001xy",
        ),
        **changes,
    )


def fails(rule: ClaimRule, reason: str) -> ClaimDecision:
    return ClaimDecision(ClaimAction.FAIL, rule, reason)


def fails_for_good(rule: ClaimRule, reason: str, *, fallback: bool = True) -> ClaimDecision:
    return ClaimDecision(ClaimAction.FAIL_ATTEMPT, rule, reason, fallback=fallback)


def holds(rule: ClaimRule, reason: str) -> ClaimDecision:
    return ClaimDecision(ClaimAction.HOLD, rule, reason)


MARKETING = notification(kind=TemplateKind.MARKETING)
VK = Channel("vk", "ВКонтакте", address_kind=AddressKind.ACCOUNT)
LEASE_RAN_OUT = notification(lease_until=NOW - timedelta(seconds=1))

RULES = [
    pytest.param(
        facts(notification=notification(secret_expires_at=NOW)),
        fails(ClaimRule.SECRET_EXPIRED, EXPIRED),
        id="secret_expired",
    ),
    pytest.param(
        facts(notification=MARKETING, marketing_consent=False),
        fails(ClaimRule.CONSENT_WITHDRAWN, ConsentRequired.title),
        id="consent_withdrawn",
    ),
    pytest.param(
        facts(channel=None),
        holds(ClaimRule.CHANNEL_UNAVAILABLE, "Канал «sms» недоступен"),
        id="channel_unavailable-unknown",
    ),
    pytest.param(
        facts(channel=attrs.evolve(SMS, is_active=False)),
        holds(ClaimRule.CHANNEL_UNAVAILABLE, "Канал «sms» недоступен"),
        id="channel_unavailable-inactive",
    ),
    pytest.param(
        facts(channel_configured=False),
        holds(ClaimRule.CHANNEL_UNAVAILABLE, "Канал «sms» недоступен"),
        id="channel_unavailable-no_adapter",
    ),
    pytest.param(
        facts(notification=LEASE_RAN_OUT),
        fails_for_good(ClaimRule.ATTEMPT_ABANDONED, ABANDONED, fallback=False),
        id="attempt_abandoned",
    ),
    pytest.param(
        facts(template=None),
        holds(ClaimRule.TEMPLATE_MISSING, "Нет шаблона «REG_WELCOME» для канала «sms»"),
        id="template_missing-absent",
    ),
    pytest.param(
        facts(template=attrs.evolve(WELCOME, is_active=False)),
        holds(ClaimRule.TEMPLATE_MISSING, "Нет шаблона «REG_WELCOME» для канала «sms»"),
        id="template_missing-inactive",
    ),
    pytest.param(
        facts(notification=notification(channel="vk"), channel=VK, client_accounts={"sms": "id42"}),
        fails_for_good(ClaimRule.NO_ACCOUNT, "У клиента нет аккаунта для канала «ВКонтакте»"),
        id="no_account",
    ),
    pytest.param(
        facts(password=None, secret_unreadable=True),
        fails_for_good(ClaimRule.SECRET_UNREADABLE, "Временный пароль не расшифровывается (сменился ключ?)"),
        id="secret_unreadable",
    ),
    pytest.param(
        facts(notification=notification(secret=None, secret_expires_at=None), password=None),
        fails_for_good(ClaimRule.PASSWORD_GONE, "Временный пароль для сообщения уже недоступен"),
        id="password_gone",
    ),
]


@pytest.mark.parametrize(("given", "decision"), RULES)
def test_each_rule_decides_against_sending_in_its_own_way(given: ClaimFacts, decision: ClaimDecision) -> None:
    assert decide_claim(given) == decision


def test_every_rule_has_its_row() -> None:
    named = {param.id.split("-")[0] for param in RULES if param.id}
    assert named == {rule.value for rule in ClaimRule}


SENT_ANYWAY = [
    pytest.param(facts(), id="nothing_in_the_way"),
    pytest.param(facts(notification=MARKETING, marketing_consent=True), id="marketing_with_consent"),
    pytest.param(facts(notification=LEASE_RAN_OUT, deduplicates=True), id="abandoned_on_a_deduplicating_channel"),
    pytest.param(
        facts(notification=notification(channel="vk"), channel=VK, client_accounts={"vk": "id42"}),
        id="account_linked",
    ),
    pytest.param(
        facts(
            notification=notification(secret=None, secret_expires_at=None),
            template=attrs.evolve(WELCOME, body="{first_name}, добро пожаловать"),
            password=None,
        ),
        id="no_password_shown",
    ),
]


@pytest.mark.parametrize("given", SENT_ANYWAY)
def test_a_notification_no_rule_applies_to_is_sent(given: ClaimFacts) -> None:
    assert decide_claim(given) == SEND


def test_the_rules_are_asked_in_order_and_the_first_that_applies_decides() -> None:
    wrong = attrs.evolve(MARKETING, channel="vk", secret_expires_at=NOW, lease_until=NOW - timedelta(seconds=1))
    current = facts(
        notification=wrong,
        marketing_consent=False,
        channel=None,
        template=None,
        password=None,
        secret_unreadable=True,
    )
    put_right = [
        {"notification": attrs.evolve(wrong, secret_expires_at=NOW + timedelta(days=1))},
        {"marketing_consent": True},
        {"channel": VK},
        {"deduplicates": True},
        {"template": WELCOME},
        {"client_accounts": {"vk": "id42"}},
        {"secret_unreadable": False},
        {"password": "Temp000001xy"},
    ]

    decided = []
    for changes in put_right:
        decided.append(decide_claim(current).rule)
        current = attrs.evolve(current, **changes)

    assert decided == [
        ClaimRule.SECRET_EXPIRED,
        ClaimRule.CONSENT_WITHDRAWN,
        ClaimRule.CHANNEL_UNAVAILABLE,
        ClaimRule.ATTEMPT_ABANDONED,
        ClaimRule.TEMPLATE_MISSING,
        ClaimRule.NO_ACCOUNT,
        ClaimRule.SECRET_UNREADABLE,
        ClaimRule.PASSWORD_GONE,
    ]
    assert decide_claim(current) == SEND
