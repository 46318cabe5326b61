"""Providers' own delivery reports, end to end: ``barbershop serve`` (embedded: SQLite, the
queue and the sweep in-process) sends through the real channel adapters to fake SMS.ru,
Telegram Gateway and WhatsApp Cloud API servers on 127.0.0.1, and each fake reports back
to its webhook in its provider's real format, signed as that provider signs.

The payload shapes, as their providers document them (fixtures below):

* SMS.ru API callback — https://sms.ru/?panel=api&subpanel=cb and SMS.ru's own PHP
  handler: form ``data[]=sms_status\\n<sms_id>\\n<code>\\n<unix time>`` and ``hash`` =
  sha256(api_id + the entries); the handler answers ``100``.
* Telegram Gateway — https://core.telegram.org/gateway/api#report-delivery: a
  ``RequestStatus`` JSON with ``X-Request-Timestamp`` and ``X-Request-Signature`` =
  hex HMAC-SHA-256("<timestamp>\\n<body>", key=SHA-256(api token)).
* WhatsApp Cloud API — https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components
  and https://developers.facebook.com/docs/graph-api/webhooks/getting-started:
  ``entry[].changes[].value.statuses[]`` signed ``X-Hub-Signature-256: sha256=<hmac>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import pytest

from tests.integration.channels.fake_provider import RecordedRequest, Reply
from tests.integration.http.server import Server, create_manager, environment, running_server
from tests.integration.http.test_metrics import value as metric_value
from tests.integration.pipeline.support import FakeSmsRu, ScriptedProvider, Step, eventually, sms_id

SMSRU_API_ID = "A1B2C3D4-reports"
TELEGRAM_TOKEN = "AAH-gateway-token-for-tests"
WHATSAPP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-me"
PASSWORD = "reports manager's long password"
METRICS_TOKEN = "reports-scrape-token-0123456789"


# -- the providers' report formats (fixtures) --------------------------------------------


def smsru_callback(message_id: str, code: int, *, api_id: str = SMSRU_API_ID) -> bytes:
    """SMS.ru's callback form: one ``sms_status`` entry, hashed with the account's api_id."""
    entries = [f"sms_status\n{message_id}\n{code}\n{int(time.time())}"]
    digest = hashlib.sha256((api_id + "".join(entries)).encode()).hexdigest()
    return urlencode([*(("data[]", entry) for entry in entries), ("hash", digest)]).encode()


def telegram_report(request_id: str, status: str) -> dict[str, Any]:
    """A Telegram Gateway ``RequestStatus`` with its ``DeliveryStatus``."""
    return {
        "request_id": request_id,
        "phone_number": "+79161234567",
        "request_cost": 0.01,
        "delivery_status": {"status": status, "updated_at": int(time.time())},
        "payload": "1",
    }


def telegram_headers(body: bytes, *, token: str = TELEGRAM_TOKEN) -> dict[str, str]:
    timestamp = str(int(time.time()))
    key = hashlib.sha256(token.encode()).digest()
    signature = hmac.new(key, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Request-Timestamp": timestamp, "X-Request-Signature": signature}


def whatsapp_statuses(message_id: str, status: str, error_code: int | None = None) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook with one message status."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": "79161234567",
        "biz_opaque_callback_data": "2",
    }
    if error_code is not None:
        item["errors"] = [{"code": error_code, "title": "Message undeliverable", "error_data": {"details": "-"}}]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001234", "phone_number_id": "106540352242922"},
                            "statuses": [item],
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_headers(body: bytes, *, secret: str = WHATSAPP_SECRET) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}


# -- fake providers that report back ---------------------------------------------------------


class FakeTelegramGateway(ScriptedProvider):
    def success(self, request: RecordedRequest, number: int) -> Reply:
        return Reply.json({"ok": True, "result": {"request_id": f"tg-{number}", "request_cost": 0.01}})

    @staticmethod
    def refused() -> Step:
        return Step(Reply.json({"ok": False, "error": "PHONE_NUMBER_NOT_FOUND"}, status=400))


class FakeWhatsApp(ScriptedProvider):
    def success(self, request: RecordedRequest, number: int) -> Reply:
        return Reply.json({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{number}"}]})

    @staticmethod
    def refused() -> Step:
        return Step(Reply.json({"error": {"code": 131026, "message": "undeliverable"}}, status=400))


@attrs.define
class Reporter:
    """What each fake provider posts to our webhooks, in its real format and signature."""

    base_url: str

    def smsru(self, message_id: str, code: int, **signing: str) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/api/webhooks/sms-ru",
            content=smsru_callback(message_id, code, **signing),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def telegram(self, request_id: str, status: str, **signing: str) -> httpx.Response:
        body = json.dumps(telegram_report(request_id, status)).encode()
        return httpx.post(
            f"{self.base_url}/api/webhooks/telegram-gateway", content=body, headers=telegram_headers(body, **signing)
        )

    def whatsapp(self, message_id: str, status: str, error_code: int | None = None, **signing: str) -> httpx.Response:
        body = json.dumps(whatsapp_statuses(message_id, status, error_code)).encode()
        return httpx.post(
            f"{self.base_url}/api/webhooks/whatsapp", content=body, headers=whatsapp_headers(body, **signing)
        )


@attrs.define
class Installation:
    server: Server
    database: Path
    sms: FakeSmsRu
    telegram: FakeTelegramGateway
    whatsapp: FakeWhatsApp
    token: str = ""

    @property
    def reporter(self) -> Reporter:
        return Reporter(self.server.base_url)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def register(self, phone: str, channel: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.server.base_url}/api/registrations",
            json={"phone": phone, "first_name": "Иван", "channel": channel},
            headers=self.auth,
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def notification(self, notification_id: int) -> dict[str, Any]:
        answer = httpx.get(f"{self.server.base_url}/api/notifications/{notification_id}", headers=self.auth)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def metrics(self) -> str:
        answer = httpx.get(f"{self.server.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return answer.text

    def wait_for(self, notification_id: int, status: str) -> dict[str, Any]:
        return eventually(
            lambda: self.notification(notification_id),
            lambda body: body["status"] == status,
            within=20,
            what=f"notification {notification_id} to be {status}",
        )

    def timeline(self, client_id: int) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.server.base_url}/api/clients/{client_id}/timeline", headers=self.auth)
        assert answer.status_code == 200, answer.text
        body: list[dict[str, Any]] = answer.json()
        return body

    def notifications_of(self, client_id: int) -> list[int]:
        return sorted({step["notification_id"] for step in self.timeline(client_id)})

    def alerted(self, client_id: int) -> int:
        with sqlite3.connect(self.database) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'manager_alerted' AND client_id = ?", (client_id,)
            ).fetchone()
        return int(count)


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    root = tmp_path_factory.mktemp("reports")
    sms, telegram, whatsapp = FakeSmsRu().start(), FakeTelegramGateway().start(), FakeWhatsApp().start()
    env = environment(
        root / "data",
        BARBERSHOP_SWEEP_INTERVAL_SECONDS="0.2",
        BARBERSHOP_RETRY_BASE_SECONDS="0.2",
        BARBERSHOP_ARGON2_TIME_COST="2",
        BARBERSHOP_LOCAL_CHANNEL_ECHO="false",
        BARBERSHOP_FALLBACK_CHANNELS="telegram,whatsapp,sms",
        BARBERSHOP_SMSRU_API_ID=SMSRU_API_ID,
        BARBERSHOP_SMSRU_BASE_URL=sms.url,
        BARBERSHOP_TELEGRAM_GATEWAY_TOKEN=TELEGRAM_TOKEN,
        BARBERSHOP_TELEGRAM_GATEWAY_BASE_URL=telegram.url,
        BARBERSHOP_TELEGRAM_GATEWAY_CALLBACK_URL="https://barbershop.example/api/webhooks/telegram-gateway",
        BARBERSHOP_WHATSAPP_ACCESS_TOKEN="meta-access-token",
        BARBERSHOP_WHATSAPP_PHONE_NUMBER_ID="106540352242922",
        BARBERSHOP_WHATSAPP_TEMPLATE_NAME="barbershop_welcome",
        BARBERSHOP_WHATSAPP_BASE_URL=whatsapp.url,
        BARBERSHOP_WHATSAPP_APP_SECRET=WHATSAPP_SECRET,
        BARBERSHOP_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        BARBERSHOP_METRICS_TOKEN=METRICS_TOKEN,
    )
    try:
        with running_server(root / "data", root, env) as server:
            assert create_manager(env, "frontdesk", PASSWORD).returncode == 0
            login = httpx.post(f"{server.base_url}/api/auth/login", json={"login": "frontdesk", "password": PASSWORD})
            assert login.status_code == 200, login.text
            yield Installation(
                server, root / "data" / "barbershop.sqlite3", sms, telegram, whatsapp, login.json()["access_token"]
            )
            assert "Traceback" not in server.stderr, server.stderr
    finally:
        for provider in (sms, telegram, whatsapp):
            provider.stop()


def test_an_smsru_delivery_report_marks_the_message_delivered_and_is_answered_100(installation: Installation) -> None:
    registered = installation.register("+79161230001", "sms")
    sent = installation.wait_for(registered["notification_id"], "sent")

    answer = installation.reporter.smsru(sent["provider_message_id"], 103)

    assert (answer.status_code, answer.text) == (200, "100")
    delivered = installation.notification(registered["notification_id"])
    assert delivered["status"] == "delivered"
    assert "SMS.ru 103" in delivered["history"][-1]["reason"]


def test_provider_reports_are_counted_by_channel_status_and_outcome(installation: Installation) -> None:
    registered = installation.register("+79161230009", "sms")
    sent = installation.wait_for(registered["notification_id"], "sent")
    before = installation.metrics()

    assert installation.reporter.smsru(sent["provider_message_id"], 103).text == "100"
    assert installation.reporter.smsru(sent["provider_message_id"], 103).text == "100"
    assert installation.reporter.smsru("000000-000009", 103).text == "100"
    after = installation.metrics()

    def delta(**labels: str) -> float:
        sample = "barbershop_delivery_reports_total"
        return metric_value(after, sample, **labels) - metric_value(before, sample, **labels)

    assert delta(channel="sms", status="delivered", outcome="applied") == 1
    assert delta(channel="sms", status="delivered", outcome="unchanged") == 1
    assert delta(channel="sms", status="delivered", outcome="kept") == 1


def test_a_replayed_report_is_acknowledged_and_changes_nothing(installation: Installation) -> None:
    registered = installation.register("+79161230002", "sms")
    sent = installation.wait_for(registered["notification_id"], "sent")
    assert installation.reporter.smsru(sent["provider_message_id"], 103).text == "100"

    again = installation.reporter.smsru(sent["provider_message_id"], 103)
    late_failure = installation.reporter.smsru(sent["provider_message_id"], 104)

    assert (again.status_code, late_failure.status_code) == (200, 200)
    stored = installation.notification(registered["notification_id"])
    assert stored["status"] == "delivered", "never backwards"
    assert [change["status"] for change in stored["history"]] == ["scheduled", "sent", "delivered"]


def test_reports_with_a_bad_signature_are_refused(installation: Installation) -> None:
    registered = installation.register("+79161230003", "sms")
    sent = installation.wait_for(registered["notification_id"], "sent")
    reporter = installation.reporter

    forged = [
        reporter.smsru(sent["provider_message_id"], 103, api_id="somebody-else"),
        reporter.telegram("tg-1", "delivered", token="another-token"),
        reporter.whatsapp("wamid.1", "delivered", secret="another-secret"),
        httpx.post(f"{reporter.base_url}/api/webhooks/whatsapp", json=whatsapp_statuses("wamid.1", "read")),
    ]

    assert [answer.status_code for answer in forged] == [401, 401, 401, 401]
    assert all(answer.json()["code"] == "invalid_signature" for answer in forged)
    assert installation.notification(registered["notification_id"])["status"] == "sent"


def test_whatsapp_verification_answers_the_challenge_only_for_the_right_token(installation: Installation) -> None:
    url = f"{installation.server.base_url}/api/webhooks/whatsapp"
    right = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}

    answer = httpx.get(url, params=right)
    wrong = httpx.get(url, params=right | {"hub.verify_token": "guess"})

    assert (answer.status_code, answer.text) == (200, "1158201444")
    assert wrong.status_code == 403


def test_a_report_for_an_unknown_message_id_is_acknowledged(installation: Installation) -> None:
    sms = installation.reporter.smsru("000000-999999", 103)
    telegram = installation.reporter.telegram("tg-unknown", "read")
    whatsapp = installation.reporter.whatsapp("wamid.unknown", "delivered")

    assert (sms.status_code, sms.text) == (200, "100")
    assert telegram.status_code == 200
    assert telegram.json()["unknown"] == 1
    assert whatsapp.json() == {"reports": 1, "applied": 0, "unchanged": 0, "unknown": 1}
    assert "unknown" in installation.server.stderr + installation.server.stdout


def test_a_report_that_arrives_before_the_send_is_recorded_is_applied(installation: Installation) -> None:
    provider = installation.sms
    # SMS.ru takes the message and reports delivery before it answers the send.
    next_id = sms_id(len(provider.accepted) + 1)
    provider.script.append(Step(delay=1.5))
    registered = installation.register("+79161230004", "sms")
    eventually(
        lambda: len(provider.requests), lambda count: count > 0 and provider.script == [], within=20, what="send"
    )
    early = installation.reporter.smsru(next_id, 103)
    assert (early.status_code, early.text) == (200, "100")

    delivered = installation.wait_for(registered["notification_id"], "delivered")
    assert delivered["provider_message_id"] == next_id


def test_a_failed_report_falls_back_to_the_next_channel_which_delivers(installation: Installation) -> None:
    registered = installation.register("+79161230005", "telegram")
    first = installation.wait_for(registered["notification_id"], "sent")

    expired = installation.reporter.telegram(first["provider_message_id"], "expired")
    assert expired.json()["applied"] == 1

    client_id = registered["client_id"]
    ids = eventually(
        lambda: installation.notifications_of(client_id), lambda found: len(found) == 2, within=20, what="fallback"
    )
    replacement = installation.wait_for(ids[1], "sent")
    assert replacement["channel"] == "whatsapp"
    assert replacement["resend_of"] == registered["notification_id"]
    assert installation.reporter.whatsapp(replacement["provider_message_id"], "read").json()["applied"] == 1
    assert installation.notification(ids[1])["status"] == "delivered"
    assert installation.alerted(client_id) == 0

    timeline = installation.timeline(client_id)
    assert [(step["notification_id"], step["channel"], step["kind"], step["state"]) for step in timeline] == [
        (ids[0], "telegram", "created", "scheduled"),
        (ids[0], "telegram", "attempt", "sent"),
        (ids[0], "telegram", "status", "sent"),
        (ids[0], "telegram", "status", "failed"),
        (ids[1], "whatsapp", "created", "scheduled"),
        (ids[1], "whatsapp", "attempt", "sent"),
        (ids[1], "whatsapp", "status", "sent"),
        (ids[1], "whatsapp", "status", "delivered"),
    ]
    assert timeline[4]["replaces"] == ids[0]
    assert "Telegram expired" in timeline[3]["detail"]

    page = httpx.get(f"{installation.server.base_url}/clients/{client_id}", cookies=_page_session(installation))
    assert page.status_code == 200
    assert "Резервный канал" in page.text


def test_an_exhausted_chain_alerts_a_manager_exactly_once(installation: Installation) -> None:
    installation.telegram.script.append(FakeTelegramGateway.refused())
    installation.whatsapp.script.append(FakeWhatsApp.refused())
    installation.sms.script.append(FakeSmsRu.error_code(207))
    registered = installation.register("+79161230006", "telegram")
    client_id = registered["client_id"]

    eventually(
        lambda: installation.alerted(client_id), lambda alerts: alerts >= 1, within=30, what="the manager's alert"
    )
    time.sleep(1)  # a few sweeps more: still one alert

    assert installation.alerted(client_id) == 1
    ids = installation.notifications_of(client_id)
    assert [installation.notification(i)["channel"] for i in ids] == ["telegram", "whatsapp", "sms"]
    assert all(installation.notification(i)["status"] == "failed" for i in ids)
    alerts = httpx.get(f"{installation.server.base_url}/api/notifications/alerts", headers=installation.auth).json()
    assert [alert["notification"]["id"] for alert in alerts if alert["notification"]["id"] in ids] == [ids[-1]]


def _page_session(installation: Installation) -> httpx.Cookies:
    """Log in on the manager's page (its CSRF token first) and keep the session cookie."""
    with httpx.Client(base_url=installation.server.base_url) as page:
        form = page.get("/login")
        token = form.text.split('name="_csrf" value="', 1)[1].split('"', 1)[0]
        answer = page.post("/login", data={"login": "frontdesk", "password": PASSWORD, "_csrf": token})
        assert answer.status_code in (200, 303), answer.text
        return page.cookies
