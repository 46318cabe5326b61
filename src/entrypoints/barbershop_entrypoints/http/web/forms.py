"""Reading an HTML form: text fields as strings, checkboxes as booleans, nothing else."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Request
from litestar.datastructures import FormMultiDict


@attrs.frozen
class Form:
    fields: FormMultiDict

    def text(self, name: str) -> str:
        """The field's text ('' when absent or a file); the domain validates its meaning."""
        value = self.fields.get(name)
        return value.strip() if isinstance(value, str) else ""

    def secret(self, name: str) -> str:
        """A password exactly as typed (spaces are part of it)."""
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def checked(self, name: str) -> bool:
        """A checkbox: present (``on``) when ticked, absent otherwise."""
        return self.text(name).lower() in {"on", "true", "1", "yes"}


async def read_form(request: Request[Any, Any, Any]) -> Form:
    return Form(await request.form())
