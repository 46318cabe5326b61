"""Reading providers' report formats and checking their signatures (no server needed).

Formats: SMS.ru callback (https://sms.ru/?panel=api&subpanel=cb), Telegram Gateway
(https://core.telegram.org/gateway/api#report-delivery), WhatsApp Cloud API webhooks
(https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from barbershop_adapters.channels.reports import (
    BadSignature,
    MalformedReport,
    read_smsru,
    read_telegram,
    read_whatsapp,
    smsru_hash,
    telegram_signature,
    whatsapp_signature,
)
from barbershop_core.model import NotificationStatus

API_ID = "api-id"
NOW = 1_764_000_000


def smsru_form(*entries: str, digest: str | None = None) -> bytes:
    fields = [("data[]", entry) for entry in entries]
    return urlencode([*fields, ("hash", digest if digest is not None else smsru_hash(API_ID, list(entries)))]).encode()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (100, None),
        (102, None),
        (103, NotificationStatus.DELIVERED),
        (110, NotificationStatus.DELIVERED),
        (104, NotificationStatus.FAILED),
        (150, NotificationStatus.FAILED),
        (199, NotificationStatus.FAILED),
    ],
)
def test_smsru_codes_map_to_progress_delivered_or_failed(code: int, status: NotificationStatus | None) -> None:
    (report,) = read_smsru(smsru_form(f"sms_status\n000000-1\n{code}\n{NOW}"), API_ID)
    assert (report.channel, report.provider_message_id, report.status) == ("sms", "000000-1", status)
    assert report.said == f"SMS.ru {code}"
    assert (report.error is not None) == (status is NotificationStatus.FAILED)


def test_smsru_reads_every_status_entry_and_skips_other_events() -> None:
    form = smsru_form(f"sms_status\na\n103\n{NOW}", f"callcheck_status\nx\n401\n{NOW}", f"sms_status\nb\n104\n{NOW}")
    assert [r.provider_message_id for r in read_smsru(form, API_ID)] == ["a", "b"]


def test_smsru_refuses_a_wrong_or_missing_hash_and_a_malformed_entry() -> None:
    with pytest.raises(BadSignature):
        read_smsru(smsru_form(f"sms_status\na\n103\n{NOW}", digest="0" * 64), API_ID)
    with pytest.raises(BadSignature):
        read_smsru(urlencode([("data[]", "sms_status\na\n103")]).encode(), API_ID)
    with pytest.raises(BadSignature):
        read_smsru(b"\xff\xfe", API_ID)
    with pytest.raises(MalformedReport):
        read_smsru(smsru_form("sms_status\na\nabc"), API_ID)


def telegram(body: dict[str, object], *, at: int = NOW) -> tuple[bytes, str, str]:
    raw = json.dumps(body).encode()
    return raw, str(at), telegram_signature("token", str(at), raw)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("sent", None),
        ("delivered", NotificationStatus.DELIVERED),
        ("read", NotificationStatus.DELIVERED),
        ("expired", NotificationStatus.FAILED),
        ("revoked", NotificationStatus.FAILED),
    ],
)
def test_telegram_delivery_statuses_map(state: str, status: NotificationStatus | None) -> None:
    raw, at, signature = telegram({"request_id": "r1", "delivery_status": {"status": state, "updated_at": NOW}})
    (report,) = read_telegram(raw, token="token", timestamp=at, signature=signature, now=NOW)
    assert (report.channel, report.provider_message_id, report.status) == ("telegram", "r1", status)


def test_telegram_refuses_a_bad_a_missing_or_a_stale_signature_and_a_body_without_request_id() -> None:
    raw, at, signature = telegram({"request_id": "r1"})
    with pytest.raises(BadSignature):
        read_telegram(raw, token="other", timestamp=at, signature=signature, now=NOW)
    with pytest.raises(BadSignature):
        read_telegram(raw, token="token", timestamp=None, signature=signature, now=NOW)
    with pytest.raises(BadSignature):
        read_telegram(raw, token="token", timestamp=at, signature=signature, now=NOW + 3600)
    assert read_telegram(raw, token="token", timestamp=at, signature=signature, now=NOW)[0].status is None
    raw, at, signature = telegram({"delivery_status": {"status": "read"}})
    with pytest.raises(MalformedReport):
        read_telegram(raw, token="token", timestamp=at, signature=signature, now=NOW)


def whatsapp(*statuses: dict[str, object]) -> bytes:
    change = {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": list(statuses)}}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}).encode()


def test_whatsapp_statuses_map_and_a_failure_names_its_error_code() -> None:
    raw = whatsapp(
        {"id": "wamid.1", "status": "sent"},
        {"id": "wamid.1", "status": "read"},
        {"id": "wamid.2", "status": "failed", "errors": [{"code": 131026, "title": "Message undeliverable"}]},
    )
    reports = read_whatsapp(raw, app_secret="secret", signature=whatsapp_signature("secret", raw))
    assert [(r.provider_message_id, r.status) for r in reports] == [
        ("wamid.1", None),
        ("wamid.1", NotificationStatus.DELIVERED),
        ("wamid.2", NotificationStatus.FAILED),
    ]
    assert reports[2].error is not None
    assert "131026" in reports[2].error


def test_whatsapp_messages_without_statuses_are_acknowledged_with_nothing_to_apply() -> None:
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {"messages": []}}]}]})
    assert read_whatsapp(raw.encode(), app_secret="s", signature=whatsapp_signature("s", raw.encode())) == []


def test_whatsapp_refuses_a_bad_signature_and_a_body_not_in_its_format() -> None:
    raw = whatsapp({"id": "wamid.1", "status": "read"})
    with pytest.raises(BadSignature):
        read_whatsapp(raw, app_secret="secret", signature=whatsapp_signature("other", raw))
    with pytest.raises(BadSignature):
        read_whatsapp(raw, app_secret="secret", signature=None)
    for body in (b"not json", b"{}", whatsapp({"status": "read"})):
        with pytest.raises(MalformedReport):
            read_whatsapp(body, app_secret="secret", signature=whatsapp_signature("secret", body))
