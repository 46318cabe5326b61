"""Providers' delivery reports, each at one fixed URL, in its own format and signature.

``POST /api/webhooks/sms-ru`` (SMS.ru's callback, answered ``100``), ``POST
/api/webhooks/telegram-gateway`` (Telegram Gateway's ``callback_url``), ``GET`` + ``POST
/api/webhooks/whatsapp`` (Meta's verification handshake and status notifications). The
formats and signatures are read by :mod:`barbershop_adapters.channels.reports`; the reports are
applied by :func:`~barbershop_core.use_cases.provider_reports.apply_provider_report`.
A bad signature is refused (401); a report for an unknown message id is acknowledged
like any other, so that the provider stops retrying, and kept in case its send is not
recorded yet. A provider whose credentials are not configured has no webhook (404).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Final

from litestar import MediaType, Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import RequestBody
from litestar.params import QueryParameter

from barbershop_adapters.channels.reports import (
    SMSRU_ANSWER,
    BadSignature,
    MalformedReport,
    read_smsru,
    read_telegram,
    read_whatsapp,
)
from barbershop_core.use_cases.delivery_reports import ReportDeps
from barbershop_core.use_cases.provider_reports import ProviderStatus, ReportOutcome, apply_provider_report
from barbershop_entrypoints.http.openapi import example, problems
from barbershop_entrypoints.http.problems import ApiProblem
from barbershop_entrypoints.http.schemas import WebhookReceiptOut
from barbershop_entrypoints.metrics import count_delivery_report
from barbershop_entrypoints.settings import ChannelsConfig

log = logging.getLogger("barbershop.webhooks")

_SMS_RU = "/api/webhooks/sms-ru"
_TELEGRAM = "/api/webhooks/telegram-gateway"
_WHATSAPP = "/api/webhooks/whatsapp"
_TAG = "webhooks"


def _not_configured(provider: str, variable: str) -> ApiProblem:
    return ApiProblem(404, "not_found", "Приём отчётов не настроен", f"Для {provider} не задан BARBERSHOP_{variable}")


def _refused(what: BadSignature) -> ApiProblem:
    log.warning("webhook refused: %s", what)
    return ApiProblem(401, "invalid_signature", "Неверная подпись", "Подпись не совпадает с телом запроса")


def _malformed(what: MalformedReport) -> ApiProblem:
    return ApiProblem(400, "validation_error", "Неверный отчёт", f"Отчёт не в формате провайдера: {what}")


def _read(read: Callable[[], list[ProviderStatus]]) -> list[ProviderStatus]:
    """The reports a provider's reader finds in the body; a bad signature or format as its problem."""
    try:
        return read()
    except BadSignature as bad:
        raise _refused(bad) from None
    except MalformedReport as malformed:
        raise _malformed(malformed) from None


async def _apply(reports: list[ProviderStatus], report_deps: ReportDeps) -> WebhookReceiptOut:
    counts = dict.fromkeys(ReportOutcome, 0)
    for report in reports:
        outcome = await apply_provider_report(report, report_deps)
        count_delivery_report(report.channel, report.status, outcome.value)
        counts[outcome] += 1
    if counts[ReportOutcome.KEPT]:
        log.warning("%s report(s) named an unknown message id; acknowledged and kept", counts[ReportOutcome.KEPT])
    return WebhookReceiptOut(
        reports=len(reports),
        applied=counts[ReportOutcome.APPLIED],
        unchanged=counts[ReportOutcome.UNCHANGED],
        unknown=counts[ReportOutcome.KEPT],
    )


_SIGNED = (400, 401, 404, 500, 503)
_SIGNATURE_401 = {401: "Подпись провайдера неверна или её нет (`invalid_signature`)"}
_RECEIPT = {"reports": 1, "applied": 1, "unchanged": 0, "unknown": 0}


@post(
    _SMS_RU,
    status_code=200,
    tags=[_TAG],
    summary="Отчёты SMS.ru о доставке (API callback)",
    description=(
        "Форма `application/x-www-form-urlencoded`: поля `data[]` (строки через `\\n`: `sms_status`, id сообщения, "
        "код статуса, время) и `hash` — hex SHA-256 от `api_id` и всех `data[]` подряд. Ответ — тело `100`, "
        "как требует SMS.ru. Коды 100–102 — в пути, 103 и 110 — доставлено, 104–108 и 150 — не доставлено."
    ),
    media_type=MediaType.TEXT,
    request_body=RequestBody(content={}, description="Форма SMS.ru (`data[]`, `hash`)", required=True),
    responses=problems(_SMS_RU, _SIGNED, descriptions=_SIGNATURE_401),
)
async def smsru_report(
    request: Request[Any, Any, Any],
    channel_settings: NamedDependency[ChannelsConfig],
    report_deps: NamedDependency[ReportDeps],
) -> Response[str]:
    sms = channel_settings.sms
    if sms is None:
        raise _not_configured("SMS.ru", "SMSRU_API_ID")
    body = await request.body()
    await _apply(_read(lambda: read_smsru(body, sms.api_id)), report_deps)
    return Response(SMSRU_ANSWER, media_type=MediaType.TEXT, status_code=200)


