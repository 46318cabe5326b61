"""Every constraint a request body declares (msgspec ``Meta``) is in ``/schema``, where a client can read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from msgspec import inspect as mi

from barbershop_entrypoints.http.app import create_app
from barbershop_entrypoints.http.schemas import BodyStruct
from barbershop_entrypoints.settings import Settings

Expectation = tuple[str, str, Any]
"""Where in a property's schema (a path of keywords), the keyword, and its value."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    return create_app(Settings(data_dir=Path(tmp_path_factory.mktemp("schema"))))


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    return app.openapi_schema.to_schema()


def _bodies(app: Litestar, *, documented: bool = False) -> dict[str, Any]:
    """``METHOD path`` → the type its ``data`` body declares, for every route (in ``/schema``) that takes one."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if documented and not handler.resolve_include_in_schema():
                continue
            if handler.parsed_data_field is not None:
                for method in handler.http_methods:
                    found[f"{method} {route.path}"] = handler.parsed_data_field.annotation
    return found


def _constraints(declared: mi.Type, where: str = "") -> Iterator[Expectation]:
    """Every constraint of ``declared`` as the JSON Schema keyword that must show it."""
    if isinstance(declared, mi.Metadata):
        yield from _constraints(declared.type, where)
    elif isinstance(declared, mi.UnionType):
        [member] = [m for m in declared.types if not isinstance(m, mi.NoneType)]
        yield from _constraints(member, where + "/|")
    elif isinstance(declared, mi.StrType):
        yield (where, "type", "string") if not where.endswith("propertyNames") else (where, "minLength", None)
        for attribute, keyword in (("min_length", "minLength"), ("max_length", "maxLength"), ("pattern", "pattern")):
            if (value := getattr(declared, attribute)) is not None:
                yield where, keyword, value
    elif isinstance(declared, mi.IntType):
        yield where, "type", "integer"
        for attribute, keyword in (
            ("ge", "minimum"),
            ("le", "maximum"),
            ("gt", "exclusiveMinimum"),
            ("lt", "exclusiveMaximum"),
        ):
            if (value := getattr(declared, attribute)) is not None:
                yield where, keyword, value
    elif isinstance(declared, mi.BoolType):
        yield where, "type", "boolean"
    elif isinstance(declared, mi.LiteralType):
        yield where, "enum", list(declared.values)
    elif isinstance(declared, mi.DictType):
        yield where, "type", "object"
        yield from _constraints(declared.key_type, where + "/propertyNames")
        yield from _constraints(declared.value_type, where + "/additionalProperties")
    else:
        raise TypeError(f"a body declares {declared!r}: teach this test its keywords")


def _at(schema: dict[str, Any], where: str) -> dict[str, Any]:
    for step in filter(None, where.split("/")):
        if step == "|":
            [schema] = [m for m in schema.get("anyOf", schema.get("oneOf", [])) if m.get("type") != "null"]
        else:
            schema = schema[step]
    return schema


def test_every_body_of_the_json_api_is_a_struct_or_a_mapping(app: Litestar) -> None:
    bodies = _bodies(app)

    assert "POST /api/registrations" in bodies
    assert all((isinstance(t, type) and issubclass(t, BodyStruct)) or t == dict[str, bool] for t in bodies.values()), (
        bodies
    )


def test_every_declared_constraint_of_every_body_is_in_the_schema(app: Litestar, document: dict[str, Any]) -> None:
    checked = 0
    structs = {t for t in _bodies(app, documented=True).values() if isinstance(t, type) and issubclass(t, BodyStruct)}
    for body in sorted(structs, key=lambda t: t.__name__):
        component = document["components"]["schemas"][body.__name__]
        info = mi.type_info(body)
        assert isinstance(info, mi.StructType)
        assert sorted(component.get("required", [])) == sorted(f.encode_name for f in info.fields if f.required), body
        for field in info.fields:
            for where, keyword, value in _constraints(field.type):
                if value is None:  # a mapping's key: a string by JSON's own rules
                    continue
                shown = _at(component["properties"][field.encode_name], where)
                assert shown.get(keyword) == value, (body.__name__, field.name, where, keyword, shown)
                checked += 1
    assert checked > 60


def test_the_consents_body_shows_its_boolean_values(app: Litestar, document: dict[str, Any]) -> None:
    schema = document["paths"]["/api/client/me/consents"]["put"]["requestBody"]["content"]["application/json"]
    declared = _bodies(app)["PUT /api/client/me/consents"]

    assert declared == dict[str, bool]
    assert schema["schema"]["additionalProperties"] == {"type": "boolean"}


def test_a_schema_keyword_msgspec_writes_reaches_the_document_unchanged(document: dict[str, Any]) -> None:
    accounts = document["components"]["schemas"]["RegistrationRequest"]["properties"]["channel_accounts"]
    expected = msgspec.json.schema_components([dict[str, str]])[0][0]

    assert accounts["type"] == expected["type"] == "object"
    assert accounts["propertyNames"]["maxLength"] == 64
