"""The real clock."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Implements ``Clock``: timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
