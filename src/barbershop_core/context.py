"""Who asks: the request context every use case that audits takes in its command."""

from __future__ import annotations

import attrs

from barbershop_core.model import Actor


@attrs.frozen
class Context:
    """Who asks, and the request id that ties log lines and audit events together."""

    actor: Actor
    request_id: str | None = None
