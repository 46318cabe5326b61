"""SMS through SMS.ru, the HTTP API at ``https://sms.ru/sms/send`` with ``json=1``.

Request: a POST form with ``api_id`` (the account's API key), ``to`` (the number in
international form without "+"), ``msg``, ``json=1`` and the optional ``from`` (an
approved sender name), ``ttl`` (minutes the operator keeps trying), ``translit`` and
``test`` (accepted and answered, never sent nor charged). The POST keeps the text, and
with it the temporary password, out of URLs and access logs.

Answer, always HTTP 200::

    {"status": "OK", "status_code": 100, "balance": 4122.56,
     "sms": {"79255070602": {"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}}

or, for the number alone, ``{"status": "ERROR", "status_code": 207, "status_text": …}``
inside ``sms``; a request-level error (key, balance, sender) has ``"status": "ERROR"`` and
its ``status_code`` at the top. SMS.ru takes no idempotency key: its own guard is code
231, which refuses the same text to the same number within a minute.

A second gateway is one more :class:`~adapters.channels.http_base.HttpChannel` subclass
beside :class:`SmsRuChannel`: its settings, ``build_request``, ``read_answer`` and a
code table of :class:`~adapters.channels.http_base.Verdict`.
"""

from __future__ import annotations

from typing import Final

import attrs

from barbershop_adapters.channels.http_base import (
    HttpChannel,
    ProviderAnswer,
    ProviderRequest,
    member,
    permanent,
    transient,
)
from barbershop_adapters.channels.provider_client import ProviderClient
from barbershop_core.ports import OutgoingMessage, SendReceipt

_ACCEPTED: Final = 100

SMSRU_CODES: Final = {
    200: permanent("неверный ключ API (api_id)"),
    201: permanent("на счёте не хватает денег"),
    202: permanent("неверный номер получателя или на него нет маршрута"),
    203: permanent("пустой текст сообщения"),
    204: permanent("имя отправителя не согласовано с SMS.ru"),
    205: permanent("сообщение слишком длинное"),
    206: permanent("исчерпан дневной лимит сообщений аккаунта"),
    207: permanent("на этот номер нельзя отправлять SMS"),
    208: permanent("неверное время отправки"),
    209: permanent("номер в стоп-листе"),
    210: permanent("неверный вызов API"),
    211: permanent("неверный вызов API"),
    212: permanent("текст не в кодировке UTF-8"),
    213: permanent("слишком много получателей"),
    220: transient("сервис временно недоступен"),
    230: permanent("исчерпан дневной лимит сообщений на этот номер"),
    231: permanent("провайдер отклонил повтор того же сообщения: оно, вероятно, уже отправлено"),
    232: permanent("провайдер отклонил повтор того же сообщения: оно, вероятно, уже отправлено"),
    233: permanent("сработала защита от повторных сообщений на номер"),
    300: permanent("неверный ключ API (api_id)"),
    301: permanent("неверный ключ API (api_id)"),
    302: permanent("аккаунт SMS.ru не подтверждён"),
    500: transient("ошибка на сервере провайдера"),
}
_UNKNOWN: Final = permanent("ошибка провайдера")


@attrs.frozen
class SmsRuSettings:
    api_id: str = attrs.field(repr=False)
    sender: str | None = None
    """The ``from`` name; None sends under the account's default sender."""
    base_url: str = "https://sms.ru"
    timeout_seconds: float = 10.0
    ttl_minutes: int | None = None
    """1–1440; None leaves SMS.ru's default."""
    translit: bool = False
    test: bool = False
    """Ask SMS.ru to answer as if sending, without sending or charging."""


class SmsRuChannel(HttpChannel):
    provider = "SMS.ru"

    def __init__(self, settings: SmsRuSettings, client: ProviderClient | None = None) -> None:
        super().__init__(timeout_seconds=settings.timeout_seconds, client=client)
        self._settings = settings

    def build_request(self, message: OutgoingMessage) -> ProviderRequest:
        settings = self._settings
        form = {"api_id": settings.api_id, "to": _recipient(message), "msg": message.text, "json": "1"}
        if settings.sender:
            form["from"] = settings.sender
        if settings.ttl_minutes is not None:
            form["ttl"] = str(settings.ttl_minutes)
        if settings.translit:
            form["translit"] = "1"
        if settings.test:
            form["test"] = "1"
        return ProviderRequest(url=f"{settings.base_url.rstrip('/')}/sms/send", form=form)

    def read_answer(self, answer: ProviderAnswer, message: OutgoingMessage) -> SendReceipt | None:
        status, code = _status(answer.body)
        if status == "ERROR" and code is not None:
            raise self.reject(code, SMSRU_CODES, _UNKNOWN)
        if status != "OK":
            return None
        entry = _entry_for(answer.body, _recipient(message))
        entry_status, entry_code = _status(entry)
        sms_id = member(entry, "sms_id")
        if entry_status == "OK" and entry_code in (_ACCEPTED, None) and isinstance(sms_id, str) and sms_id:
            return SendReceipt(sms_id)
        if entry_code is not None and entry_code != _ACCEPTED:
            raise self.reject(entry_code, SMSRU_CODES, _UNKNOWN)
        return None


def _recipient(message: OutgoingMessage) -> str:
    return message.phone.e164.removeprefix("+")


def _status(node: object) -> tuple[object, int | None]:
    code = member(node, "status_code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return member(node, "status"), code if isinstance(code, int) and not isinstance(code, bool) else None


def _entry_for(body: object, recipient: str) -> object:
    """The per-number part of the answer; SMS.ru keys it by the number as it understood it."""
    entries = member(body, "sms")
    entry = member(entries, recipient)
    if entry is None and isinstance(entries, dict) and len(entries) == 1:
        entry = next(iter(entries.values()))
    return entry
