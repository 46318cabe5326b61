"""Russian messages for the parameters Litestar refuses (path, query, header), from their declarations.

Litestar checks a handler's parameters itself and raises a ``ValidationException``: for a
value it names the parameter (``key``) and where it came from (``source``), next to
msgspec's English message; for a missing one it has only an English sentence. Neither
sentence is read here. The parameter's declaration (``Parameter(ge=…, max_length=…)`` on
the handler's signature) becomes msgspec's view of the type (``msgspec.inspect``), the raw
value is taken from the request, and :func:`~.constraints.violation` names the constraint
it fails — the same checker and the same Russian words as a JSON body's members. A missing
parameter is the first required one the request lacks.

Form bodies of the pages are Litestar's too; their field messages are never shown (a page
shows the problem's title and detail), so they get the generic one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.params import KwargDefinition, ParameterKwarg
from litestar.typing import FieldDefinition
from litestar.utils.typing import make_non_optional_union
from msgspec import inspect as mi

from barbershop_entrypoints.http.constraints import Constraint, Violation, violation

MISSING: Final = "Обязательный параметр"
_RESERVED: Final = frozenset({"data", "request", "state", "headers", "cookies", "query", "scope", "socket", "body"})
"""Names Litestar fills itself; never a parameter the client sends."""
_BOUNDS: Final = ("ge", "gt", "le", "lt", "multiple_of")
_LENGTHS: Final = ("min_length", "max_length")


@attrs.frozen
class Refused:
    """One refused parameter: its name as the API shows it, the Russian message, where it came from."""

    field: str
    message: str
    source: str


def _declared(parameter: FieldDefinition) -> mi.Type:
    """The parameter's type with its ``Parameter(...)`` constraints, as msgspec sees a ``Meta``."""
    optional = parameter.is_optional
    declared = mi.type_info(make_non_optional_union(parameter.annotation) if optional else parameter.annotation)
    kwarg = parameter.kwarg_definition
    if isinstance(kwarg, KwargDefinition):
        if isinstance(declared, mi.IntType | mi.FloatType):
            bounds = {name: value for name in _BOUNDS if (value := getattr(kwarg, name)) is not None}
            declared = msgspec.structs.replace(declared, **bounds)
        elif isinstance(declared, mi.StrType):
            lengths = {name: value for name in _LENGTHS if (value := getattr(kwarg, name)) is not None}
            pattern = {"pattern": kwarg.pattern} if kwarg.pattern is not None else {}
            declared = msgspec.structs.replace(declared, **lengths, **pattern)
    return mi.UnionType((declared, mi.NoneType())) if optional else declared


def _where(name: str, parameter: FieldDefinition, request: Request[Any, Any, Any]) -> tuple[str, str]:
    """Where the client sends ``name`` (``path``, ``query``, ``header``, ``cookie``) and under which name."""
    if name in request.path_params:
        return "path", name
    kwarg = parameter.kwarg_definition
    if isinstance(kwarg, ParameterKwarg):
        return str(kwarg.param_type.value), kwarg.name or name
    return "query", name


def _raw(source: str, alias: str, request: Request[Any, Any, Any]) -> object:
    if source == "path":
        return request.path_params.get(alias)
    if source == "header":
        return request.headers.get(alias)
    if source == "cookie":
        return request.cookies.get(alias)
    return request.query_params.get(alias)


def _missing(parameters: Mapping[str, FieldDefinition], request: Request[Any, Any, Any]) -> list[Refused]:
    dependencies = set(request.route_handler.resolve_dependencies())
    for name, parameter in parameters.items():
        if name in _RESERVED or name in dependencies or parameter.has_default or parameter.is_optional:
            continue
        source, alias = _where(name, parameter, request)
        if source != "path" and _raw(source, alias, request) is None:
            return [Refused(alias, MISSING, source)]
    return []


def refused_parameters(exc: ValidationException, request: Request[Any, Any, Any] | None) -> list[Refused]:
    """Each parameter ``exc`` refused, with the Russian message of the constraint its value fails."""
    parameters = dict(request.route_handler.parsed_fn_signature.parameters) if request is not None else {}
    items = [item for item in exc.extra if isinstance(item, Mapping)] if isinstance(exc.extra, list) else []
    if not items:
        return _missing(parameters, request) if request is not None else []
    refused = []
    for item in items:
        key = str(item.get("key", ""))
        raw_source = item.get("source", "body")
        source = str(getattr(raw_source, "value", raw_source))  # Litestar gives a ParamType for parameters
        found: Violation | None = None
        if request is not None and (parameter := parameters.get(key)) is not None and key not in _RESERVED:
            value = _raw(source, _where(key, parameter, request)[1], request)
            found = violation(_declared(parameter), value)
        message = (found or Violation(Constraint.INVALID)).message
        refused.append(Refused(key if key not in ("", "data") else "body", message, source))
    return refused
