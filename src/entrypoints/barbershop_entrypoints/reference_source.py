"""Pick the reference-data source the settings name."""

from __future__ import annotations

from pathlib import Path

import httpx

from barbershop_adapters.reference_sources import HttpReferenceSource, JsonFileReferenceSource
from barbershop_core.ports import ReferenceDataSource
from barbershop_entrypoints.settings import Settings


def build_reference_source(settings: Settings, client: httpx.AsyncClient) -> ReferenceDataSource | None:
    source = settings.reference_source
    if source is None:
        return None
    if source.startswith(("http://", "https://")):
        return HttpReferenceSource(source, client)
    return JsonFileReferenceSource(Path(source))
