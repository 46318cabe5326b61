"""``GET /metrics``: token-guarded, values that move as registrations, sends and logins happen, no personal data."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta

import attrs
import pytest
from anyio.from_thread import BlockingPortal
from prometheus_client.parser import text_string_to_metric_families

from barbershop_core.use_cases.accounts import CreatePartner, create_partner
from barbershop_entrypoints.settings import Settings
from tests.fakes import FakeClock
from tests.integration.http.conftest import Api, new_phone, running_api
from tests.integration.partner.conftest import participant

TOKEN = "scrape-token-0123456789"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metered_api(request: pytest.FixtureRequest, clock: FakeClock, portal: BlockingPortal) -> Iterator[Api]:
    """The API with ``BARBERSHOP_METRICS_TOKEN`` set, on SQLite and on PostgreSQL."""
    settings: Settings = request.getfixturevalue(f"{request.param}_settings")
    settings = attrs.evolve(settings, web=attrs.evolve(settings.web, metrics_token=TOKEN))
    with running_api(settings, clock, request.param, portal) as ready:
        yield ready


def scrape(api: Api) -> str:
    answer = api.client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def value(text: str, sample: str, **labels: str) -> float:
    """The sample's value (0 when the series is not there yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def test_metrics_are_not_found_when_no_token_is_configured(sqlite_api: Api) -> None:
    answer = sqlite_api.client.get("/metrics", headers=SCRAPER)

    assert answer.status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
def test_metrics_refuse_a_scraper_without_the_token(metered_api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}

    answer = metered_api.client.get("/metrics", headers=headers)

    assert answer.status_code == 401
    assert "barbershop_" not in answer.text


def test_metrics_are_left_out_of_the_openapi_document(sqlite_api: Api) -> None:
    assert "/metrics" not in sqlite_api.client.get("/schema/openapi.json").json()["paths"]


def test_registrations_count_by_outcome(metered_api: Api) -> None:
    before = scrape(metered_api)
    phone = new_phone()

    assert metered_api.register(phone).status_code == 201
    assert metered_api.register(phone).status_code == 200  # A6
    assert metered_api.register("12345").status_code == 422  # A2
    metered_api.clock.advance(timedelta(minutes=10))
    assert metered_api.register(phone).status_code == 409  # A1
    after = scrape(metered_api)

    for outcome in ("created", "idempotent", "invalid", "exists"):
        delta = value(after, "barbershop_registrations_total", outcome=outcome) - value(
            before, "barbershop_registrations_total", outcome=outcome
        )
        assert delta == 1, outcome


def test_a_send_counts_the_hand_over_its_latency_and_the_attempt(metered_api: Api) -> None:
    before = scrape(metered_api)

    assert metered_api.register().status_code == 201
    metered_api.drain()
    after = scrape(metered_api)

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert delta("barbershop_notification_sends_total", channel="local", status="sent") == 1
    assert delta("barbershop_notification_send_duration_seconds_count", channel="local") == 1
    assert delta("barbershop_notification_attempts_total", result="sent") == 1
    assert value(after, "barbershop_notification_backlog") == 0


def test_the_backlog_and_its_oldest_age_come_from_the_database(metered_api: Api) -> None:
    assert metered_api.register().status_code == 201
    metered_api.drain()
    due = metered_api.clock.now() - timedelta(seconds=90)

    async def put_back() -> None:
        from sqlalchemy import update  # noqa: PLC0415 -- this test alone writes the table itself

        from barbershop_adapters.sqlalchemy.tables import client_notifications  # noqa: PLC0415 -- as above

        async with metered_api.container.engine.begin() as connection:
            await connection.execute(update(client_notifications).values(status="scheduled", next_attempt_at=due))

    metered_api.run(put_back)
    text = scrape(metered_api)

    assert value(text, "barbershop_notification_backlog") == 1
    assert value(text, "barbershop_notification_backlog_oldest_age_seconds") == 90


def test_a_refused_login_is_counted(metered_api: Api) -> None:
    before = value(scrape(metered_api), "barbershop_login_failures_total", kind="manager")

    assert metered_api.login(password="not the password").status_code == 401

    assert value(scrape(metered_api), "barbershop_login_failures_total", kind="manager") == before + 1


