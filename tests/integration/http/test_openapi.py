"""``/schema``: an OpenAPI document that documents every answer, problems and examples included."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest

from tests.integration.http.conftest import Api

SECTION_5 = {
    ("post", "/api/auth/login"),
    ("post", "/api/auth/change-password"),
    ("post", "/api/auth/logout"),
    ("post", "/api/persons/check"),
    ("get", "/api/persons"),
    ("post", "/api/persons"),
    ("post", "/api/clients"),
    ("get", "/api/clients"),
    ("get", "/api/clients/{client_id}"),
    ("patch", "/api/clients/{client_id}"),
    ("post", "/api/registrations"),
    ("post", "/api/notifications"),
    ("get", "/api/notifications/alerts"),
    ("get", "/api/notifications/{notification_id}"),
    ("post", "/api/notifications/{notification_id}/resend"),
    ("post", "/api/notifications/{notification_id}/delivery-callback"),
    ("get", "/api/channels"),
    ("get", "/api/notification-templates"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("post", "/api/client/auth/login"),
    ("post", "/api/client/auth/change-password"),
    ("get", "/api/client/me"),
    ("put", "/api/client/me/consents"),
    ("get", "/api/clients/{client_id}/timeline"),
}
CLIENT_PATHS = {"/api/client/auth/change-password", "/api/client/me", "/api/client/me/consents"}
"""Behind the client's token (``/api/client/auth/login`` is public)."""
WEBHOOKS = {
    ("post", "/api/webhooks/sms-ru"),
    ("post", "/api/webhooks/telegram-gateway"),
    ("get", "/api/webhooks/whatsapp"),
    ("post", "/api/webhooks/whatsapp"),
}
"""Providers' reports in their own formats and signatures, tested in ``tests/integration/reports``."""
WEBHOOK_PATHS = {path for _, path in WEBHOOKS}
SEED_002 = {("post", "/api/register-client"), ("post", "/api/register-clients")}
"""The partner API: its own error shape and key, tested in ``tests/integration/partner``."""
PARTNER_PATHS = {path for _, path in SEED_002}
OPERABILITY = {("get", "/api/audit")}
"""Issue #16: the masked audit trail (``/metrics`` is for the scraper and left out of the document)."""


@pytest.fixture
def document(sqlite_api: Api) -> dict[str, Any]:
    answer = sqlite_api.client.get("/schema/openapi.json")
    assert answer.status_code == 200
    schema: dict[str, Any] = answer.json()
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items() for method, operation in item.items()]


def test_the_document_lists_every_operation_of_the_contract(document: dict[str, Any]) -> None:
    assert {
        (method, path) for method, path, _ in _operations(document)
    } == SECTION_5 | SEED_002 | WEBHOOKS | OPERABILITY


def test_every_error_status_is_a_problem_document_with_an_example(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if path in PARTNER_PATHS:
            continue
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert content["application/problem+json"]["examples"], (method, path, status)


def test_manager_operations_declare_the_bearer_token_and_its_401_and_403(document: dict[str, Any]) -> None:
    public = {
        "/api/auth/login",
        "/api/client/auth/login",
        "/health/live",
        "/health/ready",
        "/api/notifications/{notification_id}/delivery-callback",
    }
    for method, path, operation in _operations(document):
        if path in public | PARTNER_PATHS | WEBHOOK_PATHS | CLIENT_PATHS:
            continue
        assert operation["security"] == [{"ManagerToken": []}], (method, path)
        assert "401" in operation["responses"], (method, path)
        if path not in {"/api/auth/change-password", "/api/auth/logout"}:  # open with a temporary password
            assert "403" in operation["responses"], (method, path)


def test_client_operations_declare_the_client_token_and_its_401_and_403(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if path not in CLIENT_PATHS:
            continue
        assert operation["security"] == [{"ClientToken": []}], (method, path)
        assert "401" in operation["responses"], (method, path)
        if path != "/api/client/auth/change-password":
            assert "403" in operation["responses"], (method, path)
    login = document["paths"]["/api/client/auth/login"]["post"]
    assert "security" not in login
    examples = login["responses"]["401"]["content"]["application/problem+json"]["examples"]
    assert {e["value"]["code"] for e in examples.values()} == {
        "invalid_credentials",
        "temporary_password_expired",
        "temporary_password_voided",
    }


def test_registration_documents_every_alternative_flow(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/registrations"]["post"]["responses"]

    assert {"200", "201", "409", "422", "503"} <= set(responses)
    problems_422 = responses["422"]["content"]["application/problem+json"]["examples"]
    assert {example["value"]["code"] for example in problems_422.values()} >= {
        "invalid_phone",
        "channel_unavailable",
        "template_missing",
    }
    conflict = next(iter(responses["409"]["content"]["application/problem+json"]["examples"].values()))
    assert conflict["value"]["links"]["card"]["href"] == "/api/clients/42"


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in _operations(document):
        bodies = [operation.get("requestBody", {}).get("content", {})]
        bodies += [response.get("content", {}) for response in operation["responses"].values()]
        for content in bodies:
            for media in content.values():
                schema = {**media["schema"], "components": document["components"]}
                validator = jsonschema_rs.validator_for(schema)
                examples = [e["value"] for e in media.get("examples", {}).values()]
                examples += media["schema"].get("examples", [])
                for example in examples:
                    errors = [error.message for error in validator.iter_errors(example)]
                    assert not errors, (method, path, example, errors)
                    checked += 1
    assert checked > 60


def test_the_schema_page_is_served(sqlite_api: Api) -> None:
    answer = sqlite_api.client.get("/schema")

    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]


def test_the_bulk_operation_documents_its_ndjson_stream_both_ways(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/register-clients"]["post"]
    asked = operation["requestBody"]["content"]["application/x-ndjson"]
    answered = operation["responses"]["200"]["content"]["application/x-ndjson"]

    lines = [json.loads(line) for line in asked["example"].splitlines()]
    assert [set(line) >= {"fio", "phone", "purchases"} for line in lines] == [True, True]
    assert "100000" in asked["schema"]["description"]
    assert [set(json.loads(line)) for line in answered["example"].splitlines()] == [{"client_id"}, {"error"}]
