"""The request id: taken from ``X-Request-ID`` when it is sane, generated otherwise, echoed back.

It ties the response, the log lines and the audit events of one request together.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from barbershop_entrypoints.logging_setup import REQUEST_ID

HEADER: Final = "X-Request-ID"
_STATE_KEY: Final = "barbershop.request_id"
# A caller's id is echoed and logged, so it must not carry anything but a short token.
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def request_id_of(scope: Scope) -> str:
    """The id of this request; the first call decides it and the scope keeps it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    existing = state.get(_STATE_KEY)
    if isinstance(existing, str):
        return existing
    request_id = _from_headers(scope) or uuid.uuid4().hex
    state[_STATE_KEY] = request_id
    return request_id


def _from_headers(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _SANE.match(text) else None
    return None


def request_id_in_logs(app: ASGIApp) -> ASGIApp:
    """Middleware: the log lines written while a request is served carry its id (JSON logs)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = REQUEST_ID.set(request_id_of(scope))
        try:
            await app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    return middleware


async def echo_request_id(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every response, errors and unknown routes included, carries the id."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[HEADER] = request_id_of(scope)
