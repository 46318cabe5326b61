"""Messages the channel tests send: a real-looking phone, and a text with a password."""

from __future__ import annotations

from barbershop_core.ports import OutgoingMessage
from barbershop_core.values import PhoneNumber

PHONE = PhoneNumber("+79111234567")
PASSWORD = "Xk7mQ4vRt9wA"
TEXT = f"Иван, добро пожаловать в барбершоп! Логин: {PHONE.e164}, временный пароль: {PASSWORD}."
NUMERIC_CODE = "48151623"


def outgoing(
    *,
    notification_id: int = 42,
    channel: str = "sms",
    text: str = TEXT,
    account: str | None = None,
    phone: PhoneNumber = PHONE,
    password: str | None = PASSWORD,
) -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=notification_id,
        channel=channel,
        template_code="REG_WELCOME",
        phone=phone,
        account=account,
        text=text,
        password=password,
    )
