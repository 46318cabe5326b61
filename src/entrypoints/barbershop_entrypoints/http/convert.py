"""Domain results to response bodies, with cattrs, at the boundary.

The domain's value objects become plain JSON values (a phone its E.164 text, money its
decimal string); a response class lists exactly the fields that leave the server, so a
field the domain adds (a password hash, a sealed secret) never leaks by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

from barbershop_core.model import ClientNotification, Manager, Person
from barbershop_core.use_cases.clients import ClientCard
from barbershop_core.use_cases.notification_queries import Alert
from barbershop_core.use_cases.timeline import TimelineStep
from barbershop_core.values import Email, FirstName, FullName, Login, Money, PhoneNumber
from barbershop_entrypoints.http.schemas import (
    AlertOut,
    ClientCardOut,
    Link,
    ManagerOut,
    NotificationOut,
    PersonOut,
    PurchaseOut,
    TimelineStepOut,
    client_links,
)

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(PhoneNumber, lambda phone: phone.e164)
converter.register_unstructure_hook(Money, str)
for _text_value in (FirstName, FullName, Login, Email):
    converter.register_unstructure_hook(_text_value, lambda value: value.value)
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(datetime, lambda value, _: value)


def to_body(cls: type[T], source: Any, **extra: Any) -> T:
    """Build the response ``cls`` from a domain object's fields (plus ``extra`` ones)."""
    fields = converter.unstructure(source)
    if not isinstance(fields, dict):
        raise TypeError(f"{type(source).__name__} is not a record")
    return converter.structure({**fields, **converter.unstructure(extra)}, cls)


def person_body(person: Person) -> PersonOut:
    return to_body(PersonOut, person)


def manager_body(manager: Manager) -> ManagerOut:
    return to_body(ManagerOut, manager)


def notification_body(notification: ClientNotification) -> NotificationOut:
    return to_body(
        NotificationOut,
        notification,
        attempt_count=notification.attempt_count,
        needs_attention=notification.needs_attention,
    )


def card_body(card: ClientCard) -> ClientCardOut:
    client, person = card.client, card.person
    return ClientCardOut(
        id=client.id,
        person_id=person.id,
        phone=person.phone.e164,
        first_name=str(person.first_name),
        login=str(person.login),
        must_change_password=person.must_change_password,
        temporary_password_expires_at=person.temporary_password_expires_at,
        temporary_password_voided_at=person.temporary_password_voided_at,
        first_signed_in_at=person.first_signed_in_at,
        registered_at=client.registered_at,
        registered_by=client.registered_by,
        source=client.source,
        full_name=str(client.full_name) if client.full_name else None,
        email=str(client.email) if client.email else None,
        channel_accounts=dict(client.channel_accounts),
        consents=dict(card.consents),
        notifications=[notification_body(n) for n in card.notifications],
        purchases=[to_body(PurchaseOut, purchase) for purchase in card.purchases],
        links=client_links(client.id),
    )


def cards_body(cards: Sequence[ClientCard]) -> list[ClientCardOut]:
    return [card_body(card) for card in cards]


def alert_body(alert: Alert) -> AlertOut:
    notification = alert.notification
    return AlertOut(
        notification=notification_body(notification),
        active_channels=list(alert.active_channels),
        resend=Link(href=f"/api/notifications/{notification.id}/resend", method="POST"),
    )


def timeline_step_body(step: TimelineStep) -> TimelineStepOut:
    return TimelineStepOut(
        at=step.at,
        notification_id=step.notification_id,
        channel=step.channel,
        kind=step.kind.value,
        state=step.state,
        detail=step.detail,
        provider_message_id=step.provider_message_id,
        replaces=step.replaces,
    )
