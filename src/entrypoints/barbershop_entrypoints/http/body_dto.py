"""The JSON API's bodies in Litestar: decoded by :func:`~.bodies.decode_body`, documented by msgspec.

:class:`JsonBody` is the ``dto`` of the JSON API's routers: Litestar hands it each ``data``
body as bytes, so a handler keeps its ``data: Annotated[SomeRequest, Body(...)]`` and Litestar
never validates the body itself (nor words an error about it). It only decodes; responses are
attrs classes Litestar encodes as before (the routers set ``return_dto=None``).

:class:`BodySchemaPlugin` writes each :class:`~.schemas.BodyStruct` into ``/schema`` from
msgspec's own JSON Schema of it (``msgspec.json.schema_components``): the ``Meta`` that
msgspec enforces is the schema, with nothing declared a second time. Litestar's built-in
Struct plugin reads ``Meta`` on a body's own fields only, not on a mapping's keys or values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping
from typing import Any, ClassVar, Final

import msgspec
from litestar.dto import AbstractDTO
from litestar.dto.data_structures import DTOFieldDefinition
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from barbershop_entrypoints.http.bodies import convert_body, decode_body
from barbershop_entrypoints.http.schemas import BodyStruct


class JsonBody(AbstractDTO[Any]):
    """Decodes the ``data`` of every handler of a router with msgspec, into the handler's declared type."""

    _body_types: ClassVar[dict[str, Any]] = {}
    """Handler id → the type its ``data`` declares (Litestar registers each handler once, at start-up)."""

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        if field_definition.name == "data":
            cls._body_types[handler_id] = field_definition.annotation

    def decode_bytes(self, value: bytes) -> Any:
        return decode_body(value, self._body_types[self.asgi_connection.route_handler.handler_id])

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        """Values Litestar decoded already (a form's): converted and explained the same way."""
        return convert_body(value, self._body_types[self.asgi_connection.route_handler.handler_id])

    @classmethod
    def is_supported_model_type_field(cls, field_definition: FieldDefinition) -> bool:
        return False  # responses are not this DTO's business

    @classmethod
    def create_openapi_schema(cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any) -> Any:
        return schema_creator.for_field_definition(field_definition)

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False


_ALIASES: Final = {field.metadata.get("alias", field.name): field.name for field in dataclasses.fields(Schema)}
_SUBSCHEMA: Final = frozenset({"additional_properties", "property_names", "items", "schema_not"})
_SUBSCHEMAS: Final = frozenset({"any_of", "one_of", "all_of", "prefix_items"})


def openapi_schema(node: Mapping[str, Any]) -> Schema | Reference:
    """One JSON Schema object of msgspec as Litestar's OpenAPI ``Schema`` (3.1 is JSON Schema 2020-12)."""
    if "$ref" in node:
        return Reference(ref=node["$ref"])
    fields: dict[str, Any] = {}
    for key, value in node.items():
        name = _ALIASES[key]  # a keyword Litestar cannot hold fails at start-up, in the tests
        if name == "type":
            fields[name] = OpenAPIType(value)
        elif name == "properties":
            fields[name] = {member: openapi_schema(schema) for member, schema in value.items()}
        elif name in _SUBSCHEMA and isinstance(value, Mapping):
            fields[name] = openapi_schema(value)
        elif name in _SUBSCHEMAS:
            fields[name] = [openapi_schema(schema) for schema in value]
        else:
            fields[name] = value
    return Schema(**fields)


class BodySchemaPlugin(OpenAPISchemaPlugin):
    """``/schema`` components of request bodies, from msgspec's JSON Schema of each."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.is_subclass_of(BodyStruct)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        body_type = field_definition.annotation
        _, components = msgspec.json.schema_components([body_type], ref_template="#/components/schemas/{name}")
        document = components[body_type.__name__]
        schema: Schema = schema_creator.create_component_schema(
            field_definition, required=sorted(document.get("required", ())), property_fields={}, title=document["title"]
        )
        schema.properties = {name: openapi_schema(node) for name, node in document["properties"].items()}
        schema.description = document.get("description")
        return schema
