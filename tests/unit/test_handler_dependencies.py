"""Route handlers depend on what they use: a bundle or a part of the settings, not the whole."""

from __future__ import annotations

import inspect

from barbershop_entrypoints.http.app import create_app
from barbershop_entrypoints.settings import SecurityConfig, Settings

WHOLE = ("Settings", "Container")
READINESS = "ready"
"""``/health/ready`` checks every part (database, migrations, each channel), so it takes the container."""


def test_no_handler_but_readiness_takes_the_whole_settings_or_container() -> None:
    app = create_app(Settings(security=SecurityConfig(secret_key="unit-tests-never-sign-anything-real")))
    handlers = {handler for route in app.routes for handler in getattr(route, "route_handlers", [])}
    assert len(handlers) > 40

    takes_whole = {
        f"{handler.fn.__module__}.{handler.fn.__name__}({name})"
        for handler in handlers
        for name, parameter in inspect.signature(handler.fn).parameters.items()
        if any(str(parameter.annotation).endswith(f"[{whole}]") for whole in WHOLE) and handler.fn.__name__ != READINESS
    }

    assert takes_whole == set()
