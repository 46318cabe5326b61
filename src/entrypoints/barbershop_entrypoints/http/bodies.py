"""JSON request bodies decoded by msgspec, with Russian field messages from the declared constraints.

Why this shape. msgspec's ``ValidationError`` carries nothing but an English sentence
(structured error data is still only asked for: msgspec issues #264 and #1158), which
ends in the location of the first failure: ``- at `$.first_name```, ``- at `$.consents[...]```
(a mapping's value), ``- at `key` in `$.channel_accounts``` (a mapping's key); a failure of
the whole body has no location. So the work is split:

- msgspec alone decides *whether* a body is valid and *where* it first fails. It decodes
  with Litestar's lax rules (``strict=False``: ``"42"`` is an id, ``1`` is ``true``), so
  what a body may hold is exactly what it was.
- *Why* it fails is read from the declared type at that location, never from the prose:
  ``msgspec.inspect.type_info`` of the body type yields the same ``Meta`` constraints
  msgspec enforced, and the value found at the location is checked against them in
  msgspec's order (the type, the lengths, the pattern; the bounds of a number), giving
  one :class:`Violation` of one :class:`Constraint`, which :data:`MESSAGES` words in Russian.

The body is decoded to plain JSON values first and converted second (as Litestar did): so
malformed JSON is a 400 before any field is judged, and the value at the location is at
hand. Checking every field ourselves instead, without msgspec's verdict, was the other way;
it was not taken because two validators can disagree — here a checker that misses a case
only words the message less precisely, it cannot let a body through.

Only the location suffix of msgspec's message is parsed; its grammar is the one thing the
mapping depends on, so msgspec's version is pinned in ``pyproject.toml`` and the tests
exercise every form of it. When a location cannot be followed, or nothing declared there
fails, the field still gets ``Недопустимое значение`` — a 422, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final, TypeVar

import attrs
import msgspec
from msgspec import inspect as mi

from barbershop_entrypoints.http.constraints import MESSAGES, Constraint, Violation, first_violation
from barbershop_entrypoints.http.problems import FieldError, malformed_json, validation_problem

T = TypeVar("T")


# --- where msgspec says the body failed -----------------------------------------------------

_LOCATION: Final = re.compile(r" - at (?P<key>`key` in )?`(?P<path>\$[^`]*)`$")
"""msgspec's location suffix; the only part of its message that is read."""
_SEGMENT: Final = re.compile(r"\.(?P<name>[^.\[]+)|\[(?P<index>\d+)\]|\[\.\.\.\]")


@attrs.frozen
class Location:
    """Where msgspec's first failure lies: a JSONPath-like ``path``, and whether it is a mapping's key."""

    path: str = "$"
    key: bool = False

    @classmethod
    def of(cls, error: msgspec.ValidationError) -> Location:
        match = _LOCATION.search(str(error))
        return cls() if match is None else cls(match["path"], key=match["key"] is not None)

    @property
    def field(self) -> str:
        """The field as the API names it: ``first_name``, ``consents[...]``; ``body`` for the whole body."""
        return self.path[2:] if self.path.startswith("$.") else "body"


def _members(declared: mi.Type) -> Iterator[mi.Type]:
    """``declared`` itself, or each member of a union (through ``Meta`` wrappers)."""
    if isinstance(declared, mi.Metadata):
        yield from _members(declared.type)
    elif isinstance(declared, mi.UnionType):
        for member in declared.types:
            yield from _members(member)
    else:
        yield declared


def _step(declared: mi.Type, value: object, segment: re.Match[str]) -> list[tuple[mi.Type, object]]:
    """The (type, value) pairs one path segment leads to; ``[...]`` is any value of a mapping."""
    name, index = segment["name"], segment["index"]
    steps: list[tuple[mi.Type, object]] = []
    for member in _members(declared):
        if isinstance(member, mi.StructType) and isinstance(value, dict) and name in value:
            steps += [(field.type, value[name]) for field in member.fields if field.encode_name == name]
        elif isinstance(member, mi.ListType | mi.VarTupleType) and isinstance(value, list) and index is not None:
            steps += [(member.item_type, value[int(index)])] if int(index) < len(value) else []
        elif isinstance(member, mi.DictType) and isinstance(value, dict) and segment[0] == "[...]":
            steps += [(member.value_type, item) for item in value.values()]
    return steps


def explain(body_type: Any, value: object, location: Location) -> FieldError:
    """The Russian field error of ``value`` failing ``body_type`` at ``location``."""
    candidates: list[tuple[mi.Type, object]] = [(mi.type_info(body_type), value)]
    for segment in _SEGMENT.finditer(location.path[1:]):
        candidates = [step for declared, found in candidates for step in _step(declared, found, segment)]
    if location.key:
        candidates = [
            (member.key_type, key)
            for declared, found in candidates
            for member in _members(declared)
            if isinstance(member, mi.DictType) and isinstance(found, dict)
            for key in found
        ]
    found = first_violation(candidates) or Violation(Constraint.INVALID)
    field = location.field
    if found.member is not None:
        field = found.member if field == "body" else f"{field}.{found.member}"
    return FieldError(field=field, message=found.message)


def decode_body(raw: bytes, body_type: type[T] | Any) -> T:
    """``raw`` JSON as ``body_type``; a 400 problem if it is not JSON, a 422 with the field if it does not fit."""
    if not raw:
        raise validation_problem([FieldError(field="body", message=MESSAGES[Constraint.INVALID])])
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as error:
        raise malformed_json() from error
    decoded: T = convert_body(value, body_type)
    return decoded


def convert_body(value: object, body_type: type[T] | Any) -> T:
    """Plain decoded values as ``body_type`` (lax, as Litestar converts); a 422 with the field if they do not fit."""
    try:
        converted: T = msgspec.convert(value, body_type, strict=False)
    except msgspec.ValidationError as error:
        raise validation_problem([explain(body_type, value, Location.of(error))]) from error
    return converted
