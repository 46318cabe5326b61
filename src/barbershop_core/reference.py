"""Reference data the product ships with (migrations and the embedded default seed it)."""

from __future__ import annotations

from typing import Final

from barbershop_core.model import AddressKind, Channel, NotificationTemplate, TemplateKind
from barbershop_core.templates import CODE_ONLY_BODY, DEFAULT_BODIES

LOCAL_CHANNEL: Final = "local"

CODE_ONLY_CHANNELS: Final = frozenset({"telegram"})
"""The shipped channels whose provider carries a numeric code and no text (the Telegram Gateway):
their welcome template is the code. A channel's adapter declares this itself
(``NotificationChannel.carries_only_code``); this set answers for a channel that has no adapter
on an installation, so that a password issued for its held message fits when it is released."""

DEFAULT_CHANNELS: Final = (
    Channel("sms", "SMS", is_active=True, address_kind=AddressKind.PHONE),
    Channel("telegram", "Telegram", is_active=True, address_kind=AddressKind.PHONE),
    Channel("whatsapp", "WhatsApp", is_active=True, address_kind=AddressKind.PHONE),
    Channel("vk", "ВКонтакте", is_active=True, address_kind=AddressKind.ACCOUNT),
    Channel(LOCAL_CHANNEL, "Локальный журнал сообщений", is_active=True, address_kind=AddressKind.PHONE),
)

DEFAULT_TEMPLATES: Final = tuple(
    NotificationTemplate(
        "REG_WELCOME",
        channel.code,
        TemplateKind.SERVICE,
        CODE_ONLY_BODY if channel.code in CODE_ONLY_CHANNELS else DEFAULT_BODIES["REG_WELCOME"],
    )
    for channel in DEFAULT_CHANNELS
)