@post(
    _TELEGRAM,
    status_code=200,
    tags=[_TAG],
    summary="Отчёты Telegram Gateway о доставке (callback_url)",
    description=(
        "JSON-объект `RequestStatus` (`request_id`, `delivery_status.status`: sent / delivered / read / expired / "
        "revoked). Заголовки `X-Request-Timestamp` и `X-Request-Signature` — hex HMAC-SHA-256 строки "
        "«<timestamp>\\n<тело>» с ключом SHA-256 от токена Gateway API; отчёт старше 15 минут отклоняется."
    ),
    request_body=RequestBody(content={}, description="RequestStatus Telegram Gateway", required=True),
    responses=problems(_TELEGRAM, _SIGNED, descriptions=_SIGNATURE_401),
)
async def telegram_report(
    request: Request[Any, Any, Any],
    channel_settings: NamedDependency[ChannelsConfig],
    report_deps: NamedDependency[ReportDeps],
) -> WebhookReceiptOut:
    telegram = channel_settings.telegram
    if telegram is None:
        raise _not_configured("Telegram Gateway", "TELEGRAM_GATEWAY_TOKEN")
    body, headers = await request.body(), request.headers
    reports = _read(
        lambda: read_telegram(
            body,
            token=telegram.token,
            timestamp=headers.get("x-request-timestamp"),
            signature=headers.get("x-request-signature"),
            now=time.time(),
        )
    )
    return await _apply(reports, report_deps)


@get(
    _WHATSAPP,
    tags=[_TAG],
    summary="Проверка адреса вебхука WhatsApp (Meta)",
    description=(
        "Meta вызывает его при подписке: `hub.mode=subscribe`, `hub.verify_token` (равен "
        "`BARBERSHOP_WHATSAPP_VERIFY_TOKEN`) и `hub.challenge`, который возвращается телом ответа."
    ),
    media_type=MediaType.TEXT,
    responses=problems(_WHATSAPP, (400, 403, 404, 500, 503)),
)
async def whatsapp_verification(
    channel_settings: NamedDependency[ChannelsConfig],
    mode: Annotated[str, QueryParameter(name="hub.mode", max_length=32)],
    verify_token: Annotated[str, QueryParameter(name="hub.verify_token", max_length=256)],
    challenge: Annotated[str, QueryParameter(name="hub.challenge", max_length=256)],
) -> Response[str]:
    expected = channel_settings.whatsapp_webhook.verify_token
    if expected is None:
        raise _not_configured("WhatsApp", "WHATSAPP_VERIFY_TOKEN")
    if mode != "subscribe" or not hmac.compare_digest(verify_token.encode(), expected.encode()):
        raise ApiProblem(403, "forbidden", "Неверный токен проверки", "hub.verify_token не совпадает")
    return Response(challenge, media_type=MediaType.TEXT, status_code=200)


@post(
    _WHATSAPP,
    status_code=200,
    tags=[_TAG],
    summary="Статусы сообщений WhatsApp Cloud API",
    description=(
        "Уведомление `whatsapp_business_account`: `entry[].changes[].value.statuses[]` со статусами sent / "
        "delivered / read / failed (`errors[]`). Заголовок `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 сырого "
        "тела с секретом приложения BARBERSHOP_WHATSAPP_APP_SECRET>`."
    ),
    request_body=RequestBody(content={}, description="Уведомление Meta", required=True),
    responses=problems(_WHATSAPP, _SIGNED, descriptions=_SIGNATURE_401),
)
async def whatsapp_report(
    request: Request[Any, Any, Any],
    channel_settings: NamedDependency[ChannelsConfig],
    report_deps: NamedDependency[ReportDeps],
) -> WebhookReceiptOut:
    secret = channel_settings.whatsapp_webhook.app_secret
    if secret is None:
        raise _not_configured("WhatsApp", "WHATSAPP_APP_SECRET")
    body, signature = await request.body(), request.headers.get("x-hub-signature-256")
    return await _apply(_read(lambda: read_whatsapp(body, app_secret=secret, signature=signature)), report_deps)


WEBHOOK_PATHS: Final = (_SMS_RU, _TELEGRAM, _WHATSAPP)
RECEIPT_EXAMPLE: Final = example("applied", _RECEIPT)


def webhooks_router() -> Router:
    """No manager login and no JSON-only rule: each provider authenticates with its own signature."""
    return Router("/", route_handlers=[smsru_report, telegram_report, whatsapp_verification, whatsapp_report])
