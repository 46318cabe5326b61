"""Every error answers RFC 9457 problem details in Russian, with a stable code and the request id."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from barbershop_core.ports import StorageUnavailable
from barbershop_entrypoints.http.problems import MAX_BODY_BYTES
from tests.integration.http.conftest import Api, assert_problem, new_phone


def test_an_unknown_route_is_404_problem(sqlite_api: Api) -> None:
    problem = assert_problem(sqlite_api.get("/api/no-such-thing"), 404, "not_found")

    assert problem["instance"] == "/api/no-such-thing"
    assert problem["detail"] == "Такого адреса нет"


def test_a_non_numeric_id_is_404(sqlite_api: Api) -> None:
    assert_problem(sqlite_api.get("/api/clients/abc"), 404, "not_found")


def test_an_id_out_of_range_is_422_before_reaching_the_database(sqlite_api: Api) -> None:
    problem = assert_problem(sqlite_api.get(f"/api/clients/{2**40}"), 422, "validation_error")

    assert problem["errors"][0]["field"] == "client_id"
    assert problem["errors"][0]["source"] == "path"


def test_a_wrong_method_is_405_with_allow(sqlite_api: Api) -> None:
    answer = sqlite_api.client.delete("/api/registrations", headers=sqlite_api.auth)

    assert_problem(answer, 405, "method_not_allowed")
    assert "POST" in answer.headers["allow"]


def test_a_body_that_is_not_json_is_415(sqlite_api: Api) -> None:
    answer = sqlite_api.post(
        "/api/registrations",
        content=b"phone=1&first_name=2",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_problem(answer, 415, "unsupported_media_type")
    assert sqlite_api.rows("persons") == 0


def test_malformed_json_is_400(sqlite_api: Api) -> None:
    answer = sqlite_api.post(
        "/api/registrations", content=b'{"phone": "+7911', headers={"Content-Type": "application/json"}
    )

    problem = assert_problem(answer, 400, "malformed_json")
    assert problem["title"] == "Некорректный JSON"


def test_a_missing_field_is_422_naming_it_in_russian(sqlite_api: Api) -> None:
    problem = assert_problem(sqlite_api.post("/api/registrations", {"phone": new_phone()}), 422, "validation_error")

    assert problem["errors"] == [{"field": "first_name", "message": "Обязательное поле", "source": "body"}]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"phone": 79111234567, "first_name": "Иван"}, "phone", "Ожидается строка"),
        ({"phone": "+79111234567", "first_name": "И" * 51}, "first_name", "Не длиннее 50 символов"),
        ({"phone": "+79111234567", "first_name": "Иван", "postpone_notification": [1]}, "postpone_notification", None),
        ({"phone": "+79111234567", "first_name": "Иван", "channel": "s\u0000ms"}, "channel", "Недопустимые символы"),
        ({"phone": "+79111234567", "first_name": "Иван", "consents": []}, "consents", "Ожидается объект"),
    ],
)
def test_wrong_types_are_422_with_the_field_and_a_russian_message(
    sqlite_api: Api, body: dict[str, Any], field: str, message: str | None
) -> None:
    problem = assert_problem(sqlite_api.post("/api/registrations", body), 422, "validation_error")

    [error] = problem["errors"]
    assert error["field"] == field
    assert error["source"] == "body"
    assert error["message"] == (message or "Ожидается true или false")


def test_a_body_that_is_not_an_object_is_422(sqlite_api: Api) -> None:
    assert_problem(sqlite_api.post("/api/registrations", ["phone"]), 422, "validation_error")


def test_an_oversized_body_is_413(sqlite_api: Api) -> None:
    answer = sqlite_api.post(
        "/api/registrations", {"phone": new_phone(), "first_name": "Иван", "padding": "x" * MAX_BODY_BYTES}
    )

    assert_problem(answer, 413, "request_too_large")


def test_an_unexpected_exception_is_500_without_internals_and_logged_with_the_request_id(
    sqlite_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise RuntimeError("secret internal state, phone +79111234567")

    sqlite_api.container.uow_factory = broken

    answer = sqlite_api.get("/api/channels", headers={"X-Request-ID": "req-500-check"})

    problem = assert_problem(answer, 500, "internal_error")
    assert problem["request_id"] == "req-500-check"
    assert "secret internal state" not in answer.text
    assert "RuntimeError" not in answer.text
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR and "internal_error" in r.getMessage()]
    assert "req-500-check" in record.getMessage()
    assert "RuntimeError" in record.getMessage()
    assert "+79111234567" not in record.getMessage()


def test_a_storage_fault_outside_registration_is_503_temporary_error(sqlite_api: Api) -> None:
    def unavailable() -> Any:
        raise StorageUnavailable("connection refused")

    sqlite_api.container.uow_factory = unavailable

    answer = sqlite_api.get("/api/channels")

    assert_problem(answer, 503, "temporary_error")
    assert answer.headers["retry-after"] == "2"


def test_the_request_id_is_echoed_when_sane_and_generated_otherwise(sqlite_api: Api) -> None:
    given = sqlite_api.client.get("/health/live", headers={"X-Request-ID": "front-desk-42"})
    generated = sqlite_api.client.get("/health/live")
    refused = sqlite_api.client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})

    assert given.headers["x-request-id"] == "front-desk-42"
    assert len(generated.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] not in ("bad id\twith spaces", "")


def test_the_request_id_reaches_the_audit_trail(sqlite_api: Api) -> None:
    sqlite_api.post(
        "/api/registrations", {"phone": new_phone(), "first_name": "Иван"}, headers={"X-Request-ID": "audit-trail-7"}
    )

    count = sqlite_api.scalar("SELECT count(*) FROM audit_events WHERE request_id = 'audit-trail-7'")

    assert count >= 5
