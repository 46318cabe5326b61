"""Channels and templates: shipped defaults, listing, sync from a source (variant 1)."""

from __future__ import annotations

import pytest

from barbershop_core.errors import ValidationError
from barbershop_core.model import (
    AddressKind,
    AuditAction,
    Channel,
    NotificationStatus,
    NotificationTemplate,
    TemplateKind,
)
from barbershop_core.ports import ReferenceSnapshot
from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES, LOCAL_CHANNEL
from barbershop_core.templates import CODE_ONLY_BODY, DEFAULT_BODIES
from barbershop_core.use_cases.delivery import AttemptDelivery, AttemptResult, attempt_delivery
from barbershop_core.use_cases.reference_data import (
    InstallDefaultReferenceData,
    ListChannels,
    ListTemplates,
    SyncReferenceData,
    SyncReport,
    install_default_reference_data,
    list_channels,
    list_templates,
    sync_reference_data,
)
from tests.conftest import World
from tests.fakes import StaticReferenceSource
from tests.unit.support import audit_events, register, rows

WELCOME = DEFAULT_BODIES["REG_WELCOME"]


def welcome(channel: str, body: str = WELCOME) -> NotificationTemplate:
    return NotificationTemplate("REG_WELCOME", channel, TemplateKind.SERVICE, body)


async def sync(world: World, channels: list[Channel], templates: list[NotificationTemplate]) -> SyncReport:
    return await sync_reference_data(
        SyncReferenceData(source=StaticReferenceSource(ReferenceSnapshot(channels, templates))), world.reference()
    )


def channels(world: World) -> dict[str, Channel]:
    return dict(world.db.tables["channels"])


def templates(world: World) -> dict[tuple[str, str], NotificationTemplate]:
    return dict(world.db.tables["templates"])


# --- shipped defaults -----------------------------------------------------------------------


async def test_installing_the_defaults_adds_every_channel_and_its_welcome_template() -> None:
    world = World()

    added = await install_default_reference_data(InstallDefaultReferenceData(), world.reference())

    assert added == 10
    assert sorted(channels(world)) == ["local", "sms", "telegram", "vk", "whatsapp"]
    assert set(templates(world)) == {("REG_WELCOME", code) for code in ("local", "sms", "telegram", "vk", "whatsapp")}
    assert channels(world)["vk"].address_kind is AddressKind.ACCOUNT
    assert all(channel.is_active for channel in channels(world).values())


async def test_installing_the_defaults_again_adds_nothing_and_never_overwrites(world: World) -> None:
    async with world.uow() as uow:
        await uow.reference.save_channel(Channel("sms", "SMS-шлюз", is_active=False))
        await uow.commit()

    added = await install_default_reference_data(InstallDefaultReferenceData(), world.reference())

    assert added == 0
    assert channels(world)["sms"] == Channel("sms", "SMS-шлюз", is_active=False)


def test_the_default_reference_data_is_consistent() -> None:
    codes = [channel.code for channel in DEFAULT_CHANNELS]
    assert LOCAL_CHANNEL in codes
    assert len(codes) == len(set(codes))
    assert {template.channel for template in DEFAULT_TEMPLATES} == set(codes)


async def test_listing_answers_channels_by_code_and_templates_by_code_and_channel(world: World) -> None:
    await world_with_extra_template(world)

    listed_channels = await list_channels(ListChannels(), world.reference())
    listed_templates = await list_templates(ListTemplates(), world.reference())

    assert [c.code for c in listed_channels] == ["local", "sms", "telegram", "vk", "whatsapp"]
    assert [(t.code, t.channel) for t in listed_templates] == [
        ("PROMO", "sms"),
        ("REG_WELCOME", "local"),
        ("REG_WELCOME", "sms"),
        ("REG_WELCOME", "telegram"),
        ("REG_WELCOME", "vk"),
        ("REG_WELCOME", "whatsapp"),
    ]


async def world_with_extra_template(world: World) -> None:
    async with world.uow() as uow:
        await uow.reference.save_template(NotificationTemplate("PROMO", "sms", TemplateKind.MARKETING, "{first_name}!"))
        await uow.commit()


# --- sync (variant 1) -----------------------------------------------------------------------


