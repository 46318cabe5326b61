"""``POST /api/register-clients`` with ``application/x-ndjson``: a stream in, results line by line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from barbershop_entrypoints.http import partner_ndjson
from tests.integration.http.conftest import new_phone
from tests.integration.partner.conftest import BULK, PartnerApi, participant


def stream(partner: PartnerApi, lines: list[bytes], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    answer = partner.api.client.post(
        BULK,
        content=b"".join(line + b"\n" for line in lines),
        headers=partner.headers | {"Content-Type": "application/x-ndjson"} | (headers or {}),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in answer.text.splitlines()]


def line(**fields: Any) -> bytes:
    return json.dumps(participant(**fields), ensure_ascii=False).encode()


def test_each_line_gets_its_result_line_in_order_and_a_bad_line_sinks_nothing(partner: PartnerApi) -> None:
    phone = new_phone()

    results = stream(
        partner,
        [line(phone=phone), b"{not json", b"", line(phone="89111234567"), line(phone=phone, fio="Петров Пётр")],
    )

    assert [list(result) for result in results] == [["client_id"], ["error"], ["error"], ["client_id"]]
    assert results[1] == {"error": "Тело запроса не является корректным JSON"}
    assert results[2] == {"error": "Номер телефона должен быть в формате E.164, например +79111234567"}
    assert results[0]["client_id"] == results[3]["client_id"]
    assert partner.api.rows("purchases") == 4


def test_a_stream_longer_than_a_batch_keeps_its_order_and_one_phone_is_one_client(
    sqlite_partner: PartnerApi,
) -> None:
    phone = new_phone()
    lines = [line(purchases=[{"name": "Товар", "price": index + 1}]) for index in range(2100)]
    lines[5] = line(phone=phone, purchases=[{"name": "Товар", "price": 1}])
    lines[2050] = line(phone=phone, purchases=[{"name": "Другой", "price": 2}])

    results = stream(sqlite_partner, lines)

    assert len(results) == 2100
    assert results[5]["client_id"] == results[2050]["client_id"]
    assert len({result["client_id"] for result in results}) == 2099
    assert sqlite_partner.api.rows("purchases") == 2100


def test_a_retried_stream_with_its_key_replays_and_adds_nothing(partner: PartnerApi) -> None:
    lines = [line(), line(), b"[]"]
    first = stream(partner, lines, {"Idempotency-Key": "day-1"})

    again = stream(partner, lines, {"Idempotency-Key": "day-1"})

    assert again == first
    assert partner.api.rows("purchases") == 4


def test_a_line_longer_than_a_participant_may_be_is_refused_alone(sqlite_partner: PartnerApi) -> None:
    results = stream(sqlite_partner, [line(), b'{"fio": "' + b"x" * (70 * 1024) + b'"}', line()])

    assert results[1] == {"error": "Строка длиннее 64 КиБ"}
    assert [list(result) for result in results] == [["client_id"], ["error"], ["client_id"]]


def test_lines_past_the_bound_are_not_processed_and_the_stream_says_so(
    sqlite_partner: PartnerApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partner_ndjson, "MAX_LINES", 2)

    results = stream(sqlite_partner, [line(), line(), line()])

    assert [list(result) for result in results] == [["client_id"], ["client_id"], ["error"]]
    assert results[2] == {"error": partner_ndjson.TOO_MANY_LINES}
    assert sqlite_partner.api.rows("purchases") == 4


def test_a_key_too_long_for_a_stream_is_400_before_anything_is_read(sqlite_partner: PartnerApi) -> None:
    answer = sqlite_partner.api.client.post(
        BULK,
        content=line() + b"\n",
        headers=sqlite_partner.headers | {"Content-Type": "application/x-ndjson", "Idempotency-Key": "k" * 250},
    )

    assert answer.status_code == 400
    assert answer.json() == {"error": "Некорректный заголовок Idempotency-Key"}
    assert sqlite_partner.api.rows("clients") == 0
