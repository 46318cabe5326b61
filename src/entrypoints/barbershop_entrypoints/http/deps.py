"""Dependencies the controllers take: the container's bundles, the manager, the request context.

Everything comes from the one composition root (:mod:`barbershop_entrypoints.bootstrap`), which the
app's lifespan puts on ``app.state``; nothing here builds an adapter.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from barbershop_core.context import Context
from barbershop_core.model import Actor, Manager
from barbershop_core.use_cases.notifications import DeliveryDeps, NotificationDeps
from barbershop_core.use_cases.promo import PromoDeps
from barbershop_core.use_cases.registration import RegistrationDeps
from barbershop_entrypoints.bootstrap import Container
from barbershop_entrypoints.http.request_id import request_id_of

CONTAINER: Final = "container"
MANAGER: Final = "barbershop_manager"
"""Where :func:`barbershop_entrypoints.http.auth.require_manager` leaves the authenticated manager."""


def container_of(state: State) -> Container:
    container = state.get(CONTAINER)
    if not isinstance(container, Container):
        raise RuntimeError("the app's lifespan has not built the container")  # noqa: TRY004 -- a wiring bug, not input
    return container


def provide_container(state: State) -> Container:
    return container_of(state)


def provide_registration(container: NamedDependency[Container]) -> RegistrationDeps:
    return container.registration()


def provide_notifications(container: NamedDependency[Container]) -> NotificationDeps:
    return container.notifications()


def provide_delivery(container: NamedDependency[Container]) -> DeliveryDeps:
    return container.delivery()


def provide_promo(container: NamedDependency[Container]) -> PromoDeps:
    return container.promo()


def provide_manager(request: Request[Any, Any, Any]) -> Manager:
    manager = request.state.get(MANAGER)
    if not isinstance(manager, Manager):
        raise RuntimeError("route needs the require_manager guard")  # noqa: TRY004 -- a wiring bug, not input
    return manager


def provide_context(request: Request[Any, Any, Any], manager: NamedDependency[Manager]) -> Context:
    """Who asks (the logged-in manager) and the request id, for the use cases' audit."""
    return Context(Actor.manager(manager.id), request_id_of(request.scope))


def provide_request_id(request: Request[Any, Any, Any]) -> str:
    return request_id_of(request.scope)


DEPENDENCIES: Final = {
    "container": Provide(provide_container, sync_to_thread=False),
    "registration": Provide(provide_registration, sync_to_thread=False),
    "notification_deps": Provide(provide_notifications, sync_to_thread=False),
    "delivery": Provide(provide_delivery, sync_to_thread=False),
    "promo": Provide(provide_promo, sync_to_thread=False),
    "manager": Provide(provide_manager, sync_to_thread=False),
    "context": Provide(provide_context, sync_to_thread=False),
    "request_id": Provide(provide_request_id, sync_to_thread=False),
}