async def test_sync_changes_what_differs_deactivates_what_is_gone_and_audits(world: World) -> None:
    wanted_channels = [
        Channel("sms", "SMS (новый шлюз)"),
        Channel("telegram", "Telegram"),
        Channel("whatsapp", "WhatsApp"),
        Channel("local", "Локальный журнал сообщений"),
        Channel("max", "MAX"),
    ]
    wanted_templates = [
        welcome("sms", "{first_name}, ваш пароль: {password}"),
        welcome("telegram", CODE_ONLY_BODY),
        welcome("whatsapp"),
        welcome("local"),
        welcome("max"),
    ]

    report = await sync(world, wanted_channels, wanted_templates)

    assert report == SyncReport(
        channels_changed=["sms", "max"],
        channels_deactivated=["vk"],
        templates_changed=["REG_WELCOME/sms", "REG_WELCOME/max"],
        templates_deactivated=["REG_WELCOME/vk"],
    )
    assert report.changed is True
    assert channels(world)["sms"].title == "SMS (новый шлюз)"
    assert channels(world)["max"] == Channel("max", "MAX")
    assert channels(world)["vk"].is_active is False
    assert templates(world)[("REG_WELCOME", "sms")].body == "{first_name}, ваш пароль: {password}"
    assert templates(world)[("REG_WELCOME", "vk")].is_active is False
    [event] = audit_events(world)
    assert (event.action, event.actor, event.occurred_at) == (
        AuditAction.REFERENCE_DATA_SYNCED,
        "system:scheduler",
        world.clock.now(),
    )
    assert event.details == {
        "channels_changed": "sms,max",
        "channels_deactivated": "vk",
        "templates_changed": "REG_WELCOME/sms,REG_WELCOME/max",
        "templates_deactivated": "REG_WELCOME/vk",
    }


async def test_sync_with_what_is_already_stored_changes_nothing_and_audits_nothing(world: World) -> None:
    report = await sync(world, list(DEFAULT_CHANNELS), list(DEFAULT_TEMPLATES))

    assert report == SyncReport([], [], [], [])
    assert report.changed is False
    assert audit_events(world) == []


async def test_sync_does_not_deactivate_again_what_is_already_inactive(world: World) -> None:
    without_vk = [c for c in DEFAULT_CHANNELS if c.code != "vk"]
    without_vk_templates = [t for t in DEFAULT_TEMPLATES if t.channel != "vk"]
    await sync(world, without_vk, without_vk_templates)

    report = await sync(world, without_vk, without_vk_templates)

    assert report.changed is False


async def test_sync_reactivates_a_channel_the_source_lists_again(world: World) -> None:
    await sync(
        world, [c for c in DEFAULT_CHANNELS if c.code != "vk"], [t for t in DEFAULT_TEMPLATES if t.channel != "vk"]
    )

    report = await sync(world, list(DEFAULT_CHANNELS), list(DEFAULT_TEMPLATES))

    assert (report.channels_changed, report.templates_changed) == (["vk"], ["REG_WELCOME/vk"])
    assert channels(world)["vk"].is_active is True


@pytest.mark.parametrize(
    ("snapshot_channels", "snapshot_templates", "message", "field"),
    [
        (
            [Channel("sms", "SMS"), Channel("sms", "SMS 2")],
            [],
            "В справочнике каналов повторяются коды",
            "channels",
        ),
        (
            [Channel("sms", "SMS")],
            [welcome("sms"), welcome("sms", "{first_name}")],
            "В справочнике шаблонов повторяются пары (код, канал)",
            "templates",
        ),
        (
            [Channel("sms", "SMS")],
            [welcome("pigeon")],
            "Шаблон REG_WELCOME ссылается на неизвестный канал pigeon",
            "templates",
        ),
        (
            [Channel("sms", "SMS")],
            [welcome("sms", "{name}, пароль {password}")],
            "Неизвестные поля шаблона: name",
            "body",
        ),
        (
            [Channel("sms", "SMS")],
            [welcome("sms", "{first_name:d}, пароль {password}")],
            "Поля шаблона пишутся без форматирования, например {first_name}",
            "body",
        ),
        (
            [Channel("sms", "SMS")],
            [welcome("sms", "{first_name")],
            "Ошибка в тексте шаблона: expected '}' before end of string",
            "body",
        ),
    ],
)
async def test_an_invalid_snapshot_is_rejected_and_changes_nothing(
    world: World,
    snapshot_channels: list[Channel],
    snapshot_templates: list[NotificationTemplate],
    message: str,
    field: str,
) -> None:
    before = (channels(world), templates(world))

    with pytest.raises(ValidationError) as error:
        await sync(world, snapshot_channels, snapshot_templates)

    assert (error.value.message, error.value.field) == (message, field)
    assert (channels(world), templates(world)) == before
    assert audit_events(world) == []


async def test_a_channel_deactivated_by_sync_holds_its_waiting_notifications(world: World) -> None:
    await register(world)

    await sync(
        world, [c for c in DEFAULT_CHANNELS if c.code != "sms"], [t for t in DEFAULT_TEMPLATES if t.channel != "sms"]
    )
    result = await attempt_delivery(AttemptDelivery(1), world.delivery())

    assert result is AttemptResult.HELD
    [notification] = rows(world, "notifications")
    assert notification.status is NotificationStatus.HELD
    assert notification.history[-1].reason == "Канал «sms» недоступен"
