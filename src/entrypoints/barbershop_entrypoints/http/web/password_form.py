"""The change-password form of the manager's and the client's pages: one set of checks and answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from litestar import Request

from barbershop_core.errors import (
    InvalidCredentials,
    TemporaryPasswordExpired,
    TemporaryPasswordVoided,
    ValidationError,
)
from barbershop_entrypoints.http.auth import throttled
from barbershop_entrypoints.http.problems import TooManyAttempts
from barbershop_entrypoints.http.web.forms import read_form

CURRENT: Final = "current_password"
NEW: Final = "new_password"
REPEAT: Final = "repeat_password"
"""The form's field names (also the keys of its errors)."""

T = TypeVar("T")


async def submit_password_change(
    request: Request[Any, Any, Any], *, key: str, scope: str, change: Callable[[str, str], Awaitable[T]]
) -> tuple[T | None, dict[str, str]]:
    """Read the form, check it, throttle by ``key`` in ``scope``, and ``change(current, new)``.

    The changed subject and no errors, or None and the errors by field, in Russian.
    """
    form = await read_form(request)
    current, new, repeat = form.secret(CURRENT), form.secret(NEW), form.secret(REPEAT)
    errors: dict[str, str] = {}
    if not current:
        errors[CURRENT] = "Введите текущий пароль"
    if new != repeat:
        errors[REPEAT] = "Пароли не совпадают"
    if errors:
        return None, errors
    try:
        changed = await throttled(request, key, lambda: change(current, new), scope=scope)
    except TooManyAttempts as spent:
        errors[CURRENT] = spent.detail
    except (TemporaryPasswordExpired, TemporaryPasswordVoided) as unusable:
        errors[CURRENT] = unusable.message
    except InvalidCredentials:
        errors[CURRENT] = "Текущий пароль неверен"
    except ValidationError as error:
        errors[NEW] = error.message
    else:
        return changed, {}
    return None, errors
