"""Channels and templates: shipped defaults, listing, and sync from a source (variant 1)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from barbershop_core.errors import ValidationError
from barbershop_core.model import Actor, AuditAction, AuditEvent, Channel, NotificationTemplate
from barbershop_core.ports import Clock, ReferenceDataSource, ReferenceSnapshot, UnitOfWork, UnitOfWorkFactory
from barbershop_core.reference import DEFAULT_CHANNELS, DEFAULT_TEMPLATES
from barbershop_core.templates import placeholders
from barbershop_core.use_cases._shared import log


@attrs.frozen
class ReferenceDeps:
    """The ports of the reference-data use cases."""

    uow_factory: UnitOfWorkFactory
    clock: Clock


@attrs.frozen
class ListChannels:
    """Takes nothing: the one use-case shape still passes a command."""


@attrs.frozen
class ListTemplates:
    """Takes nothing: the one use-case shape still passes a command."""


@attrs.frozen
class InstallDefaultReferenceData:
    """Takes nothing: the one use-case shape still passes a command."""


@attrs.frozen
class SyncReferenceData:
    source: ReferenceDataSource
    """Where the wanted channels and templates come from (a file, a service)."""


async def list_channels(command: ListChannels, deps: ReferenceDeps) -> list[Channel]:
    uow_factory = deps.uow_factory
    async with uow_factory() as uow:
        return sorted(await uow.reference.list_channels(), key=lambda channel: channel.code)


async def list_templates(command: ListTemplates, deps: ReferenceDeps) -> list[NotificationTemplate]:
    uow_factory = deps.uow_factory
    async with uow_factory() as uow:
        return sorted(await uow.reference.list_templates(), key=lambda t: (t.code, t.channel))


async def install_default_reference_data(command: InstallDefaultReferenceData, deps: ReferenceDeps) -> int:
    """Add the shipped channels and templates that are missing; never overwrites. Returns how many."""
    uow_factory = deps.uow_factory
    added = 0
    async with uow_factory() as uow:
        for channel in DEFAULT_CHANNELS:
            if await uow.reference.get_channel(channel.code) is None:
                await uow.reference.save_channel(channel)
                added += 1
        for template in DEFAULT_TEMPLATES:
            if await uow.reference.get_template(template.code, template.channel) is None:
                await uow.reference.save_template(template)
                added += 1
        await uow.commit()
    return added


@attrs.frozen
class SyncReport:
    channels_changed: Sequence[str]
    channels_deactivated: Sequence[str]
    templates_changed: Sequence[str]
    templates_deactivated: Sequence[str]

    @property
    def changed(self) -> bool:
        return bool(
            self.channels_changed or self.channels_deactivated or self.templates_changed or self.templates_deactivated
        )


async def sync_reference_data(command: SyncReferenceData, deps: ReferenceDeps) -> SyncReport:
    """Variant 1: make the stored channels and templates what the source says.

    What the source no longer lists is deactivated, not deleted: notifications refer to
    it. A deactivated channel makes new registrations answer A7, and the worker holds
    its waiting notifications until a manager picks another channel.
    """
    source, uow_factory, clock = command.source, deps.uow_factory, deps.clock
    snapshot = await source.fetch()
    _validate(snapshot)
    async with uow_factory() as uow:
        channels_changed, channels_deactivated = await _sync_channels(uow, snapshot.channels)
        templates_changed, templates_deactivated = await _sync_templates(uow, snapshot.templates)
        report = SyncReport(channels_changed, channels_deactivated, templates_changed, templates_deactivated)
        if report.changed:
            uow.record(
                AuditEvent(
                    action=AuditAction.REFERENCE_DATA_SYNCED,
                    actor=str(Actor.system("scheduler")),
                    occurred_at=clock.now(),
                    details={
                        "channels_changed": ",".join(channels_changed),
                        "channels_deactivated": ",".join(channels_deactivated),
                        "templates_changed": ",".join(templates_changed),
                        "templates_deactivated": ",".join(templates_deactivated),
                    },
                )
            )
        await uow.commit()
    log.info("reference data synced: %s", report)
    return report


def _validate(snapshot: ReferenceSnapshot) -> None:
    codes = [channel.code for channel in snapshot.channels]
    if len(codes) != len(set(codes)):
        raise ValidationError("В справочнике каналов повторяются коды", field="channels")
    keys = [(template.code, template.channel) for template in snapshot.templates]
    if len(keys) != len(set(keys)):
        raise ValidationError("В справочнике шаблонов повторяются пары (код, канал)", field="templates")
    for template in snapshot.templates:
        if template.channel not in codes:
            raise ValidationError(
                f"Шаблон {template.code} ссылается на неизвестный канал {template.channel}", field="templates"
            )
        placeholders(template.body)


async def _sync_channels(uow: UnitOfWork, wanted: Sequence[Channel]) -> tuple[list[str], list[str]]:
    current = {channel.code: channel for channel in await uow.reference.list_channels()}
    changed = [channel.code for channel in wanted if current.get(channel.code) != channel]
    for channel in wanted:
        if channel.code in changed:
            await uow.reference.save_channel(channel)
    listed = {channel.code for channel in wanted}
    gone = [c for c in current.values() if c.code not in listed and c.is_active]
    for channel in gone:
        await uow.reference.save_channel(attrs.evolve(channel, is_active=False))
    return changed, [channel.code for channel in gone]


async def _sync_templates(uow: UnitOfWork, wanted: Sequence[NotificationTemplate]) -> tuple[list[str], list[str]]:
    current = {(t.code, t.channel): t for t in await uow.reference.list_templates()}
    changed = [t for t in wanted if current.get((t.code, t.channel)) != t]
    for template in changed:
        await uow.reference.save_template(template)
    listed = {(t.code, t.channel) for t in wanted}
    gone = [t for key, t in current.items() if key not in listed and t.is_active]
    for template in gone:
        await uow.reference.save_template(attrs.evolve(template, is_active=False))
    return [f"{t.code}/{t.channel}" for t in changed], [f"{t.code}/{t.channel}" for t in gone]
