"""The channel adapters of one installation, fixed when the process starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from barbershop_core.ports import NotificationChannel


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


class StaticChannelDirectory:
    """Implements ``ChannelDirectory`` over a mapping of channel code → adapter."""

    def __init__(self, channels: Mapping[str, NotificationChannel]) -> None:
        self._channels = dict(channels)

    def get(self, code: str) -> NotificationChannel | None:
        return self._channels.get(code)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def aclose(self) -> None:
        """Close every adapter that holds connections (each closes only what it opened)."""
        for channel in self._channels.values():
            if isinstance(channel, _Closable):
                await channel.aclose()
