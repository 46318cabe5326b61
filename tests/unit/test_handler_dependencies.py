"""Route handlers depend on what they use: a bundle or a part of the settings, not the whole."""

from __future__ import annotations

import inspect

from litestar.utils.sync import AsyncCallable

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


def test_no_guard_or_dependency_of_a_route_hops_to_a_worker_thread() -> None:
    """Litestar runs a plain-function guard, or a plain-function dependency marked
    ``sync_to_thread``, in a worker thread: a thread hop on every request for a check of
    microseconds, competing with the password hashes for the CPUs."""
    app = create_app(Settings(security=SecurityConfig(secret_key="unit-tests-never-sign-anything-real")))
    handlers = {handler for route in app.routes for handler in getattr(route, "route_handlers", [])}

    threaded_guards = {
        f"{handler.handler_name}: {guard.func.__qualname__}"
        for handler in handlers
        for guard in handler.resolve_guards()
        if isinstance(guard, AsyncCallable)
    }
    threaded_dependencies = {
        f"{handler.handler_name}: {name}"
        for handler in handlers
        for name, provider in handler.resolve_dependencies().items()
        if provider.sync_to_thread
    }

    assert threaded_guards == set()
    assert threaded_dependencies == set()


RESERVED = frozenset({"state", "request", "scope", "headers", "cookies", "query"})
"""Litestar's own arguments: reading them starts no dependency of its own."""


def test_no_dependency_of_a_route_waits_on_another_dependency() -> None:
    """Litestar resolves the dependencies of one level together in an anyio task group
    (litestar-org/litestar#4563): a provider taking another dependency puts a second group
    on every request that uses it, ~60–70 µs of the loop each (``docs/performance.md``)."""
    app = create_app(Settings(security=SecurityConfig(secret_key="unit-tests-never-sign-anything-real")))
    handlers = {handler for route in app.routes for handler in getattr(route, "route_handlers", [])}

    nested = {
        f"{handler.handler_name}: {name}({argument})"
        for handler in handlers
        for name, provider in handler.resolve_dependencies().items()
        for argument in inspect.signature(provider.dependency).parameters
        if argument not in RESERVED
    }

    assert nested == set()


def test_a_registration_resolves_no_dependency() -> None:
    """``POST /api/registrations``, UC04's hot path, reads its context and bundle itself."""
    app = create_app(Settings(security=SecurityConfig(secret_key="unit-tests-never-sign-anything-real")))
    (register,) = (
        handler
        for route in app.routes
        if route.path == "/api/registrations"
        for handler in getattr(route, "route_handlers", [])
        if "POST" in handler.http_methods
    )

    used = set(inspect.signature(register.fn).parameters) & set(register.resolve_dependencies())

    assert used == set()
