"""VK (ВКонтакте) through the VK API method ``messages.send``, from a community.

VK cannot reach a phone number: the client's linked VK user id (``message.account``) is
the address, and a message without one fails at once. The community can write only to
people who allowed its messages (error 901 otherwise).

Request: POST ``{base_url}/method/messages.send``, a form with ``user_id``,
``random_id``, ``message``, ``access_token`` (the community token, in the body and never
in the URL) and ``v``. ``random_id`` is VK's dedup key — a second call with the same one
does not send again — and is derived from the notification id, so every retry of one
notification carries the same key.

VK answers HTTP 200 either way: ``{"response": <message id>}`` or
``{"error": {"error_code": 901, "error_msg": …, "request_params": […]}}``; only the code
is used, since ``request_params`` echoes the request.
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

_INT32_MAX: Final = 2**31 - 1
_USER_ID: Final = re.compile(r"^(?:id)?([1-9][0-9]{0,18})$")

VK_ERRORS: Final = {
    1: transient("неизвестная ошибка VK"),
    5: permanent("токен сообщества недействителен"),
    6: transient("слишком много запросов в секунду"),
    7: permanent("у токена нет права на сообщения"),
    9: transient("сработал флуд-контроль"),
    10: transient("внутренняя ошибка VK"),
    14: transient("VK требует капчу"),
    15: permanent("доступ запрещён"),
    18: permanent("страница пользователя удалена или заблокирована"),
    27: permanent("токен сообщества недействителен"),
    29: transient("достигнут лимит вызовов метода"),
    100: permanent("неверный параметр запроса"),
    113: permanent("неверный id пользователя VK"),
    900: permanent("пользователь заблокировал сообщество"),
    901: permanent("пользователь не разрешил сообщения от сообщества"),
    902: permanent("настройки приватности пользователя запрещают сообщения"),
    914: permanent("сообщение слишком длинное"),
    936: permanent("контакт не найден"),
}
_UNKNOWN: Final = permanent("ошибка VK API")


@attrs.frozen
class VkSettings:
    access_token: str = attrs.field(repr=False)
    """A community token with the ``messages`` right."""
    api_version: str = "5.199"
    base_url: str = "https://api.vk.com"
    timeout_seconds: float = 10.0
    random_id_offset: int = 0
    """Shifts our ``random_id`` range when another system writes from the same community."""


class VkChannel(HttpChannel):
    provider = "ВКонтакте"
    deduplicates = True  # random_id is derived from the notification id

    def __init__(self, settings: VkSettings, client: ProviderClient | None = None) -> None:
        super().__init__(timeout_seconds=settings.timeout_seconds, client=client)
        self._settings = settings

    def build_request(self, message: OutgoingMessage) -> ProviderRequest:
        if not message.account:
            raise self.failure("у клиента нет привязанного аккаунта ВКонтакте", retryable=False)
        user_id = _USER_ID.match(message.account.strip())
        if user_id is None:
            raise self.failure("привязанный аккаунт — не id пользователя ВКонтакте", retryable=False)
        settings = self._settings
        form = {
            "user_id": user_id.group(1),
            "random_id": str(random_id(message.notification_id, settings.random_id_offset)),
            "message": message.text,
            "access_token": settings.access_token,
            "v": settings.api_version,
        }
        return ProviderRequest(url=f"{settings.base_url.rstrip('/')}/method/messages.send", form=form)

    def read_answer(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt | None:
        message_id = member(answer.body, "response")
        if isinstance(message_id, int) and not isinstance(message_id, bool) and message_id > 0:
            return SendReceipt(str(message_id))
        code = member(answer.body, "error", "error_code")
        if isinstance(code, int) and not isinstance(code, bool):
            raise self.reject(code, VK_ERRORS, _UNKNOWN)
        return None


def random_id(notification_id: int, offset: int = 0) -> int:
    """A positive int32, the same for every attempt of one notification, distinct between
    notifications (for the first 2³¹−1 of them)."""
    return 1 + (offset + notification_id - 1) % _INT32_MAX
