"""Notifications: schedule, status with attempts and history, resend, and the provider's signed callback."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from tests.integration.console import shown_passwords
from tests.integration.http.conftest import Api, assert_problem, new_phone


def _sent_registration(api: Api) -> dict[str, Any]:
    registered: dict[str, Any] = api.register().json()
    api.drain()
    return registered


def _callback(
    api: Api, notification_id: int, body: dict[str, Any], *, channel: str = "local", **headers: str
) -> httpx.Response:
    raw = json.dumps(body).encode()
    signed = f"{notification_id}.".encode() + raw
    signature = "sha256=" + hmac.new(api.container.callback_secret(channel), signed, hashlib.sha256).hexdigest()
    return api.client.post(
        f"/api/notifications/{notification_id}/delivery-callback",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature": signature} | headers,
    )


def test_a_notification_is_scheduled_for_a_client_and_sent(api: Api) -> None:
    registered = _sent_registration(api)

    answer = api.post("/api/notifications", {"client_id": registered["client_id"], "channel": "local"})

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["status"] == "scheduled"
    assert created["template_code"] == "REG_WELCOME"
    assert answer.headers["location"] == f"/api/notifications/{created['id']}"
    api.drain()
    assert [m["notification_id"] for m in api.messages()] == [registered["notification_id"], created["id"]]


def test_a_notification_for_an_unknown_client_is_404(api: Api) -> None:
    assert_problem(api.post("/api/notifications", {"client_id": 424242}), 404, "not_found")


def test_a_postponed_notification_is_held(api: Api) -> None:
    registered = _sent_registration(api)

    answer = api.post("/api/notifications", {"client_id": registered["client_id"], "postpone": True})

    assert answer.status_code == 201
    assert answer.json()["status"] == "held"
    assert answer.json()["needs_attention"] is True


def test_the_status_shows_attempts_and_history_and_never_the_secret(api: Api) -> None:
    registered = _sent_registration(api)

    answer = api.get(f"/api/notifications/{registered['notification_id']}")

    body = answer.json()
    assert body["status"] == "sent"
    assert body["attempt_count"] == 1
    assert body["attempts"][0]["outcome"] == "sent"
    assert body["provider_message_id"] == body["attempts"][0]["provider_message_id"]
    assert [change["status"] for change in body["history"]] == ["scheduled", "sent"]
    assert "secret" not in body
    assert "password" not in answer.text


def test_an_unknown_notification_is_404(api: Api) -> None:
    assert_problem(api.get("/api/notifications/424242"), 404, "not_found")


def test_resending_a_sent_notification_creates_a_new_one_that_replaces_it(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    registered = _sent_registration(api)

    answer = api.post(f"/api/notifications/{registered['notification_id']}/resend", {"channel": "local"})

    assert answer.status_code == 201, answer.text
    assert answer.json()["resend_of"] == registered["notification_id"]
    api.drain()
    shown = shown_passwords(capsys.readouterr().out)
    assert shown[registered["notification_id"]] != shown[answer.json()["id"]]  # a fresh temporary password
    original = api.get(f"/api/notifications/{registered['notification_id']}").json()
    assert original["superseded_by"] == answer.json()["id"]


def test_resending_a_notification_still_being_retried_is_409_in_progress(api: Api) -> None:
    outbox = api.container.settings.local_messages_file
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.mkdir()  # the first attempt fails retryably: the notification waits for its retry
    registered = api.register().json()
    api.drain()
    assert api.get(f"/api/notifications/{registered['notification_id']}").json()["status"] == "scheduled"

    answer = api.post(f"/api/notifications/{registered['notification_id']}/resend", {"channel": "local"})

    assert_problem(answer, 409, "notification_in_progress")
    outbox.rmdir()


def test_resending_through_an_unknown_channel_is_422_channel_unavailable(api: Api) -> None:
    registered = _sent_registration(api)

    answer = api.post(f"/api/notifications/{registered['notification_id']}/resend", {"channel": "pigeon"})

    problem = assert_problem(answer, 422, "channel_unavailable")
    assert "local" in problem["active_channels"]


def test_a_signed_delivery_report_moves_the_status_once_and_is_idempotent(api: Api) -> None:
    registered = _sent_registration(api)
    notification_id = registered["notification_id"]

    first = _callback(api, notification_id, {"status": "delivered"})
    again = _callback(api, notification_id, {"status": "delivered"})
    older = _callback(api, notification_id, {"status": "failed", "error": "late report"})

    assert first.status_code == 200, first.text
    assert first.json() == {"notification_id": notification_id, "status": "delivered", "changed": True}
    assert again.json()["changed"] is False
    assert older.json() == {"notification_id": notification_id, "status": "delivered", "changed": False}
    history = api.get(f"/api/notifications/{notification_id}").json()["history"]
    assert [change["status"] for change in history] == ["scheduled", "sent", "delivered"]
    actor = api.scalar(
        "SELECT actor FROM audit_events WHERE action = 'notification_delivered' AND notification_id = :id",
        id=notification_id,
    )
    assert actor == "provider:local"


def test_a_failure_report_fails_the_notification_and_alerts(api: Api) -> None:
    registered = _sent_registration(api)

    answer = _callback(api, registered["notification_id"], {"status": "failed", "error": "абонент недоступен"})

    assert answer.json()["status"] == "failed"
    alerts = api.get("/api/notifications/alerts").json()
    assert [a["notification"]["last_error"] for a in alerts] == ["абонент недоступен"]


def test_a_report_without_a_signature_is_401(api: Api) -> None:
    registered = _sent_registration(api)

    answer = api.client.post(
        f"/api/notifications/{registered['notification_id']}/delivery-callback", json={"status": "delivered"}
    )

    assert_problem(answer, 401, "invalid_signature")


def test_a_report_signed_with_another_channels_secret_is_401(api: Api) -> None:
    registered = _sent_registration(api)

    answer = _callback(api, registered["notification_id"], {"status": "delivered"}, channel="sms")

    assert_problem(answer, 401, "invalid_signature")
    assert api.get(f"/api/notifications/{registered['notification_id']}").json()["status"] == "sent"


def test_a_report_whose_body_was_changed_after_signing_is_401(api: Api) -> None:
    registered = _sent_registration(api)
    raw = f"{registered['notification_id']}.".encode() + json.dumps({"status": "delivered"}).encode()
    signature = hmac.new(api.container.callback_secret("local"), raw, hashlib.sha256).hexdigest()

    answer = api.client.post(
        f"/api/notifications/{registered['notification_id']}/delivery-callback",
        content=json.dumps({"status": "failed"}).encode(),
        headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"},
    )

    assert_problem(answer, 401, "invalid_signature")


def test_a_report_for_an_unknown_notification_is_401_like_a_bad_signature(api: Api) -> None:
    assert_problem(_callback(api, 424242, {"status": "delivered"}), 401, "invalid_signature")


def test_a_signed_report_replayed_on_another_notification_is_401(api: Api) -> None:
    first = _sent_registration(api)
    second = api.register(new_phone(), first_name="Пётр").json()
    raw = json.dumps({"status": "failed"}).encode()
    signed = f"{first['notification_id']}.".encode() + raw
    signature = hmac.new(api.container.callback_secret("local"), signed, hashlib.sha256).hexdigest()

    answer = api.client.post(
        f"/api/notifications/{second['notification_id']}/delivery-callback",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"},
    )

    assert_problem(answer, 401, "invalid_signature")


def test_a_report_with_an_unknown_status_is_422(api: Api) -> None:
    registered = _sent_registration(api)

    answer = _callback(api, registered["notification_id"], {"status": "read"})

    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"][0]["field"] == "status"


def test_a_report_about_another_provider_message_is_422(api: Api) -> None:
    registered = _sent_registration(api)

    answer = _callback(api, registered["notification_id"], {"status": "delivered", "provider_message_id": "other"})

    assert_problem(answer, 422, "validation_error")
