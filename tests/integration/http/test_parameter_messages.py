"""A refused path, query or header parameter is named with the Russian message of the constraint it fails."""

from __future__ import annotations

from tests.integration.http.conftest import Api, assert_problem

WHATSAPP = "/api/webhooks/whatsapp?hub.verify_token=a&hub.challenge=b"

REFUSED = [
    ("/api/persons", "phone", "Обязательный параметр", "query"),
    (WHATSAPP, "hub.mode", "Обязательный параметр", "query"),
    ("/api/persons?phone=", "phone", "Не короче 1 символов", "query"),
    ("/api/persons?phone=" + "9" * 40, "phone", "Не длиннее 32 символов", "query"),
    (WHATSAPP + "&hub.mode=" + "x" * 40, "mode", "Не длиннее 32 символов", "query"),
    (f"/api/clients/{2**40}", "client_id", "Не больше 2147483647", "path"),
    ("/api/notifications/0", "notification_id", "Не меньше 1", "path"),
    ("/api/notifications/alerts?limit=501", "limit", "Не больше 500", "query"),
    ("/api/notifications/alerts?limit=1.5", "limit", "Ожидается целое число", "query"),
    ("/api/audit?before_id=abc", "before_id", "Ожидается целое число или null", "query"),
    ("/api/audit?client_id=0", "client_id", "Не меньше 1", "query"),
    ("/api/audit?since=yesterday", "since", "Недопустимое значение", "query"),
]


def test_each_refused_parameter_is_named_with_the_constraint_it_fails(sqlite_api: Api) -> None:
    for path, field, message, source in REFUSED:
        problem = assert_problem(sqlite_api.get(path), 422, "validation_error")

        assert problem["errors"] == [{"field": field, "message": message, "source": source}], path
