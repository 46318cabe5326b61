"""Telegram through the Telegram Gateway API (``https://gatewayapi.telegram.org``).

The Gateway is the one Telegram API that reaches a person by phone number, and it
carries no free text: ``sendVerificationMessage`` delivers a verification *code* of 4–8
digits, which Telegram shows in its own wording from the "Verification Codes" account.
How our message maps onto it: the rendered text of a notification for this channel must
*be* that code — the channel's template body is ``{password}`` and the temporary password
for it is 4–8 digits. Any other text is refused at once (``retryable=False``) rather than
cut down to digits that would mean something else.

Request: POST ``/sendVerificationMessage``, ``Authorization: Bearer <token>``, JSON
``phone_number`` (E.164), ``code``, ``payload`` (our notification id: not shown to the
person, returned in delivery reports), and the optional ``sender_username`` (a verified
channel of ours), ``callback_url`` and ``ttl``. Answer: ``{"ok": true, "result":
RequestStatus}`` whose ``request_id`` is the provider message id, or ``{"ok": false,
"error": "PHONE_NUMBER_INVALID"}``. The Gateway has no idempotency key.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

from barbershop_adapters.channels.http_base import (
    HttpChannel,
    ProviderAnswer,
    ProviderRequest,
    member,
    permanent,
    transient,
)
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_core.ports import OutgoingMessage, SendReceipt

_CODE: Final = re.compile(r"^[0-9]{4,8}$")

GATEWAY_ERRORS: Final = {
    "PHONE_NUMBER_INVALID": permanent("неверный номер телефона"),
    "PHONE_NUMBER_NOT_FOUND": permanent("номер не зарегистрирован в Telegram"),
    "PHONE_NUMBER_NOT_AVAILABLE": permanent("на этот номер Telegram не доставляет коды"),
    "ACCESS_TOKEN_INVALID": permanent("неверный токен Gateway API"),
    "ACCESS_TOKEN_REQUIRED": permanent("не указан токен Gateway API"),
    "BALANCE_NOT_ENOUGH": permanent("на счёте Gateway не хватает денег"),
    "SENDER_USERNAME_INVALID": permanent("неверный канал отправителя"),
    "SENDER_NOT_VERIFIED": permanent("канал отправителя не верифицирован"),
    "SENDER_NOT_OWNED": permanent("канал отправителя принадлежит другому аккаунту"),
    "CALLBACK_URL_INVALID": permanent("неверный адрес для отчётов о доставке"),
    "TTL_INVALID": permanent("неверный срок жизни сообщения"),
    "PAYLOAD_INVALID": permanent("неверные служебные данные запроса"),
    "CODE_INVALID": permanent("код не принят: нужны 4–8 цифр"),
    "MESSAGE_ALREADY_SENT": permanent("сообщение уже отправлено"),
}
_FLOOD: Final = transient("слишком частые запросы, Telegram просит подождать")
_UNKNOWN: Final = permanent("ошибка Gateway API")


@attrs.frozen
class TelegramGatewaySettings:
    token: str = attrs.field(repr=False)
    base_url: str = "https://gatewayapi.telegram.org"
    timeout_seconds: float = 10.0
    sender_username: str | None = None
    callback_url: str | None = None
    """HTTPS address for the Gateway's signed delivery reports."""
    ttl_seconds: int | None = None
    """Telegram deletes an unread message after this; an undelivered one is refunded."""


class TelegramGatewayChannel(HttpChannel):
    provider = "Telegram"
    carries_only_code = True
    """The Gateway delivers a verification code of 4–8 digits, never free text."""

    def __init__(self, settings: TelegramGatewaySettings, client: ProviderClient | None = None) -> None:
        super().__init__(timeout_seconds=settings.timeout_seconds, client=client)
        self._settings = settings

    def build_request(self, message: OutgoingMessage) -> ProviderRequest:
        code = message.text.strip()
        if not _CODE.match(code):
            raise self.failure(
                "Gateway API доставляет только код из 4–8 цифр, а не текст сообщения; "
                "выберите другой канал или шаблон «{password}» с цифровым паролем",
                retryable=False,
            )
        settings = self._settings
        body: dict[str, object] = {
            "phone_number": message.phone.e164,
            "code": code,
            "payload": str(message.notification_id),
        }
        if settings.sender_username:
            body["sender_username"] = settings.sender_username
        if settings.callback_url:
            body["callback_url"] = settings.callback_url
        if settings.ttl_seconds is not None:
            body["ttl"] = settings.ttl_seconds
        return ProviderRequest(
            url=f"{settings.base_url.rstrip('/')}/sendVerificationMessage",
            headers={"Authorization": f"Bearer {settings.token}"},
            json_body=body,
        )

    def read_answer(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt | None:
        ok = member(answer.body, "ok")
        request_id = member(answer.body, "result", "request_id")
        if ok is True and isinstance(request_id, str) and request_id:
            return SendReceipt(request_id)
        error = member(answer.body, "error")
        if ok is False and isinstance(error, str):
            if error.startswith("FLOOD_WAIT"):
                raise self.failure_for(_FLOOD, error)
            raise self.reject(error, GATEWAY_ERRORS, _UNKNOWN)
        return None
