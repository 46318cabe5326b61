"""Reference data: ``GET /api/channels`` and ``GET /api/notification-templates``."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from barbershop_core.templates import DEFAULT_BODIES
from barbershop_core.use_cases.reference_data import (
    ListChannels,
    ListTemplates,
    ReferenceDeps,
    list_channels,
    list_templates,
)
from barbershop_entrypoints.http.convert import to_body
from barbershop_entrypoints.http.openapi import MANAGER_PROBLEMS, example, ok, problems
from barbershop_entrypoints.http.schemas import ChannelOut, TemplateOut


@get(
    "/api/channels",
    tags=["reference"],
    summary="Каналы уведомлений",
    description="Все каналы с флагом `is_active`; неактивный канал нельзя выбрать (A7).",
    responses={
        **ok(
            list[ChannelOut],
            "Каналы",
            [
                example(
                    "channels",
                    [
                        {"code": "sms", "title": "SMS", "is_active": True, "address_kind": "phone"},
                        {"code": "vk", "title": "ВКонтакте", "is_active": False, "address_kind": "account"},
                    ],
                )
            ],
        ),
        **problems("/api/channels", MANAGER_PROBLEMS),
    },
)
async def channels(reference: NamedDependency[ReferenceDeps]) -> list[ChannelOut]:
    return [to_body(ChannelOut, channel) for channel in await list_channels(ListChannels(), reference)]


@get(
    "/api/notification-templates",
    tags=["reference"],
    summary="Шаблоны уведомлений",
    description="Шаблоны по каналам: код, вид (`service` / `marketing`), текст с полями `{first_name}`, `{login}`…",
    responses={
        **ok(
            list[TemplateOut],
            "Шаблоны",
            [
                example(
                    "templates",
                    [
                        {
                            "code": "REG_WELCOME",
                            "channel": "sms",
                            "kind": "service",
                            "body": DEFAULT_BODIES["REG_WELCOME"],
                            "is_active": True,
                        }
                    ],
                )
            ],
        ),
        **problems("/api/notification-templates", MANAGER_PROBLEMS),
    },
)
async def notification_templates(reference: NamedDependency[ReferenceDeps]) -> list[TemplateOut]:
    return [to_body(TemplateOut, template) for template in await list_templates(ListTemplates(), reference)]
