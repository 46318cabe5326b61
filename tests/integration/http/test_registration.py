"""``POST /api/registrations``: UC04's main flow and every alternative flow A1–A7, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest

from barbershop_core.model import NotificationTemplate, TemplateKind
from barbershop_core.values import PhoneNumber
from barbershop_entrypoints.sweeper import sweep_once
from tests.integration.http.conftest import Api, assert_problem, clients_table_refusing_rows, new_phone


def test_registration_creates_the_client_and_the_local_channel_sends_the_welcome(api: Api) -> None:
    phone = new_phone()

    answer = api.register(phone, "Иван", consents={"personal_data": True})

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["idempotent"] is False
    assert body["phone"] == phone
    assert body["login"] == phone
    assert body["notification_status"] == "scheduled"
    assert body["links"]["card"] == {"href": f"/api/clients/{body['client_id']}", "method": "GET"}
    assert answer.headers["location"] == f"/api/clients/{body['client_id']}"
    api.drain()
    [message] = api.messages()
    assert message["phone"] == PhoneNumber(phone).masked
    assert phone not in message["text"]
    assert message["notification_id"] == body["notification_id"]
    assert "Иван" in message["text"]
    status = api.get(f"/api/notifications/{body['notification_id']}")
    assert status.json()["status"] == "sent"
    card = (api.get(f"/api/clients/{body['client_id']}")).json()
    assert card["consents"] == {"personal_data": True}
    assert card["must_change_password"] is True


def test_a6_the_same_phone_within_five_minutes_answers_idempotent_with_the_same_ids(api: Api) -> None:
    phone = new_phone()
    first = (api.register(phone)).json()
    api.clock.advance(timedelta(minutes=4))

    again = api.register("8 " + phone[2:5] + " " + phone[5:], "Иван")

    assert again.status_code == 200, again.text
    body = again.json()
    assert body["idempotent"] is True
    assert (body["person_id"], body["client_id"]) == (first["person_id"], first["client_id"])
    assert body["notification_id"] == first["notification_id"]
    assert api.rows("persons") == 1
    assert api.rows("clients") == 1
    assert api.rows("client_notifications") == 1


def test_a1_a_phone_registered_more_than_five_minutes_ago_is_client_exists_with_links(api: Api) -> None:
    phone = new_phone()
    first = (api.register(phone)).json()
    api.clock.advance(timedelta(minutes=6))

    answer = api.register(phone, "Пётр")

    problem = assert_problem(answer, 409, "client_exists")
    assert problem["title"] == "Клиент уже существует"
    assert problem["client_id"] == first["client_id"]
    assert problem["person_id"] == first["person_id"]
    card, update = problem["links"]["card"], problem["links"]["update"]
    assert card == {"href": f"/api/clients/{first['client_id']}", "method": "GET"}  # A1.1
    assert update == {"href": f"/api/clients/{first['client_id']}", "method": "PATCH"}  # A1.2
    assert (api.get(card["href"])).status_code == 200
    updated = api.patch(update["href"], {"first_name": "Пётр"})
    assert updated.status_code == 200
    assert updated.json()["first_name"] == "Пётр"


@pytest.mark.parametrize("phone", ["12345", "+7 911 123", "abc", "+0000000000", "8 (911) 1234-567-89-00"])
def test_a2_an_invalid_phone_is_422_invalid_phone_and_nothing_is_stored(api: Api, phone: str) -> None:
    answer = api.register(phone)

    problem = assert_problem(answer, 422, "invalid_phone")
    assert problem["title"] == "Проверьте номер"
    assert problem["errors"] == [{"field": "phone", "message": "Проверьте номер", "source": "body"}]
    assert api.rows("persons") == 0
    assert api.rows("audit_events") == 0


@pytest.fixture
def clients_refuse_rows(api: Api) -> Iterator[None]:
    with clients_table_refusing_rows(api):
        yield


@pytest.mark.usefixtures("clients_refuse_rows")
def test_a3_a_database_failure_is_503_temporary_error_with_nothing_partial_left(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    phone = new_phone()

    answer = api.register(phone)

    problem = assert_problem(answer, 503, "temporary_error")
    assert problem["title"] == "Временная ошибка, попробуйте снова"
    assert answer.headers["retry-after"] == "2"
    assert api.rows("persons") == 0
    assert api.rows("client_notifications") == 0
    assert api.rows("audit_events") == 0
    logged = [r.getMessage() for r in caplog.records if "ERROR_REGISTER_CLIENT" in r.getMessage()]
    assert logged, "A3 must log ERROR_REGISTER_CLIENT"
    assert all(phone not in line and phone[:5] in line for line in logged)


def test_a4_a_channel_that_keeps_failing_ends_failed_after_three_retries_and_alerts(api: Api) -> None:
    outbox = api.container.settings.local_messages_file
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.mkdir()  # the local channel cannot write its file: every attempt fails, retryably
    registered = (api.register()).json()
    api.drain()
    for _ in range(3):  # three retries with backoff, each when it falls due
        api.clock.advance(timedelta(hours=1))
        api.run(sweep_once, api.container)
        api.drain()

    notification = (api.get(f"/api/notifications/{registered['notification_id']}")).json()

    assert notification["status"] == "failed"
    assert notification["attempt_count"] == 4
    assert notification["needs_attention"] is True
    assert [a["outcome"] for a in notification["attempts"]] == ["retryable_failure"] * 4
    alerts = (api.get("/api/notifications/alerts")).json()
    [alert] = [a for a in alerts if a["notification"]["id"] == registered["notification_id"]]
    assert "sms" in alert["active_channels"]
    assert "local" not in alert["active_channels"]
    assert alert["resend"] == {"href": f"/api/notifications/{registered['notification_id']}/resend", "method": "POST"}

    outbox.rmdir()  # the channel works again: the manager sends the message anew
    resent = api.post(alert["resend"]["href"], {"channel": "local"})

    assert resent.status_code == 201, resent.text
    assert resent.json()["resend_of"] == registered["notification_id"]
    api.drain()
    assert (api.get(f"/api/notifications/{resent.json()['id']}")).json()["status"] == "sent"
    assert len(api.messages()) == 1
    assert (api.get(f"/api/notifications/{registered['notification_id']}")).json()["needs_attention"] is False


async def _save_template(api: Api, template: NotificationTemplate) -> None:
    async with api.container.uow_factory() as uow:
        await uow.reference.save_template(template)
        await uow.commit()


def _add_marketing_template(api: Api) -> None:
    template = NotificationTemplate("PROMO", "local", TemplateKind.MARKETING, "{first_name}, скидка 10% на стрижку!")
    api.run(_save_template, api, template)


def test_a5_a_marketing_message_needs_the_marketing_consent(api: Api) -> None:
    _add_marketing_template(api)

    refused = api.register(template_code="PROMO", consents={"personal_data": True})
    accepted = api.register(template_code="PROMO", consents={"personal_data": True, "marketing": True})

    assert_problem(refused, 422, "consent_required")
    assert accepted.status_code == 201, accepted.text
    card = (api.get(accepted.json()["links"]["card"]["href"])).json()
    assert card["consents"] == {"personal_data": True, "marketing": True}


def test_a5_an_unknown_consent_type_is_a_validation_error(api: Api) -> None:
    answer = api.register(consents={"newsletter": True})

    problem = assert_problem(answer, 422, "validation_error")
    assert problem["errors"][0]["field"] == "consents"


async def _set_inactive(api: Api, code: str) -> None:
    async with api.container.uow_factory() as uow:
        channel = await uow.reference.get_channel(code)
        assert channel is not None
        await uow.reference.save_channel(attrs.evolve(channel, is_active=False))
        await uow.commit()


def _deactivate(api: Api, code: str) -> None:
    api.run(_set_inactive, api, code)


def test_a7_an_inactive_channel_is_422_channel_unavailable_with_the_active_channels(api: Api) -> None:
    _deactivate(api, "telegram")

    answer = api.register(channel="telegram")

    problem = assert_problem(answer, 422, "channel_unavailable")
    assert problem["channel"] == "telegram"
    assert "telegram" not in problem["active_channels"]
    assert {"sms", "local"} <= set(problem["active_channels"])
    assert api.rows("persons") == 0


def test_a7_a_missing_template_is_422_template_missing(api: Api) -> None:
    answer = api.register(template_code="NO_SUCH_TEMPLATE")

    problem = assert_problem(answer, 422, "template_missing")
    assert problem["template_code"] == "NO_SUCH_TEMPLATE"
    assert "local" in problem["active_channels"]


def test_a7_postponing_registers_with_the_notification_held_until_a_channel_is_picked(api: Api) -> None:
    _deactivate(api, "telegram")

    answer = api.register(channel="telegram", postpone_notification=True)

    assert answer.status_code == 201, answer.text
    registered: dict[str, Any] = answer.json()
    assert registered["notification_status"] == "held"
    api.drain()
    assert api.messages() == []
    alerts = (api.get("/api/notifications/alerts")).json()
    assert [a["notification"]["status"] for a in alerts] == ["held"]

    released = api.post(f"/api/notifications/{registered['notification_id']}/resend", {"channel": "local"})

    assert released.status_code == 200, released.text
    assert released.json()["id"] == registered["notification_id"]
    assert released.json()["channel"] == "local"
    api.drain()
    assert [m["notification_id"] for m in api.messages()] == [registered["notification_id"]]
    assert (api.get("/api/notifications/alerts")).json() == []


def test_registration_without_a_token_is_401_and_stores_nothing(api: Api) -> None:
    answer = api.client.post("/api/registrations", json={"phone": new_phone(), "first_name": "Иван"})

    assert_problem(answer, 401, "unauthorized")
    assert answer.headers["www-authenticate"] == "Bearer"
    assert api.rows("persons") == 0
