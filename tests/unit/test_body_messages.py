"""Request bodies: the Russian message of every kind of constraint, derived from the declared ``Meta``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pytest
from msgspec import Meta

from barbershop_entrypoints.http.bodies import Location, convert_body, decode_body, explain
from barbershop_entrypoints.http.constraints import MESSAGES, Constraint
from barbershop_entrypoints.http.problems import ApiProblem, FieldError

Short = Annotated[str, Meta(min_length=2, max_length=4, pattern=r"^[a-z]*$")]
Count = Annotated[int, Meta(ge=1, le=10)]
Open = Annotated[int, Meta(gt=0, lt=10, multiple_of=2)]
Ratio = Annotated[float, Meta(ge=0.5)]
Tags = Annotated[list[str], Meta(min_length=1, max_length=2)]
Labels = Annotated[dict[Short, Short], Meta(max_length=1)]


class Sample(msgspec.Struct, kw_only=True):
    name: Short
    count: Count = 1
    even: Open = 2
    ratio: Ratio = 1.0
    flag: bool = False
    note: Short | None = None
    status: Literal["delivered", "failed"] = "delivered"
    tags: Tags = msgspec.field(default_factory=lambda: ["a"])
    labels: Labels = msgspec.field(default_factory=dict)


def _error(body: object, body_type: Any = Sample) -> FieldError:
    with pytest.raises(ApiProblem) as caught:
        decode_body(msgspec.json.encode(body), body_type)
    problem = caught.value
    assert (problem.status, problem.code) == (422, "validation_error")
    [error] = problem.extensions["errors"]
    assert isinstance(error, FieldError)
    return error


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param({}, "name", "Обязательное поле", id="required"),
        pytest.param([], "body", "Ожидается объект", id="type-body"),
        pytest.param({"name": 5}, "name", "Ожидается строка", id="type-str"),
        pytest.param({"name": "ab", "count": "many"}, "count", "Ожидается целое число", id="type-int"),
        pytest.param({"name": "ab", "ratio": "x"}, "ratio", "Ожидается число", id="type-float"),
        pytest.param({"name": "ab", "flag": [1]}, "flag", "Ожидается true или false", id="type-bool"),
        pytest.param({"name": "ab", "note": 5}, "note", "Ожидается строка или null", id="type-optional"),
        pytest.param({"name": "ab", "tags": {}}, "tags", "Ожидается массив", id="type-list"),
        pytest.param({"name": "ab", "labels": []}, "labels", "Ожидается объект", id="type-dict"),
        pytest.param({"name": "a"}, "name", "Не короче 2 символов", id="min_length"),
        pytest.param({"name": "abcde"}, "name", "Не длиннее 4 символов", id="max_length"),
        pytest.param({"name": "ab1"}, "name", "Недопустимые символы", id="pattern"),
        pytest.param({"name": "ab", "note": "a"}, "note", "Не короче 2 символов", id="optional-min_length"),
        pytest.param({"name": "ab", "count": 0}, "count", "Не меньше 1", id="ge"),
        pytest.param({"name": "ab", "count": "11"}, "count", "Не больше 10", id="le-of-lax-text"),
        pytest.param({"name": "ab", "even": 0}, "even", "Больше 0", id="gt"),
        pytest.param({"name": "ab", "even": 10}, "even", "Меньше 10", id="lt"),
        pytest.param({"name": "ab", "even": 3}, "even", "Должно быть кратно 2", id="multiple_of"),
        pytest.param({"name": "ab", "ratio": 0.25}, "ratio", "Не меньше 0.5", id="ge-float"),
        pytest.param({"name": "ab", "status": "read"}, "status", "Недопустимое значение", id="choice"),
        pytest.param({"name": "ab", "status": 1}, "status", "Ожидается строка", id="type-literal"),
        pytest.param({"name": "ab", "tags": []}, "tags", "Не меньше 1 элементов", id="min_items"),
        pytest.param({"name": "ab", "tags": ["a", "b", "c"]}, "tags", "Не больше 2 элементов", id="max_items"),
        pytest.param({"name": "ab", "tags": ["a", 1]}, "tags[1]", "Ожидается строка", id="list-item"),
        pytest.param({"name": "ab", "labels": {"ab": "a"}}, "labels[...]", "Не короче 2 символов", id="dict-value"),
        pytest.param({"name": "ab", "labels": {"a": "ab"}}, "labels", "Не короче 2 символов", id="dict-key"),
        pytest.param({"name": "ab", "labels": {"ab": "ab", "cd": "cd"}}, "labels", "Не больше 1 элементов", id="dict"),
    ],
)
def test_each_kind_of_constraint_has_its_russian_message_at_the_field(body: object, field: str, message: str) -> None:
    assert _error(body) == FieldError(field=field, message=message)


def test_every_constraint_kind_has_a_message() -> None:
    assert set(MESSAGES) == set(Constraint)


def test_the_value_is_checked_the_lax_way_msgspec_decodes() -> None:
    decoded = decode_body(b'{"name": "ab", "count": "7", "flag": 1, "ratio": 1}', Sample)

    assert (decoded.count, decoded.flag, decoded.ratio) == (7, True, 1.0)


def test_the_members_present_are_reported_before_the_missing_ones() -> None:
    assert _error({"count": 0}) == FieldError(field="count", message="Не меньше 1")


def test_a_body_that_is_a_mapping_reports_its_values_as_the_body() -> None:
    assert _error({"marketing": "yes"}, dict[str, bool]) == FieldError(field="body", message="Ожидается true или false")


@pytest.mark.parametrize("raw", [b'{"name": "ab', b'{"name": "\xff"}', b"[1, 2,]"], ids=["truncated", "utf8", "comma"])
def test_a_body_that_is_not_json_is_400_malformed_json(raw: bytes) -> None:
    with pytest.raises(ApiProblem) as caught:
        decode_body(raw, Sample)

    assert (caught.value.status, caught.value.code) == (400, "malformed_json")


def test_an_empty_body_is_an_invalid_body() -> None:
    with pytest.raises(ApiProblem) as caught:
        decode_body(b"", Sample)

    assert caught.value.extensions["errors"] == [FieldError(field="body", message="Недопустимое значение")]


def test_a_location_that_leads_nowhere_still_names_the_field_with_a_generic_message() -> None:
    assert explain(Sample, {"name": "ab"}, Location("$.elsewhere")) == FieldError(
        field="elsewhere", message="Недопустимое значение"
    )


def test_values_decoded_already_are_converted_and_explained_the_same_way() -> None:
    assert convert_body({"name": "ab", "count": "3"}, Sample).count == 3
    with pytest.raises(ApiProblem) as caught:
        convert_body({"name": "a"}, Sample)

    assert caught.value.extensions["errors"] == [FieldError(field="name", message="Не короче 2 символов")]
