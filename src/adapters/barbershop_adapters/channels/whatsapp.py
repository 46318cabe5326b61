"""WhatsApp through Meta's WhatsApp Cloud API: a template message.

A business may open a conversation only with a template approved by Meta, so the
notification goes out as ``type=template``: POST
``{base_url}/{api_version}/{phone_number_id}/messages`` with ``Authorization: Bearer
<token>`` and a body whose single body parameter ``{{1}}`` is our rendered text. The
template to approve therefore reads like "Барбершоп: {{1}}" (Meta refuses a template
that is nothing but a variable). Meta refuses newlines, tabs and runs of more than four
spaces inside a parameter, so whitespace in the text is folded to single spaces.

``biz_opaque_callback_data`` carries our notification id: Meta returns it in the status
webhooks (sent / delivered / read / failed). The Cloud API has no idempotency key.

Answer: ``{"messages": [{"id": "wamid…"}], …}``, or an error object
``{"error": {"code": 131026, "message": …, "error_data": {"details": …}}}`` whose code
decides; its texts are never reused, as they may quote the request.
"""

from __future__ import annotations

from typing import Final

import attrs

from barbershop_adapters.channels.http_base import (
    HttpChannel,
    ProviderAnswer,
    ProviderRequest,
    is_success,
    member,
    permanent,
    transient,
)
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_core.ports import OutgoingMessage, SendReceipt

CLOUD_API_ERRORS: Final = {
    0: permanent("ошибка авторизации"),
    1: transient("временная ошибка API"),
    2: transient("сервис временно недоступен"),
    3: permanent("у приложения нет доступа к этому методу"),
    4: transient("превышен лимит запросов приложения"),
    10: permanent("нет разрешения на отправку"),
    100: permanent("неверный параметр запроса"),
    190: permanent("токен доступа недействителен или истёк"),
    200: permanent("нет разрешения на отправку"),
    368: permanent("отправка временно заблокирована за нарушение правил"),
    80007: transient("превышен лимит запросов аккаунта"),
    130429: transient("превышен лимит пропускной способности"),
    131000: transient("временная ошибка API"),
    131005: permanent("нет доступа"),
    131008: permanent("в запросе не хватает параметра"),
    131009: permanent("неверный параметр запроса"),
    131016: transient("сервис временно перегружен"),
    131021: permanent("получатель совпадает с отправителем"),
    131026: permanent("сообщение не доставить: номера нет в WhatsApp или приложение устарело"),
    131030: permanent("номер не в списке разрешённых получателей"),
    131031: permanent("аккаунт заблокирован"),
    131042: permanent("проблема с оплатой аккаунта"),
    131047: permanent("истекло окно в 24 часа"),
    131048: transient("лимит отправки из-за жалоб на спам"),
    131049: permanent("Meta не стала доставлять сообщение этому получателю"),
    131050: permanent("получатель отказался от сообщений бизнеса"),
    131051: permanent("неподдерживаемый тип сообщения"),
    131056: transient("слишком много сообщений на этот номер"),
    131057: transient("аккаунт на техническом обслуживании"),
    132000: permanent("число параметров не совпадает с шаблоном"),
    132001: permanent("шаблон не найден или не одобрен для этого языка"),
    132005: permanent("текст шаблона с параметрами слишком длинный"),
    132007: permanent("текст нарушает правила форматирования шаблона"),
    132012: permanent("формат параметра не совпадает с шаблоном"),
    132015: permanent("шаблон приостановлен"),
    132016: permanent("шаблон отключён"),
    133010: permanent("номер отправителя не зарегистрирован"),
}
_UNKNOWN: Final = permanent("ошибка WhatsApp Cloud API")


@attrs.frozen
class WhatsAppCloudSettings:
    access_token: str = attrs.field(repr=False)
    phone_number_id: str
    """The business phone number's id in Meta (not the number itself)."""
    template_name: str
    """An approved template whose body has the one parameter ``{{1}}``."""
    language_code: str = "ru"
    api_version: str = "v21.0"
    base_url: str = "https://graph.facebook.com"
    timeout_seconds: float = 10.0


class WhatsAppCloudChannel(HttpChannel):
    provider = "WhatsApp"

    def __init__(self, settings: WhatsAppCloudSettings, client: ProviderClient | None = None) -> None:
        super().__init__(timeout_seconds=settings.timeout_seconds, client=client)
        self._settings = settings

    def build_request(self, message: OutgoingMessage) -> ProviderRequest:
        settings = self._settings
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.phone.e164,
            "type": "template",
            "template": {
                "name": settings.template_name,
                "language": {"code": settings.language_code},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": " ".join(message.text.split())}]}
                ],
            },
            "biz_opaque_callback_data": str(message.notification_id),
        }
        base = settings.base_url.rstrip("/")
        return ProviderRequest(
            url=f"{base}/{settings.api_version}/{settings.phone_number_id}/messages",
            headers={"Authorization": f"Bearer {settings.access_token}"},
            json_body=body,
        )

    def read_answer(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt | None:
        message_id = member(answer.body, "messages", 0, "id")
        if is_success(answer.status_code) and isinstance(message_id, str) and message_id:
            return SendReceipt(message_id)
        code = member(answer.body, "error", "code")
        if isinstance(code, int) and not isinstance(code, bool):
            raise self.reject(code, CLOUD_API_ERRORS, _UNKNOWN)
        return None
