"""Reference data the product ships with (migrations and the embedded default seed it)."""

from __future__ import annotations

from typing import Final

from barbershop_core.model import AddressKind, Channel, NotificationTemplate, TemplateKind
from barbershop_core.policies import RegistrationPolicy
from barbershop_core.templates import CODE_ONLY_BODY, DEFAULT_BODIES

LOCAL_CHANNEL: Final = "local"

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
        CODE_ONLY_BODY if channel.code in RegistrationPolicy().code_only_channels else DEFAULT_BODIES["REG_WELCOME"],
    )
    for channel in DEFAULT_CHANNELS
)