def partner_key(api: Api, name: str) -> dict[str, str]:
    """The ``X-API-Key`` header of a new partner called ``name``."""
    created = api.run(create_partner, CreatePartner(name), api.container.partners())
    return {"X-API-Key": created.api_key}


def test_partner_registrations_count_by_partner_and_outcome(metered_api: Api) -> None:
    key = partner_key(metered_api, "retail-m")
    before = scrape(metered_api)

    assert metered_api.client.post("/api/register-client", json=participant(), headers=key).status_code == 200
    assert metered_api.client.post("/api/register-client", json=participant(phone="12"), headers=key).status_code == 400
    after = scrape(metered_api)

    for outcome in ("created", "invalid"):
        sample = "barbershop_partner_registrations_total"
        assert (
            value(after, sample, partner="retail-m", outcome=outcome)
            - value(before, sample, partner="retail-m", outcome=outcome)
            == 1
        ), outcome


def test_bulk_partner_registrations_count_each_participant_and_each_refused_request(metered_api: Api) -> None:
    key = partner_key(metered_api, "retail-b")
    batch = [participant(phone=new_phone()), participant(phone=new_phone()), participant(phone="12")]
    ndjson = "\n".join(json.dumps(item) for item in [participant(phone=new_phone()), participant(phone="34")])
    before = scrape(metered_api)

    assert metered_api.client.post("/api/register-clients", json=batch, headers=key).status_code == 200
    streamed = metered_api.client.post(
        "/api/register-clients", content=ndjson, headers=key | {"Content-Type": "application/x-ndjson"}
    )
    assert streamed.status_code == 200
    assert metered_api.client.post("/api/register-clients", json=[], headers=key).status_code == 400
    after = scrape(metered_api)

    def delta(outcome: str) -> float:
        sample = "barbershop_partner_registrations_total"
        return value(after, sample, partner="retail-b", outcome=outcome) - value(
            before, sample, partner="retail-b", outcome=outcome
        )

    assert (delta("created"), delta("invalid"), delta("replayed")) == (3, 3, 0)


def test_a_delivery_callback_is_counted_by_channel_status_and_outcome(metered_api: Api) -> None:
    registered = metered_api.register().json()
    metered_api.drain()
    notification_id = registered["notification_id"]
    raw = json.dumps({"status": "delivered"}).encode()
    secret = metered_api.container.callback_secret("local")
    signature = hmac.new(secret, f"{notification_id}.".encode() + raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Signature": f"sha256={signature}"}
    before = scrape(metered_api)

    for _ in range(2):
        answer = metered_api.client.post(
            f"/api/notifications/{notification_id}/delivery-callback", content=raw, headers=headers
        )
        assert answer.status_code == 200, answer.text
    after = scrape(metered_api)

    def delta(outcome: str) -> float:
        labels = {"channel": "local", "status": "delivered", "outcome": outcome}
        sample = "barbershop_delivery_reports_total"
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert (delta("applied"), delta("unchanged")) == (1, 1)


def test_no_phone_name_or_email_appears_in_the_metrics(metered_api: Api) -> None:
    phone = new_phone()
    assert metered_api.register(phone, first_name="Евлампий").status_code == 201
    assert metered_api.register("12345", first_name="Евлампий").status_code == 422
    metered_api.login(login=phone, password="wrong")
    container = metered_api.container
    created = metered_api.run(create_partner, CreatePartner("retail-p"), container.partners())
    partner_phone = new_phone()
    body = participant(phone=partner_phone, fio="Сидоров Евлампий Петрович", email="evlampiy@example.org")
    assert metered_api.client.post("/api/register-client", json=body, headers={"X-API-Key": created.api_key}).is_success
    metered_api.drain()

    text = scrape(metered_api)

    digits = phone.lstrip("+")
    for secret in (phone, digits, digits[1:], partner_phone.lstrip("+"), "Евлампий", "Сидоров", "evlampiy", "@"):
        assert secret not in text
