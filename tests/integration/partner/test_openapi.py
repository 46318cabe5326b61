"""``/schema`` describes the partner operations exactly as the seed's contract shapes them."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tests.integration.partner.conftest import BULK, SINGLE, PartnerApi, participant


@pytest.fixture
def document(sqlite_partner: PartnerApi) -> dict[str, Any]:
    answer = sqlite_partner.api.client.get("/schema/openapi.json")
    assert answer.status_code == 200
    schema: dict[str, Any] = answer.json()
    return schema


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


def test_both_operations_are_documented_with_the_partner_key(document: dict[str, Any]) -> None:
    for path in (SINGLE, BULK):
        operation = document["paths"][path]["post"]
        assert operation["security"] == [{"PartnerApiKey": []}]
        assert operation["tags"] == ["partner"]
        header = next(p for p in operation["parameters"] if p["in"] == "header")
        assert header["name"] == "Idempotency-Key"
        assert header["required"] is False


def test_the_single_operation_answers_exactly_the_contracts_statuses(document: dict[str, Any]) -> None:
    responses = document["paths"][SINGLE]["post"]["responses"]

    assert set(responses) == {"200", "400", "401", "409", "422", "500"}
    ok = _resolve(document, responses["200"]["content"]["application/json"]["schema"])
    assert ok["properties"] == {"client_id": {"type": "integer"}}
    assert ok["required"] == ["client_id"]
    for status in ("400", "401", "409", "422", "500"):
        content = responses[status]["content"]
        assert list(content) == ["application/json"], status
        error = _resolve(document, content["application/json"]["schema"])
        assert error["properties"] == {"error": {"type": "string"}}, status
        assert error["required"] == ["error"]
        assert content["application/json"]["examples"], status


def test_the_400_examples_carry_the_real_messages(document: dict[str, Any]) -> None:
    examples = document["paths"][SINGLE]["post"]["responses"]["400"]["content"]["application/json"]["examples"]
    messages = {example["value"]["error"] for example in examples.values()}

    assert "Не указан номер телефона" in messages
    assert "Тело запроса не является корректным JSON" in messages
    assert "Некорректный email" in messages


def test_the_request_schema_holds_every_rule_of_the_contract(document: dict[str, Any]) -> None:
    body = document["paths"][SINGLE]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]

    assert schema["type"] == "object"
    assert schema["required"] == ["fio", "phone", "email", "purchases"]
    fields = schema["properties"]
    assert fields["fio"]["maxLength"] == fields["email"]["maxLength"] == 50
    assert fields["phone"]["pattern"] == r"^\+[1-9][0-9]{6,14}$"
    assert fields["email"]["format"] == "email"
    purchases = fields["purchases"]
    assert (purchases["minItems"], purchases["maxItems"]) == (1, 10)
    item = purchases["items"]
    assert item["required"] == ["name", "price"]
    assert item["properties"]["name"]["maxLength"] == 50
    price = item["properties"]["price"]
    assert price["type"] == "number"
    assert (price["exclusiveMinimum"], price["exclusiveMaximum"], price["multipleOf"]) == (0, 100_000_000, 0.01)


def test_the_bulk_operation_takes_up_to_1000_participants_and_answers_one_result_each(document: dict[str, Any]) -> None:
    operation = document["paths"][BULK]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    single = document["paths"][SINGLE]["post"]["requestBody"]["content"]["application/json"]["schema"]

    assert (schema["type"], schema["minItems"], schema["maxItems"]) == ("array", 1, 1000)
    assert schema["items"] == single
    assert set(operation["responses"]) == {"200", "400", "401", "500"}
    results = _resolve(document, operation["responses"]["200"]["content"]["application/json"]["schema"])
    validator = _validator(document, results)
    assert validator.is_valid({"results": [{"client_id": 1}, {"error": "Не указан email"}]})
    assert not validator.is_valid({"results": [{"client_id": "1"}]})


def test_every_partner_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for path in (SINGLE, BULK):
        operation = document["paths"][path]["post"]
        contents = [operation["requestBody"]["content"]]
        contents += [response["content"] for response in operation["responses"].values()]
        for content in contents:
            media = content["application/json"]
            validator = _validator(document, media["schema"])
            for example in media["examples"].values():
                errors = [error.message for error in validator.iter_errors(example["value"])]
                assert not errors, (path, example, errors)
                checked += 1
    assert checked >= 20


def test_a_valid_participant_matches_the_request_schema_and_a_bad_one_does_not(document: dict[str, Any]) -> None:
    schema = document["paths"][SINGLE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = _validator(document, schema)

    assert validator.is_valid(participant() | {"unknown": "ignored"})
    assert not validator.is_valid(participant(purchases=[]))
    assert not validator.is_valid(participant(phone="89111234567"))
    assert not validator.is_valid(participant(purchases=[{"name": "a", "price": 0}]))
