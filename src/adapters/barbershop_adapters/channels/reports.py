"""Providers' delivery reports in their own formats, with their own authentication.

Each reader checks the provider's signature over the raw body first (raising
:class:`BadSignature`), then reads the body into
:class:`~barbershop_core.use_cases.provider_reports.ProviderStatus` values (raising
:class:`MalformedReport`). Formats, as their providers document them:

* **SMS.ru** (``https://sms.ru/?panel=api&subpanel=cb``, and the PHP handler SMS.ru gives
  for it): a form POST with ``data[]`` entries — lines separated by ``\\n``; a status
  change is ``sms_status``, the ``sms_id``, the status code, a Unix time — and ``hash``,
  the hex SHA-256 of the account's ``api_id`` followed by the entries concatenated. The
  handler must answer with the body ``100``, or SMS.ru counts the call as failed.
  Codes: 100–102 in progress (queued, passed to the operator, sent), 103 delivered,
  110 read (delivered), 104–108 and 150 not delivered.
* **Telegram Gateway** (``https://core.telegram.org/gateway/api#report-delivery``): a JSON
  ``RequestStatus`` (``request_id``, ``delivery_status.status``: ``sent``, ``delivered``,
  ``read``, ``expired``, ``revoked``; ``payload``) posted to ``callback_url``, with
  ``X-Request-Timestamp`` and ``X-Request-Signature`` = hex HMAC-SHA-256 of
  ``<timestamp>\\n<raw body>`` keyed with the SHA-256 of the API token; any answer but 200
  is retried.
* **WhatsApp Cloud API** (``https://developers.facebook.com/docs/graph-api/webhooks/getting-started``
  and ``…/whatsapp/cloud-api/webhooks/components``): ``GET`` with ``hub.mode=subscribe``,
  ``hub.verify_token`` and ``hub.challenge`` (answer the challenge), then ``POST``s of
  ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
  "value": {"statuses": [{"id": "wamid…", "status": "sent|delivered|read|failed",
  "timestamp": "…", "errors": [{"code": 131026, …}]}]}}]}]}`` signed with
  ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from barbershop_adapters.channels.http_base import member
from barbershop_adapters.channels.whatsapp import CLOUD_API_ERRORS
from barbershop_core.model import NotificationStatus
from barbershop_core.use_cases.provider_reports import ProviderStatus

DELIVERED: Final = NotificationStatus.DELIVERED
FAILED: Final = NotificationStatus.FAILED

MAX_CLOCK_SKEW_SECONDS: Final = 15 * 60
"""A Telegram report signed longer ago than this (or this far in the future) is refused."""


class BadSignature(Exception):
    """The report is not signed as its provider signs."""


class MalformedReport(Exception):
    """Signed, but not in the provider's format."""


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.strip().lower().encode(), expected.encode())


# -- SMS.ru -----------------------------------------------------------------------------

SMSRU_ANSWER: Final = "100"

SMSRU_STATUSES: Final[Mapping[int, tuple[NotificationStatus | None, str | None]]] = {
    -1: (FAILED, "сообщение не найдено"),
    100: (None, None),
    101: (None, None),
    102: (None, None),
    103: (DELIVERED, None),
    104: (FAILED, "не доставлено: истекло время жизни"),
    105: (FAILED, "не доставлено: удалено оператором"),
    106: (FAILED, "не доставлено: сбой в телефоне"),
    107: (FAILED, "не доставлено: неизвестная причина"),
    108: (FAILED, "не доставлено: отклонено"),
    110: (DELIVERED, None),
    150: (FAILED, "не доставлено: не найден маршрут на номер"),
}
_SMSRU_DELIVERED: Final = 103
_DATA_KEY: Final = re.compile(r"^data\[\d*\]$")


