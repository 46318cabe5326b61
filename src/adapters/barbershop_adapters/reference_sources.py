"""Where channels and templates come from (variant 1): a JSON file or an HTTP URL.

Format::

    {"channels": [{"code": "sms", "title": "SMS", "is_active": true, "address_kind": "phone"}],
     "templates": [{"code": "REG_WELCOME", "channel": "sms", "kind": "service", "body": "…"}]}
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import cattrs
import httpx

from barbershop_core.errors import ValidationError
from barbershop_core.model import Channel, NotificationTemplate
from barbershop_core.ports import ReferenceSnapshot, StorageUnavailable


@attrs.frozen
class _Document:
    channels: list[Channel]
    templates: list[NotificationTemplate]


_converter = cattrs.Converter(forbid_extra_keys=True)


def parse_reference_document(raw: bytes | str) -> ReferenceSnapshot:
    try:
        document = _converter.structure(json.loads(raw), _Document)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc))
        raise ValidationError(f"Справочник не разобран: {problems}", field="reference") from exc
    except ValueError as exc:
        raise ValidationError(f"Справочник не разобран: {exc}", field="reference") from exc
    return ReferenceSnapshot(channels=document.channels, templates=document.templates)


class JsonFileReferenceSource:
    """Implements ``ReferenceDataSource`` over a JSON file."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def fetch(self) -> ReferenceSnapshot:
        try:
            raw = self._path.read_bytes()
        except OSError as exc:
            raise StorageUnavailable(f"cannot read reference data from {self._path}") from exc
        return parse_reference_document(raw)


class HttpReferenceSource:
    """Implements ``ReferenceDataSource`` over an HTTP(S) URL answering the same JSON."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url = url
        self._client = client

    async def fetch(self) -> ReferenceSnapshot:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"cannot fetch reference data: {exc.__class__.__name__}") from exc
        return parse_reference_document(response.content)
