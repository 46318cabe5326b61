"""The constraints a value may fail, found from msgspec's declared types, and their Russian messages.

One checker for every input the API validates with msgspec's rules: a JSON body's member at
the location msgspec reports (:mod:`~barbershop_entrypoints.http.bodies`) and a path, query
or header parameter Litestar refused (:mod:`~barbershop_entrypoints.http.parameter_errors`).
The declared type is ``msgspec.inspect``'s view of the ``Meta`` (or ``Parameter``) constraints;
the value is judged by msgspec's lax rules (``"42"`` is an integer) and in msgspec's order,
so the kind found is the one msgspec refused.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

import attrs
import msgspec
from msgspec import inspect as mi

T = TypeVar("T")


class Constraint(enum.StrEnum):
    """What a value failed: a declared constraint, or the type itself."""

    REQUIRED = "required"
    TYPE = "type"
    MIN_LENGTH = "min_length"
    MAX_LENGTH = "max_length"
    MIN_ITEMS = "min_items"
    MAX_ITEMS = "max_items"
    PATTERN = "pattern"
    GE = "ge"
    GT = "gt"
    LE = "le"
    LT = "lt"
    MULTIPLE_OF = "multiple_of"
    CHOICE = "choice"
    INVALID = "invalid"


MESSAGES: Final[Mapping[Constraint, str]] = {
    Constraint.REQUIRED: "Обязательное поле",
    Constraint.TYPE: "Ожидается {limit}",
    Constraint.MIN_LENGTH: "Не короче {limit} символов",
    Constraint.MAX_LENGTH: "Не длиннее {limit} символов",
    Constraint.MIN_ITEMS: "Не меньше {limit} элементов",
    Constraint.MAX_ITEMS: "Не больше {limit} элементов",
    Constraint.PATTERN: "Недопустимые символы",
    Constraint.GE: "Не меньше {limit}",
    Constraint.GT: "Больше {limit}",
    Constraint.LE: "Не больше {limit}",
    Constraint.LT: "Меньше {limit}",
    Constraint.MULTIPLE_OF: "Должно быть кратно {limit}",
    Constraint.CHOICE: "Недопустимое значение",
    Constraint.INVALID: "Недопустимое значение",
}
"""The Russian message of each constraint kind; ``{limit}`` is the declared bound or the expected type."""


@attrs.frozen
class Violation:
    """One failed constraint: its kind, its declared limit, and for ``required`` the missing member."""

    constraint: Constraint
    limit: object = None
    member: str | None = None

    @property
    def message(self) -> str:
        return MESSAGES[self.constraint].format(limit=self.limit)


_TYPE_NAMES: Final[Mapping[type[mi.Type], str]] = {
    mi.StrType: "строка",
    mi.IntType: "целое число",
    mi.FloatType: "число",
    mi.BoolType: "true или false",
    mi.NoneType: "null",
    mi.DictType: "объект",
    mi.StructType: "объект",
    mi.ListType: "массив",
    mi.SetType: "массив",
    mi.FrozenSetType: "массив",
    mi.VarTupleType: "массив",
}
_LITERAL_NAMES: Final[Mapping[type, str]] = {str: "строка", int: "целое число", bool: "true или false"}


def expected(declared: mi.Type) -> str:
    """The Russian name of what ``declared`` accepts: ``строка``, ``строка или null``…"""
    if isinstance(declared, mi.Metadata):
        return expected(declared.type)
    if isinstance(declared, mi.UnionType):
        return " или ".join(dict.fromkeys(expected(member) for member in declared.types))
    if isinstance(declared, mi.LiteralType):
        names = (_LITERAL_NAMES.get(type(value), "значение") for value in declared.values)
        return " или ".join(dict.fromkeys(names))
    return _TYPE_NAMES.get(type(declared), "значение")


def _lax(value: object, builtin: type[T]) -> T | None:
    """``value`` as ``builtin`` by msgspec's own lax rules (``"42"`` → 42), or None if it is not one."""
    try:
        return msgspec.convert(value, builtin, strict=False)
    except msgspec.ValidationError:
        return None


_Sized = mi.StrType | mi.DictType | mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType


def _length(size: int, declared: _Sized, short: Constraint, long: Constraint) -> Violation | None:
    if declared.min_length is not None and size < declared.min_length:
        return Violation(short, declared.min_length)
    if declared.max_length is not None and size > declared.max_length:
        return Violation(long, declared.max_length)
    return None