def read_smsru(body: bytes, api_id: str) -> list[ProviderStatus]:
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise BadSignature("not a form") from None
    entries = [value for name, value in fields if _DATA_KEY.match(name)]
    presented = next((value for name, value in fields if name == "hash"), "")
    expected = hashlib.sha256((api_id + "".join(entries)).encode()).hexdigest()
    if not presented or not _same(presented, expected):
        raise BadSignature("hash does not match")
    reports = []
    for entry in entries:
        lines = entry.split("\n")
        if lines[0] != "sms_status":
            continue  # other events of the account (call checks…) are not ours
        if len(lines) < 3 or not lines[1] or not lines[2].lstrip("-").isdigit():
            raise MalformedReport("sms_status needs an id and a code")
        code = int(lines[2])
        # An unknown code above "delivered" is taken for a failure; below it, for progress.
        unknown = (FAILED, f"не доставлено (код {code})") if code > _SMSRU_DELIVERED else (None, None)
        status, error = SMSRU_STATUSES.get(code, unknown)
        reports.append(ProviderStatus("sms", lines[1], status, f"SMS.ru: {error}" if error else None, f"SMS.ru {code}"))
    return reports


def smsru_hash(api_id: str, entries: list[str]) -> str:
    """How SMS.ru signs a callback (for fakes and tests)."""
    return hashlib.sha256((api_id + "".join(entries)).encode()).hexdigest()


# -- Telegram Gateway --------------------------------------------------------------------

TELEGRAM_STATUSES: Final[Mapping[str, tuple[NotificationStatus | None, str | None]]] = {
    "sent": (None, None),
    "delivered": (DELIVERED, None),
    "read": (DELIVERED, None),
    "expired": (FAILED, "Telegram: код не доставлен за время жизни сообщения"),
    "revoked": (FAILED, "Telegram: сообщение отозвано"),
}


def telegram_signature(token: str, timestamp: str, body: bytes) -> str:
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def read_telegram(
    body: bytes, *, token: str, timestamp: str | None, signature: str | None, now: float
) -> list[ProviderStatus]:
    if not timestamp or not signature or not timestamp.isdigit():
        raise BadSignature("X-Request-Timestamp and X-Request-Signature are required")
    if not _same(signature, telegram_signature(token, timestamp, body)):
        raise BadSignature("signature does not match")
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        raise BadSignature("the report is too old")
    document = _json(body)
    request_id = member(document, "request_id")
    if not isinstance(request_id, str) or not request_id:
        raise MalformedReport("RequestStatus needs request_id")
    state = member(document, "delivery_status", "status")
    if state is None:
        return [ProviderStatus("telegram", request_id, None, said="Telegram: без статуса доставки")]
    if not isinstance(state, str):
        raise MalformedReport("delivery_status.status must be a string")
    status, error = TELEGRAM_STATUSES.get(state, (None, None))
    return [ProviderStatus("telegram", request_id, status, error, f"Telegram {state}"[:60])]


# -- WhatsApp Cloud API -------------------------------------------------------------------

WHATSAPP_STATUSES: Final[Mapping[str, NotificationStatus | None]] = {
    "sent": None,
    "delivered": DELIVERED,
    "read": DELIVERED,
    "failed": FAILED,
}


def whatsapp_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def read_whatsapp(body: bytes, *, app_secret: str, signature: str | None) -> list[ProviderStatus]:
    if not signature or not _same(signature, whatsapp_signature(app_secret, body)):
        raise BadSignature("X-Hub-Signature-256 does not match")
    document = _json(body)
    entries = member(document, "entry")
    if not isinstance(entries, list):
        raise MalformedReport("entry[] is required")
    reports = []
    for entry in entries:
        changes = member(entry, "changes")
        for change in changes if isinstance(changes, list) else []:
            statuses = member(change, "value", "statuses")
            for item in statuses if isinstance(statuses, list) else []:
                reports.append(_whatsapp_status(item))
    return reports


def _whatsapp_status(item: object) -> ProviderStatus:
    message_id, state = member(item, "id"), member(item, "status")
    if not isinstance(message_id, str) or not message_id or not isinstance(state, str):
        raise MalformedReport("a status needs id and status")
    status = WHATSAPP_STATUSES.get(state)
    error = None
    if status is FAILED:
        code = member(item, "errors", 0, "code")
        verdict = CLOUD_API_ERRORS.get(code) if isinstance(code, int) and not isinstance(code, bool) else None
        what = verdict.what if verdict else "сообщение не доставлено"
        error = f"WhatsApp: {what}" + (f" (код {code})" if isinstance(code, int) else "")
    return ProviderStatus("whatsapp", message_id, status, error, f"WhatsApp {state}"[:60])


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedReport("the body is not JSON") from None