def _bounds(number: float, declared: mi.IntType | mi.FloatType) -> Violation | None:
    checks: tuple[tuple[Constraint, float | None, Callable[[float, float], bool]], ...] = (
        (Constraint.GE, declared.ge, operator.ge),
        (Constraint.GT, declared.gt, operator.gt),
        (Constraint.LE, declared.le, operator.le),
        (Constraint.LT, declared.lt, operator.lt),
        (Constraint.MULTIPLE_OF, declared.multiple_of, lambda value, step: value % step == 0),
    )
    for constraint, limit, holds in checks:
        if limit is not None and not holds(number, limit):
            return Violation(constraint, limit)
    return None


def violation(declared: mi.Type, value: object) -> Violation | None:  # noqa: PLR0911, PLR0912 -- one branch per kind of type
    """The first constraint of ``declared`` that ``value`` fails, in msgspec's order; None if it holds."""
    if isinstance(declared, mi.Metadata):
        return violation(declared.type, value)
    if isinstance(declared, mi.AnyType):
        return None
    if isinstance(declared, mi.UnionType):
        return _union_violation(declared, value)
    if isinstance(declared, mi.NoneType):
        return None if value is None else Violation(Constraint.TYPE, expected(declared))
    if isinstance(declared, mi.BoolType):
        return None if _lax(value, bool) is not None else Violation(Constraint.TYPE, expected(declared))
    if isinstance(declared, mi.IntType | mi.FloatType):
        number = _lax(value, int if isinstance(declared, mi.IntType) else float)
        if number is None:
            return Violation(Constraint.TYPE, expected(declared))
        return _bounds(number, declared)
    if isinstance(declared, mi.StrType):
        if not isinstance(value, str):
            return Violation(Constraint.TYPE, expected(declared))
        too_short_or_long = _length(len(value), declared, Constraint.MIN_LENGTH, Constraint.MAX_LENGTH)
        if too_short_or_long is not None:
            return too_short_or_long
        if declared.pattern is not None and re.search(declared.pattern, value) is None:
            return Violation(Constraint.PATTERN, declared.pattern)
        return None
    if isinstance(declared, mi.LiteralType):
        if value in declared.values:
            return None
        if not any(type(value) is type(choice) for choice in declared.values):
            return Violation(Constraint.TYPE, expected(declared))
        return Violation(Constraint.CHOICE, declared.values)
    if isinstance(declared, mi.DictType):
        if not isinstance(value, dict):
            return Violation(Constraint.TYPE, expected(declared))
        return _length(len(value), declared, Constraint.MIN_ITEMS, Constraint.MAX_ITEMS) or first_violation(
            [(declared.key_type, key) for key in value] + [(declared.value_type, item) for item in value.values()]
        )
    if isinstance(declared, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        if not isinstance(value, list):
            return Violation(Constraint.TYPE, expected(declared))
        return _length(len(value), declared, Constraint.MIN_ITEMS, Constraint.MAX_ITEMS) or first_violation(
            [(declared.item_type, item) for item in value]
        )
    if isinstance(declared, mi.StructType):
        return _struct_violation(declared, value)
    return Violation(Constraint.INVALID)


def first_violation(candidates: Sequence[tuple[mi.Type, object]]) -> Violation | None:
    """The violation of the first (type, value) pair that has one."""
    return next((found for declared, value in candidates if (found := violation(declared, value))), None)


def _union_violation(declared: mi.UnionType, value: object) -> Violation | None:
    failures = []
    for member in declared.types:
        found = violation(member, value)
        if found is None:
            return None
        failures.append(found)
    # A member of the value's own type explains best: a string too long for ``str | null``.
    return next(
        (found for found in failures if found.constraint is not Constraint.TYPE),
        Violation(Constraint.TYPE, expected(declared)),
    )


def _struct_violation(declared: mi.StructType, value: object) -> Violation | None:
    if not isinstance(value, dict):
        return Violation(Constraint.TYPE, expected(declared))
    # msgspec checks the members present first, in the body's order, then the missing ones.
    fields = {field.encode_name: field for field in declared.fields}
    present = [(fields[name].type, item) for name, item in value.items() if name in fields]
    if (found := first_violation(present)) is not None:
        return found
    missing = next(
        (field.encode_name for field in declared.fields if field.required and field.encode_name not in value), None
    )
    return None if missing is None else Violation(Constraint.REQUIRED, member=missing)
